// Model directories: a versioned JSON configuration plus safetensors weights.

import FileFormats
import Foundation
import NumericCore

/// Everything needed to use a trained model: networks, standardization, constraint transform, the estimator's
/// own settings (opaque here) and optionally the EMA weights.
public struct SavedModel: @unchecked Sendable {
  public var model: TrainableModel
  public var parameterStandardizer: Standardizer?
  public var conditionStandardizer: Standardizer?
  public var transform: ConstraintTransform
  /// Settings of the estimator that owns the network (schedule, parameterization, …), written by that module.
  public var estimatorSettings: JSONValue
  /// EMA weights, one array per buffer of `model.buffers`.
  public var emaWeights: [[Float]]?

  public init(
    model: TrainableModel, parameterStandardizer: Standardizer? = nil, conditionStandardizer: Standardizer? = nil,
    transform: ConstraintTransform? = nil, estimatorSettings: JSONValue = .object([:]), emaWeights: [[Float]]? = nil
  ) {
    self.model = model
    self.parameterStandardizer = parameterStandardizer
    self.conditionStandardizer = conditionStandardizer
    self.transform = transform ?? .identity(model.network.inputDimension)
    self.estimatorSettings = estimatorSettings
    self.emaWeights = emaWeights
  }
}

extension Trainer {
  /// The trained state as a `SavedModel`.
  public func savedModel(estimatorSettings: JSONValue = .object([:])) -> SavedModel {
    SavedModel(
      model: model, parameterStandardizer: configuration.standardizeParameters ? parameterStandardizer : nil,
      conditionStandardizer: configuration.standardizeConditions ? conditionStandardizer : nil,
      transform: transform, estimatorSettings: estimatorSettings, emaWeights: ema?.shadow)
  }
}

/// Errors reading or writing a model directory.
public enum ModelFileError: Error, CustomStringConvertible {
  case newerFormatVersion(found: Int, supported: Int)
  case invalidConfiguration(path: String, reason: String)
  case weightMismatch(path: String, reason: String)
  case file(FileFormatError)
  case io(path: String, reason: String)

  public var description: String {
    switch self {
    case .newerFormatVersion(let f, let s):
      return "model format version \(f) is newer than this program supports (\(s)); update diffsbi"
    case .invalidConfiguration(let p, let r): return "\(p): invalid model configuration: \(r)"
    case .weightMismatch(let p, let r): return "\(p): weights do not match the configuration: \(r)"
    case .file(let e): return e.description
    case .io(let p, let r): return "\(p): \(r)"
    }
  }
}

/// Reading and writing model directories:
///
///     <dir>/config.json          {"format": "diffsbi-model", "formatVersion": 1, "network": … (a TimeMLP) or
///                                 "unet": … (a ConditionalUNet) or "transformer": … (a TokenTransformer),
///                                 "summary": …,
///                                 "parameterStandardizer": …, "conditionStandardizer": …, "transform": …,
///                                 "estimator": {…}, "hasEMA": …, "parameters": N}
///     <dir>/weights.safetensors  F32 little-endian tensors "network.<name>", "summary.<name>", "ema.<…>"
///
/// Loading checks the version first, bounds every shape before allocating, and requires each tensor to be
/// present with its exact shape; values are restored bit for bit.
public enum ModelFile {
  public static let formatVersion = 1
  public static let configName = "config.json"
  public static let weightsName = "weights.safetensors"
  /// Upper bounds that keep a corrupt configuration from requesting huge allocations.
  static let maximumParameters = 1 << 28
  static let maximumConfigBytes = 16 << 20

  struct Config: Codable {
    var format = "diffsbi-model"
    var formatVersion: Int
    /// The TimeMLP's architecture, or nil when the network is a U-Net.
    var network: TimeMLPConfiguration?
    /// The ConditionalUNet's architecture (absent in files with a TimeMLP).
    var unet: UNetConfiguration?
    /// The TokenTransformer's architecture (absent in files with another network).
    var transformer: TransformerConfiguration?
    var summary: SummaryArchitecture?
    var parameterStandardizer: Standardizer?
    var conditionStandardizer: Standardizer?
    var transform: ConstraintTransform
    var estimator: JSONValue
    var hasEMA: Bool
    var parameters: Int
    /// Tensors of the auxiliary buffer (absent in files without one).
    var auxiliary: [ParameterTensor]?
  }

  struct VersionProbe: Decodable { var formatVersion: Int }

  /// Writes `saved` into directory `path` (created if needed).
  public static func save(_ saved: SavedModel, to path: String) throws {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw ModelFileError.io(path: path, reason: "cannot create directory: \(error)")
    }
    let m = saved.model
    let config = Config(
      formatVersion: formatVersion, network: m.timeMLP?.configuration,
      unet: (m.network as? ConditionalUNet)?.configuration,
      transformer: (m.network as? TokenTransformer)?.configuration, summary: m.summary?.architecture,
      parameterStandardizer: saved.parameterStandardizer, conditionStandardizer: saved.conditionStandardizer,
      transform: saved.transform, estimator: saved.estimatorSettings, hasEMA: saved.emaWeights != nil,
      parameters: m.parameterCount, auxiliary: m.auxiliary?.tensors)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let json: Data
    do { json = try encoder.encode(config) } catch {
      throw ModelFileError.invalidConfiguration(path: path, reason: "\(error)")
    }
    var tensors: [(String, NDArray)] = []
    let prefixes = m.bufferNames
    func add(_ prefix: String, _ buffer: ParameterBuffer, _ values: [Float]) throws {
      for t in buffer.tensors {
        tensors.append((prefix + "." + t.name, try NDArray(shape: t.shape, data: Array(values[t.offset..<(t.offset + t.count)]))))
      }
    }
    do {
      for (i, b) in m.buffers.enumerated() { try add(prefixes[i], b, b.valueArray) }
      if let ema = saved.emaWeights {
        for (i, b) in m.buffers.enumerated() { try add("ema." + prefixes[i], b, ema[i]) }
      }
      try SafeTensors.write(tensors, metadata: ["format": "diffsbi-model", "formatVersion": "\(formatVersion)"],
                            to: path + "/" + weightsName)
      try AtomicFile.write([UInt8](json), to: path + "/" + configName)
    } catch let e as FileFormatError {
      throw ModelFileError.file(e)
    }
  }

  /// Reads the model directory at `path`.
  public static func load(from path: String) throws -> SavedModel {
    let configPath = path + "/" + configName
    let bytes: [UInt8]
    do {
      guard try FileIO.size(of: configPath) <= maximumConfigBytes else {
        throw ModelFileError.invalidConfiguration(path: configPath, reason: "larger than \(maximumConfigBytes) bytes")
      }
      bytes = try FileIO.readAll(configPath)
    } catch let e as FileFormatError { throw ModelFileError.file(e) }
    let config = try decodeConfiguration(bytes, path: configPath)
    let model = try makeModel(config, path: configPath)
    let weightsPath = path + "/" + weightsName
    let file: SafeTensorsFile
    do { file = try SafeTensors.read(weightsPath) } catch let e as FileFormatError { throw ModelFileError.file(e) }
    func fill(_ prefix: String, _ buffer: ParameterBuffer) throws -> [Float] {
      var values = [Float](repeating: 0, count: buffer.count)
      for t in buffer.tensors {
        let name = prefix + "." + t.name
        guard let a = file.tensors[name] else { throw ModelFileError.weightMismatch(path: weightsPath, reason: "missing tensor '\(name)'") }
        guard a.shape == t.shape else {
          throw ModelFileError.weightMismatch(path: weightsPath, reason: "tensor '\(name)' has shape \(a.shape), expected \(t.shape)")
        }
        values.replaceSubrange(t.offset..<(t.offset + t.count), with: a.data)
      }
      return values
    }
    let prefixes = model.bufferNames
    for (i, b) in model.buffers.enumerated() { b.valueArray = try fill(prefixes[i], b) }
    var ema: [[Float]]?
    if config.hasEMA { ema = try model.buffers.enumerated().map { try fill("ema." + prefixes[$0.offset], $0.element) } }
    return SavedModel(
      model: model, parameterStandardizer: config.parameterStandardizer, conditionStandardizer: config.conditionStandardizer,
      transform: config.transform, estimatorSettings: config.estimator, emaWeights: ema)
  }

  /// Decodes and validates the bytes of a `config.json` (version first, then every shape bounded) without
  /// allocating the network.
  static func decodeConfiguration(_ bytes: [UInt8], path: String) throws -> Config {
    let decoder = JSONDecoder()
    guard let probe = try? decoder.decode(VersionProbe.self, from: Data(bytes)) else {
      throw ModelFileError.invalidConfiguration(path: path, reason: "not a model configuration (no formatVersion)")
    }
    guard probe.formatVersion <= formatVersion else {
      throw ModelFileError.newerFormatVersion(found: probe.formatVersion, supported: formatVersion)
    }
    let config: Config
    do { config = try decoder.decode(Config.self, from: Data(bytes)) } catch {
      throw ModelFileError.invalidConfiguration(path: path, reason: "\(error)")
    }
    try validate(config, path: path)
    return config
  }

  /// The (freshly initialized) networks a validated configuration describes.
  static func makeModel(_ config: Config, path: String) throws -> TrainableModel {
    var rng = Xoshiro(seed: 0)
    let network: any ConditionalNetwork
    if let n = config.network {
      network = TimeMLP(configuration: n, rng: &rng)
    } else if let u = config.unet {
      network = ConditionalUNet(configuration: u, rng: &rng)
    } else if let t = config.transformer {
      network = TokenTransformer(configuration: t, rng: &rng)
    } else {
      throw ModelFileError.invalidConfiguration(path: path, reason: "no network")
    }
    let summary = config.summary?.makeNetwork(rng: &rng)
    if let summary, summary.outputDimension > network.conditionDimension {
      throw ModelFileError.invalidConfiguration(path: path, reason: "summary output exceeds the network condition")
    }
    return TrainableModel(
      network: network, summary: summary, auxiliary: config.auxiliary.map { ParameterBuffer(zeroedTensors: $0) })
  }

  /// Checks the bytes of a model configuration as `load` does, without reading weights, and returns the number
  /// of network parameters it describes. With `buildingUpTo`, the networks are also constructed when they have
  /// at most that many parameters (the configuration-reader fuzzing harness uses this).
  @discardableResult
  public static func checkConfiguration(_ bytes: [UInt8], buildingUpTo limit: Int = 0) throws -> Int {
    let config = try decodeConfiguration(bytes, path: configName)
    let count = config.network.map(TimeMLP.parameterCount) ?? config.unet.map(ConditionalUNet.parameterCount)
      ?? config.transformer.map(TokenTransformer.parameterCount) ?? 0
    if count <= limit {
      let model = try makeModel(config, path: configName)
      precondition(model.network.parameters.count == count)
    }
    return count
  }

  static func validate(_ c: Config, path: String) throws {
    func bad(_ r: String) -> ModelFileError { .invalidConfiguration(path: path, reason: r) }
    let total: Int, inputDimension: Int
    switch (c.network, c.unet, c.transformer) {
    case (let n?, nil, nil):
      let dims = [n.inputDimension, n.conditionDimension, n.timeEmbeddingDimension] + n.widths
      guard n.inputDimension > 0, n.conditionDimension >= 0, !n.widths.isEmpty, n.widths.count <= 1000,
            dims.allSatisfy({ $0 >= 0 && $0 <= 1 << 20 }), n.widths.allSatisfy({ $0 > 0 }),
            n.timeEmbeddingDimension >= 2, n.timeEmbeddingDimension % 2 == 0, n.dropout >= 0, n.dropout < 1
      else { throw bad("network shape out of range") }
      // Shapes are bounded above, so counting the layout (metadata only, nothing allocated) cannot overflow.
      (total, inputDimension) = (TimeMLP.parameterCount(n), n.inputDimension)
    case (nil, let u?, nil):
      guard u.isValidShape, u.inputDimension <= 1 << 24 else { throw bad("U-Net shape out of range") }
      (total, inputDimension) = (ConditionalUNet.parameterCount(u), u.inputDimension)
    case (nil, nil, let t?):
      guard t.isValidShape else { throw bad("transformer shape out of range") }
      // Bounded shapes: the largest layout (2 · 2^14 tokens · 2^12 + 64 blocks of 5 · 2^24) is counted without
      // overflow and refused below when above the parameter limit.
      (total, inputDimension) = (TokenTransformer.parameterCount(t), t.inputDimension)
    default:
      throw bad("exactly one of 'network', 'unet' and 'transformer' must be given")
    }
    guard total <= maximumParameters else { throw bad("network has more than \(maximumParameters) parameters") }
    if let summary = c.summary, !summary.isValidShape { throw bad("summary network shape out of range") }
    if let aux = c.auxiliary {
      guard aux.count <= 1000 else { throw bad("more than 1000 auxiliary tensors") }
      var offset = 0
      for t in aux {
        var count = 1
        for s in t.shape {
          let (p, overflow) = count.multipliedReportingOverflow(by: s)
          guard s > 0, !overflow, p <= maximumParameters else { throw bad("auxiliary tensor '\(t.name)' out of range") }
          count = p
        }
        guard t.offset == offset, !t.shape.isEmpty, count <= maximumParameters - offset else {
          throw bad("auxiliary tensor '\(t.name)' out of range")
        }
        offset += count
      }
    }
    if let summary = c.summary, summary.parameterCount > maximumParameters {
      throw bad("summary network has more than \(maximumParameters) parameters")
    }
    guard c.transform.constraints.count == inputDimension else { throw bad("transform dimension ≠ parameter dimension") }
    if let s = c.parameterStandardizer, s.dimension != inputDimension { throw bad("parameter standardizer dimension") }
    for s in [c.parameterStandardizer, c.conditionStandardizer].compactMap({ $0 })
    where s.counts.count != s.dimension || s.m2.count != s.dimension {
      throw bad("standardizer arrays have different lengths")
    }
    for s in [c.parameterStandardizer, c.conditionStandardizer].compactMap({ $0 }) {
      if let g = s.channels, !(g.items > 0 && g.width > 0 && g.items <= s.dimension && g.width <= s.dimension
                                && g.items * g.width <= s.dimension) {
        throw bad("standardizer channel groups exceed its dimension")
      }
    }
  }
}

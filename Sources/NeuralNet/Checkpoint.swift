// Crash-safe training: periodic atomic checkpoints and bit-identical resumption.

import FileFormats
import Foundation
import NumericCore

/// When and where a `Trainer` writes checkpoints.
///
/// A checkpoint is one safetensors file, `<directory>/checkpoint.safetensors`, replaced atomically (temporary
/// file, fsync, rename), so a process killed at any instant leaves either the previous or the new checkpoint.
/// It holds the weights, the Adam moments and step, the EMA shadow and step, the best-validation weights, the
/// standardizer statistics, the training history and the loop position: epoch, next step within the epoch,
/// the running loss sum of the epoch and the generator state (offline: the shuffling stream at the start of the
/// epoch, from which the epoch's permutation is redrawn; online: the simulation stream; shards: the shard order
/// and row permutations are drawn from (seed, epoch, shard) and need no state). The per-step streams
/// are derived from (seed, step, shard), so resuming with the same seed and `Threading.count` reproduces the
/// uninterrupted run bit for bit.
public struct CheckpointOptions: Sendable, Equatable {
  public var directory: String
  /// Write after every this many steps (nil: no step trigger).
  public var everySteps: Int?
  /// Write when this many seconds have passed since the last checkpoint (nil: no time trigger).
  public var everySeconds: Double?

  public init(directory: String, everySteps: Int? = 100, everySeconds: Double? = nil) {
    self.directory = directory
    self.everySteps = everySteps
    self.everySeconds = everySeconds
  }

  /// The checkpoint file inside `directory`.
  public var path: String { (directory as NSString).appendingPathComponent(TrainingCheckpoint.fileName) }
}

/// Errors reading or applying a checkpoint.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
  case unreadable(path: String, reason: String)
  case incompatible(path: String, reason: String)

  public var description: String {
    switch self {
    case .unreadable(let p, let r): return "cannot read the checkpoint \(p): \(r)"
    case .incompatible(let p, let r): return "the checkpoint \(p) does not match this training run: \(r)"
    }
  }
}

/// Which kind of training data a checkpoint was written for (`TrainingData.mode`).
public enum TrainingMode: String, Sendable, Codable {
  case online, offline, shards
}

/// Position of a training loop, enough to continue it exactly.
struct TrainingLoopState {
  var epoch = 0
  var nextStep = 0
  var lossSum = 0.0
  var lossCount = 0
  /// Offline: the shuffling stream at the start of `epoch`. Online: the simulation stream now.
  var rng: Xoshiro
  var best: (loss: Double, epoch: Int, values: [[Float]]) = (.infinity, -1, [])
  var completed = false
  /// Seconds this training run has taken so far, across interruptions (the clock of `timeBudget`).
  var seconds = 0.0
}

/// Scalar part of a checkpoint (JSON in the safetensors metadata).
struct CheckpointHeader: Codable {
  var version = 1
  var mode: TrainingMode
  var configuration: TrainingConfiguration
  var threads: Int
  var bufferSizes: [Int]
  var epoch: Int
  var nextStep: Int
  var completed: Bool
  /// 64-bit words as hexadecimal strings (JSON numbers are not exact beyond 2⁵³ in every reader).
  var lossSumBits: String
  var lossCount: Int
  var rngState: [String]
  var bestLossBits: String
  var bestEpoch: Int
  var optimizerStep: Int
  var emaStep: Int
  var history: TrainingHistory
  var parameterStandardizer: Standardizer
  var conditionStandardizer: Standardizer?
  /// `TrainingLoopState.seconds` (absent in checkpoints written before time budgets existed).
  var elapsedSeconds: Double? = nil
}

/// A checkpoint read from disk, applied by the next training loop of the trainer.
struct TrainingCheckpoint {
  static let fileName = "checkpoint.safetensors"
  static let metadataKey = "diffsbi.checkpoint"
  var header: CheckpointHeader
  var tensors: NamedArrays

  static func encoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
  }

  static func decoder() -> JSONDecoder {
    let d = JSONDecoder()
    d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return d
  }
}

extension Trainer {
  /// Loads the checkpoint in `directory` (if there is one) so that the next `train` call continues from it. Returns false when the directory holds no checkpoint (training then starts afresh).
  /// The trainer must be built like the interrupted one (same model architecture, configuration and seed).
  @discardableResult
  public func resume(from directory: String, mode: TrainingMode) throws -> Bool {
    let path = (directory as NSString).appendingPathComponent(TrainingCheckpoint.fileName)
    guard FileManager.default.fileExists(atPath: path) else { return false }
    let file: SafeTensorsFile
    do { file = try SafeTensors.read(path) } catch { throw CheckpointError.unreadable(path: path, reason: "\(error)") }
    guard let json = file.metadata[TrainingCheckpoint.metadataKey] else {
      throw CheckpointError.unreadable(path: path, reason: "no \(TrainingCheckpoint.metadataKey) metadata")
    }
    let header: CheckpointHeader
    do {
      header = try TrainingCheckpoint.decoder().decode(CheckpointHeader.self, from: Data(json.utf8))
    } catch { throw CheckpointError.unreadable(path: path, reason: "invalid state: \(error)") }
    func bad(_ r: String) -> CheckpointError { .incompatible(path: path, reason: r) }
    guard header.version == 1 else { throw bad("unsupported checkpoint version \(header.version)") }
    guard header.mode == mode else { throw bad("written by \(header.mode.rawValue) training, resumed as \(mode.rawValue)") }
    guard header.configuration == configuration else { throw bad("the training configuration differs") }
    guard header.bufferSizes == model.buffers.map(\.count) else {
      throw bad("parameter sizes \(header.bufferSizes) vs the model's \(model.buffers.map(\.count))")
    }
    guard header.parameterStandardizer.mean.count == parameterStandardizer.mean.count,
          header.conditionStandardizer?.mean.count == conditionStandardizer?.mean.count
    else { throw bad("standardizer dimensions differ") }
    guard header.rngState.count == 4, header.rngState.allSatisfy({ UInt64($0, radix: 16) != nil }),
          UInt64(header.lossSumBits, radix: 16) != nil, UInt64(header.bestLossBits, radix: 16) != nil
    else { throw bad("malformed generator state or loss bits") }
    for (i, b) in model.buffers.enumerated() {
      for prefix in ["weights", "adam.m", "adam.v", "ema", "best"] {
        if let a = file.tensors["\(prefix).\(i)"], a.data.count != b.count {
          throw bad("tensor \(prefix).\(i) has \(a.data.count) values, expected \(b.count)")
        }
      }
      guard file.tensors["weights.\(i)"] != nil else { throw bad("missing tensor weights.\(i)") }
    }
    pendingCheckpoint = TrainingCheckpoint(header: header, tensors: file.tensors)
    return true
  }

  /// Applies a pending checkpoint of `mode` to the model, optimizer, EMA, standardizers and history and returns
  /// the loop position; nil when there is none.
  func takeCheckpoint(mode: TrainingMode) -> TrainingLoopState? {
    guard let cp = pendingCheckpoint, cp.header.mode == mode else { return nil }
    pendingCheckpoint = nil
    let h = cp.header
    let n = model.buffers.count
    func arrays(_ prefix: String) -> [[Float]]? {
      let a = (0..<n).compactMap { cp.tensors["\(prefix).\($0)"]?.data }
      return a.count == n ? a : nil
    }
    for (b, w) in zip(model.buffers, arrays("weights") ?? []) { b.valueArray = w }
    optimizer.step = h.optimizerStep
    if let m = arrays("adam.m"), let v = arrays("adam.v") {
      optimizer.m = m
      optimizer.v = v
    }
    if let ema, let shadow = arrays("ema") { ema.restore(step: h.emaStep, shadow: shadow) }
    parameterStandardizer = h.parameterStandardizer
    conditionStandardizer = h.conditionStandardizer
    history = h.history
    var loop = TrainingLoopState(rng: Xoshiro(state: h.rngState.map { UInt64($0, radix: 16)! }))
    loop.epoch = h.epoch
    loop.nextStep = h.nextStep
    loop.lossSum = Double(bitPattern: UInt64(h.lossSumBits, radix: 16)!)
    loop.lossCount = h.lossCount
    loop.best = (Double(bitPattern: UInt64(h.bestLossBits, radix: 16)!), h.bestEpoch, arrays("best") ?? [])
    loop.completed = h.completed
    loop.seconds = h.elapsedSeconds ?? 0
    lastCheckpoint = Date()
    return loop
  }

  /// Writes a checkpoint when one is due (or always with `force`). A failed write is recorded in
  /// `checkpointFailures` and training goes on: losing a checkpoint must not lose the run.
  func checkpointIfDue(_ loop: TrainingLoopState, mode: TrainingMode, force: Bool = false) {
    guard let options = checkpointing else { return }
    let k = optimizer.step + history.skippedSteps
    var due = force
    if let every = options.everySteps, every > 0, k % every == 0 { due = true }
    if let s = options.everySeconds, Date().timeIntervalSince(lastCheckpoint) >= s { due = true }
    guard due else { return }
    do {
      try writeCheckpoint(loop, mode: mode, options: options)
      checkpointsWritten += 1
      lastCheckpoint = Date()
    } catch {
      checkpointFailures.append("\(error)")
    }
  }

  private func hex(_ w: UInt64) -> String { String(w, radix: 16) }

  func writeCheckpoint(_ loop: TrainingLoopState, mode: TrainingMode, options: CheckpointOptions) throws {
    try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
    let opt = optimizer.state
    let header = CheckpointHeader(
      mode: mode, configuration: configuration, threads: Threading.count, bufferSizes: model.buffers.map(\.count),
      epoch: loop.epoch, nextStep: loop.nextStep, completed: loop.completed,
      lossSumBits: hex(loop.lossSum.bitPattern), lossCount: loop.lossCount, rngState: loop.rng.state.map(hex),
      bestLossBits: hex(loop.best.loss.bitPattern), bestEpoch: loop.best.epoch, optimizerStep: opt.step,
      emaStep: ema?.step ?? 0, history: history, parameterStandardizer: parameterStandardizer,
      conditionStandardizer: conditionStandardizer, elapsedSeconds: loop.seconds)
    let json = String(decoding: try TrainingCheckpoint.encoder().encode(header), as: UTF8.self)
    var tensors: [(String, NDArray)] = []
    func add(_ prefix: String, _ arrays: [[Float]]) {
      for (i, a) in arrays.enumerated() { tensors.append(("\(prefix).\(i)", NDArray(vector: a))) }
    }
    add("weights", model.buffers.map(\.valueArray))
    add("adam.m", opt.m)
    add("adam.v", opt.v)
    if let ema { add("ema", ema.shadow) }
    add("best", loop.best.values)
    try SafeTensors.write(tensors, metadata: [TrainingCheckpoint.metadataKey: json], to: options.path)
  }
}

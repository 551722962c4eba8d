// Option groups shared by `diffsbi` and `diffsbi-bench`: one definition of every model, training and run option,
// so that both tools accept the same spellings, defaults and refusals (Documentation/CLI.md).

import ArgumentParser
import DiffusionSBI
import Foundation

extension SamplerKind: ExpressibleByArgument {}
extension AdaptiveErrorNorm: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension VarianceType: ExpressibleByArgument {}
extension Prediction: ExpressibleByArgument {}
extension LossWeighting: ExpressibleByArgument {}
extension EstimatorMethod: ExpressibleByArgument {}
extension SummaryKind: ExpressibleByArgument {}
extension ElementTransform: ExpressibleByArgument {}

/// `--summary`: a summary network, or none (structured data flattened into one row per data set).
public enum SummaryOption: String, CaseIterable, ExpressibleByArgument, Sendable {
  case none
  case deepSet = "deepset"
  case setTransformer = "set-transformer"
  case timeSeries = "time-series"
  case conv2d

  /// The summary network family (nil for `none`).
  public var kind: SummaryKind? { SummaryKind(rawValue: rawValue) }
}

/// `--network`: the inference network.
public enum NetworkOption: String, CaseIterable, ExpressibleByArgument, Sendable {
  /// The review's residual MLP with Fourier time embedding (`TimeMLP`).
  case timemlp
  /// Self-attention over one token per θ component and per data value (`TokenTransformer`).
  case transformer
}

/// Mini-batch optimal-transport couplings of flow matching, as `--coupling` spells them.
public enum CouplingKind: String, CaseIterable, ExpressibleByArgument, Sendable {
  case independent, sinkhorn, conditional, exact
  case exactConditional = "exact-conditional"
}

/// The optimizer, as `--optimizer` spells it.
public enum OptimizerKind: String, CaseIterable, ExpressibleByArgument, Sendable {
  case adam, adamw
}

/// --seed, --threads, --quiet and --json.
public struct CommonOptions: ParsableArguments {
  @Option(help: "Random seed (runs are reproducible for a seed and thread count).")
  public var seed: UInt64 = 0

  @Option(help: "Worker threads (default: DIFFSBI_THREADS or the number of cores).")
  public var threads: Int?

  @Flag(name: .shortAndLong, help: "No progress output on stderr.")
  public var quiet = false

  @Flag(help: "Print one JSON object with a summary on stdout.")
  public var json = false

  public init() {}

  public func validate() throws {
    if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
  }

  /// Applies --threads.
  public func apply() { Threading.configure(threads: threads) }
}

/// The estimator: method, diffusion design choices, flow-matching and consistency options, network.
///
/// Method-specific options are optional so that one that does not apply to the chosen method is refused
/// (exit code 2) instead of silently ignored; their defaults are the library's (`EstimatorSettings()`).
public struct ModelOptions: ParsableArguments {
  @Option(help: "Generative method: \(EstimatorMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
  public var method: EstimatorMethod = .diffusion
  @Option(help: "Diffusion: noise schedule, \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: edm).")
  public var schedule: ScheduleKind?
  @Option(help: "Diffusion with the edm or cosine schedule: variance type, preserving or exploding (default: preserving).")
  public var variance: VarianceType?
  @Option(help: "Diffusion: network prediction target, \(Prediction.allCases.map(\.rawValue).joined(separator: ", ")) (default: F).")
  public var prediction: Prediction?
  @Option(help: "Diffusion: loss weighting, \(LossWeighting.allCases.map(\.rawValue).joined(separator: ", ")) (default: edm).")
  public var weighting: LossWeighting?
  @Option(help: "Flow matching: training times s = u^(1+α); 0 is uniform (default), the review uses -0.6.")
  public var timePower: Double?
  @Option(help: "Flow matching: noise-data coupling, \(CouplingKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: independent).")
  public var coupling: CouplingKind?
  @Option(help: "Flow matching with OT: weight of the condition distance in the OT cost (default: the coupling's).")
  public var conditionRatio: Double?
  @Option(help: "Flow matching with OT: partial-transport factor in (0, 1] (default: 1).")
  public var partialFactor: Double?
  @Option(help: "Stable consistency: optimizer steps over which the tangent warm-up factor rises from 0 to 1 (default: 0).")
  public var tangentWarmup: Int?
  @Option(help: "Diffusion and flow matching: probability of training on the null condition, for classifier-free guidance.")
  public var conditionDropout = 0.0
  @Option(help: "Inference network: timemlp (the review's residual MLP) or transformer (self-attention over one token per parameter and per data value).")
  public var network: NetworkOption = .timemlp
  @Option(help: "Hidden layer widths of the TimeMLP, comma-separated (default: 256,256,256,256,256).")
  public var widths: String?
  @Option(help: "Dropout probability of the TimeMLP's hidden layers (default: 0.05).")
  public var dropout: Float?
  @Option(help: "Transformer: token width (default: 64).")
  public var transformerWidth: Int?
  @Option(help: "Transformer: attention heads, dividing the token width (default: 4).")
  public var transformerHeads: Int?
  @Option(help: "Transformer: self-attention blocks (default: 4).")
  public var transformerBlocks: Int?
  @Option(help: "Summary network for structured data (x of shape [n, N, D], or images [n, H, W] or [n, H, W, C]), trained with the estimator: none (flatten), deepset, set-transformer, time-series, conv2d (residual convolutional network for images). Required for structured data.")
  public var summary: SummaryOption?
  @Option(help: "Width of the learned summary (default: 16; conv2d: 8).")
  public var summaryDim: Int?
  @Option(help: "Hidden widths of the summary network, comma-separated (deepset: φ and ρ layers, default 64,64; set-transformer: attention width and one block per value, default 64,64; time-series: convolution filters and GRU width, default 32,64; conv2d: one residual block per value with that many filters, default 16 for images up to 16 px, 16,16 up to 64 px, 16,16,16,16 beyond).")
  public var summaryWidths: String?
  @Option(help: "Time-series network: stride of the convolution before the GRU, with a kernel of stride + 2 steps (default: 1 for series of up to 128 steps, else ceil(steps / 128)).")
  public var summaryStride: Int?

  public init() {}

  public func validate() throws {
    let diffusionOnly: [(String, Bool)] = [
      ("--schedule", schedule != nil), ("--variance", variance != nil), ("--prediction", prediction != nil),
      ("--weighting", weighting != nil),
    ]
    for (name, given) in diffusionOnly where given && method != .diffusion {
      throw ValidationError("\(name) applies to --method diffusion, not \(method.rawValue)")
    }
    let flowOnly: [(String, Bool)] = [
      ("--time-power", timePower != nil), ("--coupling", coupling != nil),
      ("--condition-ratio", conditionRatio != nil), ("--partial-factor", partialFactor != nil),
    ]
    for (name, given) in flowOnly where given && method != .flowMatching {
      throw ValidationError("\(name) applies to --method flow-matching, not \(method.rawValue)")
    }
    if (conditionRatio != nil || partialFactor != nil) && (coupling ?? .independent) == .independent {
      throw ValidationError("--condition-ratio and --partial-factor need an OT --coupling")
    }
    if tangentWarmup != nil && method != .stableConsistency {
      throw ValidationError("--tangent-warmup applies to --method stable-consistency, not \(method.rawValue)")
    }
    if let v = variance, let s = schedule, s != .edm && s != .cosine {
      throw ValidationError("--variance: the \(s.rawValue) schedule fixes its own variance type (\(v.rawValue) given)")
    }
    if let v = variance, v != .preserving && v != .exploding {
      throw ValidationError("--variance: the \((schedule ?? .edm).rawValue) schedule is preserving or exploding")
    }
    if let t = tangentWarmup, t < 0 { throw ValidationError("--tangent-warmup must be at least 0") }
    if let r = conditionRatio, !(r >= 0 && r <= 1) { throw ValidationError("--condition-ratio must be in [0, 1]") }
    if let p = partialFactor, !(p > 0 && p <= 1) { throw ValidationError("--partial-factor must be in (0, 1]") }
    if let a = timePower, !(a > -1 && a.isFinite) { throw ValidationError("--time-power must be greater than -1") }
    if !(0..<1).contains(conditionDropout) { throw ValidationError("--condition-dropout must be in [0, 1)") }
    if conditionDropout > 0 && !(method == .diffusion || method == .flowMatching) {
      throw ValidationError("--condition-dropout applies to diffusion and flow matching, not \(method.rawValue)")
    }
    if let p = dropout, !(0..<1).contains(p) { throw ValidationError("--dropout must be in [0, 1)") }
    _ = try parsedWidths()
    if network == .transformer {
      if widths != nil || dropout != nil {
        throw ValidationError("--widths and --dropout shape the TimeMLP, not --network transformer")
      }
      if method == .stableConsistency {
        throw ValidationError("--network transformer trains with diffusion, flow-matching or consistency, not stable-consistency")
      }
      let t = transformerConfiguration(parameters: 1, data: 0)
      if t.width < 1 || t.heads < 1 || t.blocks < 1 || t.width > 4096 || t.blocks > 64 {
        throw ValidationError("--transformer-width, --transformer-heads and --transformer-blocks must be positive (width ≤ 4096, blocks ≤ 64)")
      }
      if t.width % t.heads != 0 {
        throw ValidationError("--transformer-heads (\(t.heads)) must divide --transformer-width (\(t.width))")
      }
    } else if transformerWidth != nil || transformerHeads != nil || transformerBlocks != nil {
      throw ValidationError("--transformer-width, --transformer-heads and --transformer-blocks need --network transformer")
    }
    if (summaryDim != nil || summaryWidths != nil) && summary?.kind == nil {
      throw ValidationError("--summary-dim and --summary-widths need --summary deepset, set-transformer, time-series or conv2d")
    }
    if let k = summaryDim, k < 1 { throw ValidationError("--summary-dim must be at least 1") }
    if let s = summaryStride {
      if summary?.kind != .timeSeries { throw ValidationError("--summary-stride needs --summary time-series") }
      if s < 1 { throw ValidationError("--summary-stride must be at least 1") }
    }
    if let w = summaryWidths { _ = try Self.parseWidths(w, option: "--summary-widths") }
  }

  public func parsedWidths() throws -> [Int] {
    try widths.map { try Self.parseWidths($0, option: "--widths") } ?? TimeMLPConfiguration(inputDimension: 1, conditionDimension: 0).widths
  }

  /// The transformer for `parameters` θ columns and `data` condition columns (with --network transformer).
  public func transformerConfiguration(parameters: Int, data: Int) -> TransformerConfiguration {
    let d = TransformerConfiguration(inputDimension: parameters, conditionDimension: data)
    return TransformerConfiguration(
      inputDimension: parameters, conditionDimension: data, width: transformerWidth ?? d.width,
      heads: transformerHeads ?? d.heads, blocks: transformerBlocks ?? d.blocks)
  }

  public static func parseWidths(_ text: String, option: String) throws -> [Int] {
    let w = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !w.isEmpty, w.allSatisfy({ ($0 ?? 0) > 0 }) else {
      throw ValidationError("\(option): expected positive integers separated by commas, got '\(text)'")
    }
    return w.map { $0! }
  }

  /// The summary network of `--summary` (nil for none or when not given).
  public func summaryChoice() throws -> SummaryChoice? {
    guard let kind = summary?.kind else { return nil }
    return SummaryChoice(kind: kind, summaryDimension: summaryDim ?? (kind == .conv2d ? 8 : 16),
                         widths: try summaryWidths.map { try Self.parseWidths($0, option: "--summary-widths") },
                         stride: summaryStride)
  }

  /// The summary architecture for data sets of shape `dataShape` ([d] flat, [N, D] structured or an [H, W]
  /// image, [H, W, C] images); refuses structured data without `--summary` and a summary network on flat data.
  public func summaryArchitecture(dataShape: [Int], source: String) throws -> SummaryArchitecture? {
    if dataShape.count >= 2 && summary == nil {
      throw ValidationError(
        "\(source): x holds structured data sets of shape \(dataShape); choose --summary deepset, set-transformer, "
          + "time-series or conv2d (or --summary none to flatten them)")
    }
    guard let choice = try summaryChoice() else { return nil }
    if choice.kind == .conv2d {
      guard dataShape.count == 2 || dataShape.count == 3 else {
        throw ValidationError(
          "\(source): --summary conv2d needs images, x of shape [n, H, W] or [n, H, W, C], got flat rows of "
            + "\(dataShape.first ?? 0) values")
      }
      return try choice.architecture(dataShape: dataShape)
    }
    guard dataShape.count == 2 else {
      throw ValidationError(
        "\(source): --summary \(choice.kind.rawValue) needs x of shape [n, N, D] (sets or series), got "
          + (dataShape.count == 1
            ? "flat rows of \(dataShape[0]) values" : "images of shape \(dataShape) (use --summary conv2d)"))
    }
    return try choice.architecture(dataShape: dataShape)
  }

  /// The mini-batch OT options of `--coupling` (nil: independent coupling).
  public var couplingOptions: OptimalTransportOptions? {
    var o: OptimalTransportOptions
    switch coupling ?? .independent {
    case .independent: return nil
    case .sinkhorn: o = OptimalTransportOptions(conditionRatio: 0.5)
    case .conditional: o = OptimalTransportOptions(conditionRatio: 0.01)
    case .exact: o = OptimalTransportOptions(method: .exact, conditionRatio: 0.5)
    case .exactConditional: o = OptimalTransportOptions(method: .exact, conditionRatio: 0.01)
    }
    if let r = conditionRatio { o.conditionRatio = r }
    if let s = partialFactor { o.partialFactor = s }
    return o
  }

  /// The estimator settings the options select.
  public func settings() -> EstimatorSettings {
    let d = DiffusionConfiguration()
    var s = EstimatorSettings(
      method: method,
      diffusion: DiffusionConfiguration(
        schedule: schedule ?? d.schedule, variance: variance ?? d.variance, prediction: prediction ?? d.prediction,
        weighting: weighting ?? d.weighting),
      conditionDropout: conditionDropout)
    switch method {
    case .flowMatching:
      let time: FlowTimeSampling = timePower.map { $0 == 0 ? .uniform : .powerLaw(alpha: $0) } ?? .uniform
      s.flowMatching = FlowMatchingSettings(timeSampling: time, coupling: couplingOptions)
    case .stableConsistency:
      s.stableConsistency = StableConsistencySettings(tangentWarmupSteps: tangentWarmup ?? 0)
    default: break
    }
    return s
  }

  /// A short label of the method and its options, for tables.
  public var label: String {
    var l = method.rawValue
    if method == .diffusion, schedule != nil || variance != nil || prediction != nil || weighting != nil {
      let c = settings().diffusion
      l += " \(c.schedule.rawValue)-\(c.variance.rawValue)-\(c.prediction.rawValue)-\(c.weighting.rawValue)"
    }
    if let a = timePower, a != 0 { l += " α=\(a)" }
    if let c = coupling, c != .independent { l += " +\(c.rawValue) OT" }
    if let r = conditionRatio { l += " ratio \(r)" }
    if let s = partialFactor { l += " partial \(s)" }
    if let t = tangentWarmup, t > 0 { l += " warm-up \(t)" }
    if let p = dropout { l += " dropout \(p)" }
    if network == .transformer {
      let t = transformerConfiguration(parameters: 1, data: 0)
      l += " transformer \(t.width)×\(t.blocks)"
    }
    if let k = summary?.kind { l += " +\(k.rawValue)" }
    return l
  }

  /// The TimeMLP for `parameters` θ columns and `data` condition columns.
  public func network(parameters: Int, data: Int) throws -> TimeMLPConfiguration {
    var net = TimeMLPConfiguration(inputDimension: parameters, conditionDimension: data)
    net.widths = try parsedWidths()
    if let p = dropout { net.dropout = p }
    return net
  }

  /// What a benchmark row trains with these options.
  public func benchmarkSpecification(
    training: TrainingConfiguration, samplers: [SamplerChoice]? = nil, observations: [Int] = [1, 2, 3, 4, 5],
    samples: Int = 10_000
  ) throws -> BenchmarkSpecification {
    BenchmarkSpecification(
      settings: settings(), widths: try parsedWidths(), dropout: dropout,
      transformer: network == .transformer ? transformerConfiguration(parameters: 1, data: 0) : nil,
      training: training, samplers: samplers, observations: observations, samples: samples,
      summary: try summaryChoice())
  }

  /// A new, untrained estimator for data sets of shape `dataShape` ([d] flat, or [N, D] sets or series, see
  /// `summaryArchitecture(dataShape:source:)`).
  public func makeEstimator(
    parameters: Int, dataShape: [Int], constraints: [Constraint]?, seed: UInt64, source: String = "the data"
  ) throws -> PosteriorEstimator {
    let data = dataShape.reduce(1, *)
    let transformer = network == .transformer
    return try PosteriorEstimator(
      parameterDimension: parameters, conditionDimension: data, settings: settings(),
      network: transformer ? nil : network(parameters: parameters, data: data),
      transformer: transformer ? transformerConfiguration(parameters: parameters, data: data) : nil,
      summary: try summaryArchitecture(dataShape: dataShape, source: source), constraints: constraints, seed: seed)
  }
}

/// The training loop: epochs, batches, optimizer, schedule, EMA, validation and early stopping.
public struct TrainingOptions: ParsableArguments {
  @Option(help: "Training epochs, a cap (offline: passes over the data, default 100 stretched to at least 10,000 and shrunk to at most 100,000 optimizer steps, with early stopping; online: the budget is spread over them, default 100).")
  public var epochs: Int?
  @Option(help: "Batch size.")
  public var batchSize = 128
  @Option(help: "Peak learning rate (linear warm-up, then cosine decay to 0).")
  public var learningRate: Float = 5e-4
  @Option(help: "Fraction of all steps spent warming the learning rate up.")
  public var warmup = 0.05
  @Option(help: "Optimizer: adam or adamw (default: adamw for data files and offline simulations, adam online).")
  public var optimizer: OptimizerKind?
  @Option(help: "AdamW decoupled weight decay (default: 5e-3).")
  public var weightDecay: Float?
  @Option(help: "Clip gradients to this global L2 norm (0: no clipping).")
  public var clip: Float = 1.5
  @Flag(help: "Keep a power EMA of the weights (γ = 6.94) and sample with it.")
  public var ema = false
  @Option(help: "Fraction of the data held out for the validation loss (default: 0.1 offline, 0 online; with --online: that fraction of the budget is simulated once for it; 0: none, and no early stopping).")
  public var validationFraction: Double?
  @Option(help: "Stop after this many epochs without a better validation loss and keep the best weights (default offline: 10 epochs and at least 2,000 steps; online: none, and it needs --validation-fraction).")
  public var patience: Int?
  @Option(help: "Element transform of the data before their standardization, stored with the model and applied when sampling: identity or log1p (default: the task's suggestion, log1p for beer2014 and lotka_volterra; identity otherwise).")
  public var dataTransform: ElementTransform?

  public init() {}

  public func validate() throws {
    if let e = epochs, e < 1 { throw ValidationError("--epochs must be at least 1") }
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    if !(learningRate > 0 && learningRate.isFinite) { throw ValidationError("--learning-rate must be positive") }
    if !(0..<1).contains(warmup) { throw ValidationError("--warmup must be in [0, 1)") }
    if let w = weightDecay {
      if !(w >= 0 && w.isFinite) { throw ValidationError("--weight-decay must be at least 0") }
      if optimizer == .adam { throw ValidationError("--weight-decay applies to --optimizer adamw, not adam") }
    }
    if !(clip >= 0 && clip.isFinite) { throw ValidationError("--clip must be at least 0") }
    if let f = validationFraction, !(0..<1).contains(f) { throw ValidationError("--validation-fraction must be in [0, 1)") }
    if let p = patience {
      if p < 1 { throw ValidationError("--patience must be at least 1") }
      if validationFraction == 0 { throw ValidationError("--patience needs a validation loss: --validation-fraction is 0") }
    }
  }

  /// The training configuration; without --optimizer, `online` picks Adam and offline data AdamW.
  ///
  /// Offline the defaults are `TrainingConfiguration.converging` (validation split, early stopping, an epoch cap
  /// that scales with the data); an explicit --epochs is the cap as given, an explicit --patience the patience
  /// as given, and --validation-fraction 0 turns validation and early stopping off. Online the defaults are the
  /// library's (`TrainingConfiguration()`: 100 epochs, no validation).
  public func configuration(seed: UInt64, online: Bool) throws -> TrainingConfiguration {
    var c = online ? TrainingConfiguration() : TrainingConfiguration.converging
    if let e = epochs {
      c.epochs = e
      c.minimumSteps = nil
      c.maximumSteps = nil
    }
    c.batchSize = batchSize
    c.learningRate = learningRate
    c.warmupFraction = warmup
    c.seed = seed
    c.useEMA = ema
    if let f = validationFraction { c.validationFraction = f }
    if let p = patience {
      if c.validationFraction == 0 {
        throw ValidationError("--patience needs a validation loss: give --validation-fraction")
      }
      c.earlyStoppingPatience = p
      c.minimumPatienceSteps = nil
    }
    if c.validationFraction == 0 {
      c.earlyStoppingPatience = nil
      c.minimumPatienceSteps = nil
    }
    c.conditionTransform = dataTransform
    let kind = optimizer ?? (online ? .adam : .adamw)
    if kind == .adam && weightDecay != nil {
      throw ValidationError("--weight-decay applies to AdamW; online training uses Adam unless --optimizer adamw")
    }
    let decay = kind == .adam ? 0 : (weightDecay ?? AdamConfiguration.adamW.weightDecay)
    c.optimizer = AdamConfiguration(weightDecay: decay, clipping: clip > 0 ? .globalNorm(clip) : .none)
    return c
  }
}

extension TrainingConfiguration {
  /// How long a run trains, for table headers: "30 epochs", or the epoch cap with its step limits, the validation
  /// split and the patience of early stopping.
  public var lengthLabel: String {
    var parts = ["\(epochs) epochs"]
    if minimumSteps != nil || maximumSteps != nil {
      parts[0] += " within \(minimumSteps.map(String.init) ?? "0")–\(maximumSteps.map(String.init) ?? "∞") steps"
    }
    if validationFraction > 0 { parts.append("validation \(validationFraction)") }
    if let p = earlyStoppingPatience {
      parts.append("patience \(p)" + (minimumPatienceSteps.map { " (≥ \($0) steps)" } ?? ""))
    }
    return parts.joined(separator: ", ")
  }
}

/// Parses "a,b,c" lists of option values; a bad item is a `ValidationError` naming the option.
public func parseList<T>(_ text: String, option: String, _ transform: (String) -> T?) throws -> [T] {
  let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
  guard !parts.isEmpty else { throw ValidationError("\(option): empty list") }
  return try parts.map { p in
    guard let v = transform(p) else { throw ValidationError("\(option): invalid value '\(p)'") }
    return v
  }
}

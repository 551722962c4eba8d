// The amortized posterior estimator: a conditional TimeMLP (plus optional summary network), a training objective
// chosen by the method, standardization and constraint transforms, sampling for many observations at once, and
// model directories.

import Consistency
import Diffusion
import FileFormats
import FlowMatching
import Foundation
import NeuralNet
import NumericCore

/// The generative method behind an estimator.
public enum EstimatorMethod: String, Sendable, Codable, CaseIterable {
  case diffusion
  case flowMatching = "flow-matching"
  case consistency
  case stableConsistency = "stable-consistency"
}

/// Errors of the estimator.
public enum EstimatorError: Error, CustomStringConvertible, Equatable {
  case shapeMismatch(String)
  case unsupported(String)
  case nonFiniteInput(String)
  case invalidModel(String)
  /// A model directory of the other kind: a hierarchical model where a single estimator is expected, or the
  /// reverse.
  case wrongModelKind(String)

  public var description: String {
    switch self {
    case .shapeMismatch(let s): return "shape mismatch: \(s)"
    case .unsupported(let s): return "unsupported: \(s)"
    case .nonFiniteInput(let s): return "non-finite input: \(s)"
    case .invalidModel(let s): return "invalid model: \(s)"
    case .wrongModelKind(let s): return "wrong kind of model: \(s)"
    }
  }
}

/// Settings stored with a model, beyond the network architecture.
public struct EstimatorSettings: Sendable, Codable, Equatable {
  public var method: EstimatorMethod
  /// Schedule, variance type, parameterization, weighting and default sampler of a diffusion model.
  public var diffusion: DiffusionConfiguration
  /// Time sampling and OT coupling of a flow-matching model (nil: uniform times, independent coupling).
  public var flowMatching: FlowMatchingSettings?
  /// Constants of a consistency model (nil: the defaults; the curriculum length is set at training time).
  public var consistency: ConsistencyConfiguration?
  /// Constants, weight-network architecture and tangent warm-up of a stable consistency model (nil: the defaults).
  public var stableConsistency: StableConsistencySettings?
  /// Name of the built-in task the model was trained on, if any.
  public var task: String?
  /// The JSON prior specification (`PriorSpecification`) the model was trained under, for models trained on data
  /// files with a stated prior (nil: the task's prior, or none known).
  public var trainingPrior: String?
  /// Simulations seen in training.
  public var simulations: Int
  /// Training wall-clock seconds.
  public var trainSeconds: Double
  /// Mean training loss per epoch.
  public var lossHistory: [Double]
  /// Validation loss per epoch (empty without validation data).
  public var validationHistory: [Double]
  /// Probability with which training replaces a row's condition by the null token (the all-zero embedded
  /// condition, as BayesFlow's `drop_cond_prob`), so that the same network also learns the unconditional
  /// (prior) score for classifier-free guidance. 0 (the default) trains a purely conditional model.
  public var conditionDropout: Double
  /// For a model trained sequentially for one observation: that observation, the rounds and the last round's
  /// truncation box (nil: an amortized model, valid for any observation).
  public var sequential: SequentialRecord?
  /// For the first member of an ensemble saved by `PosteriorEnsemble.save(to:)`: the number of members (nil: a
  /// single model). The other members are model directories `member-2` … `member-K` inside this one.
  public var ensembleMembers: Int?

  public init(
    method: EstimatorMethod = .diffusion, diffusion: DiffusionConfiguration = DiffusionConfiguration(),
    flowMatching: FlowMatchingSettings? = nil, consistency: ConsistencyConfiguration? = nil,
    stableConsistency: StableConsistencySettings? = nil, conditionDropout: Double = 0
  ) {
    self.method = method
    self.diffusion = diffusion
    self.flowMatching = flowMatching
    self.consistency = consistency
    self.stableConsistency = stableConsistency
    self.conditionDropout = conditionDropout
    task = nil
    simulations = 0
    trainSeconds = 0
    lossHistory = []
    validationHistory = []
  }

  enum CodingKeys: String, CodingKey {
    case method, diffusion, flowMatching, consistency, stableConsistency, task, trainingPrior, simulations
    case trainSeconds, lossHistory, validationHistory, conditionDropout, sequential, ensembleMembers
  }

  /// Decodes settings; model files written before `conditionDropout`, `trainingPrior`, `sequential` or
  /// `ensembleMembers` existed load with 0 and nil.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    method = try c.decode(EstimatorMethod.self, forKey: .method)
    diffusion = try c.decode(DiffusionConfiguration.self, forKey: .diffusion)
    flowMatching = try c.decodeIfPresent(FlowMatchingSettings.self, forKey: .flowMatching)
    consistency = try c.decodeIfPresent(ConsistencyConfiguration.self, forKey: .consistency)
    stableConsistency = try c.decodeIfPresent(StableConsistencySettings.self, forKey: .stableConsistency)
    task = try c.decodeIfPresent(String.self, forKey: .task)
    trainingPrior = try c.decodeIfPresent(String.self, forKey: .trainingPrior)
    simulations = try c.decode(Int.self, forKey: .simulations)
    trainSeconds = try c.decode(Double.self, forKey: .trainSeconds)
    lossHistory = try c.decode([Double].self, forKey: .lossHistory)
    validationHistory = try c.decode([Double].self, forKey: .validationHistory)
    conditionDropout = try c.decodeIfPresent(Double.self, forKey: .conditionDropout) ?? 0
    sequential = try c.decodeIfPresent(SequentialRecord.self, forKey: .sequential)
    ensembleMembers = try c.decodeIfPresent(Int.self, forKey: .ensembleMembers)
  }
}

/// Samples for a batch of observations, with the cost of drawing them.
public struct PosteriorSamples: Sendable {
  /// One matrix [count, d_θ] per observation, in the original (constrained) parameter space.
  public var samples: [Matrix]
  /// Network evaluations (each on a whole batch), summed over batches.
  public var evaluations: Int
  /// Accepted solver steps, summed over batches.
  public var steps: Int
  /// Rows that came out non-finite (they are kept, as NaN, so that row counts stay aligned).
  public var nonFiniteRows: Int
  public var seconds: Double
  /// Random streams (seed, first … first + streams − 1) the draw used, so that the next member of an ensemble
  /// continues after them.
  var streams = 0
}

/// A conditional generative model of θ given x, trained on simulations (NPE with diffusion models).
///
/// θ is mapped to an unbounded space by the constraint transform, then z-scored; conditions are z-scored too
/// (Documentation/Methods.md §4.4: `standardize = "all"`). Sampling inverts both maps.
public final class PosteriorEstimator: @unchecked Sendable {
  public internal(set) var settings: EstimatorSettings
  public let model: TrainableModel
  public private(set) var parameterStandardizer: Standardizer?
  public private(set) var conditionStandardizer: Standardizer?
  public let transform: ConstraintTransform
  /// EMA weights, when training kept them; sampling uses them if present.
  public private(set) var emaWeights: [[Float]]?

  public var parameterDimension: Int { model.network.inputDimension }
  /// Width of one raw condition row (with a summary network: its input width plus any passed-through columns).
  public var conditionDimension: Int { model.conditionDimension }
  /// The item structure of condition rows (set elements or time steps of a summary network), or nil.
  public var conditionChannels: ChannelGroups? { model.conditionChannels }
  public var parameterCount: Int { model.parameterCount }

  /// A new, untrained estimator.
  ///
  /// With `summary`, a summary network of that architecture is trained jointly with the inference network
  /// (gradients flow through it for every method): a raw condition row is the summary network's input
  /// (items × features, padding items all NaN) followed by `conditionDimension − summary.inputDimension`
  /// columns passed to the network unchanged (usually none; a hierarchical local network passes η).
  public init(
    parameterDimension: Int, conditionDimension: Int, settings: EstimatorSettings = EstimatorSettings(),
    network: TimeMLPConfiguration? = nil, unet: UNetConfiguration? = nil, transformer: TransformerConfiguration? = nil,
    summary: SummaryArchitecture? = nil, constraints: [Constraint]? = nil, seed: UInt64 = 0
  ) throws {
    guard parameterDimension > 0 else { throw EstimatorError.shapeMismatch("parameter dimension must be positive") }
    if transformer != nil {
      guard network == nil, unet == nil else {
        throw EstimatorError.unsupported("a transformer takes neither a TimeMLP nor a U-Net configuration")
      }
      guard settings.method != .stableConsistency else {
        throw EstimatorError.unsupported("the transformer trains with diffusion, flow matching or the discrete consistency model")
      }
    }
    if let unet {
      guard unet.isValidShape else { throw EstimatorError.unsupported("U-Net shape out of range") }
      guard unet.inputDimension == parameterDimension, unet.conditionDimension == conditionDimension else {
        throw EstimatorError.shapeMismatch(
          "the U-Net reads images of \(unet.inputDimension) values and conditions of \(unet.conditionDimension), "
            + "the data have \(parameterDimension) and \(conditionDimension)")
      }
      guard network == nil, summary == nil else {
        throw EstimatorError.unsupported("a U-Net takes neither a TimeMLP configuration nor a summary network")
      }
      guard settings.method == .diffusion || settings.method == .flowMatching || settings.method == .consistency else {
        throw EstimatorError.unsupported("a U-Net trains with diffusion, flow matching or the discrete consistency model")
      }
    }
    if let summary {
      guard summary.isValidShape else { throw EstimatorError.unsupported("summary network shape out of range") }
      guard conditionDimension >= summary.inputDimension else {
        throw EstimatorError.shapeMismatch(
          "the summary network reads \(summary.inputDimension) values per row, the data have \(conditionDimension)")
      }
    }
    guard (0..<1).contains(settings.conditionDropout) else {
      throw EstimatorError.unsupported("condition dropout must be in [0, 1), got \(settings.conditionDropout)")
    }
    if settings.conditionDropout > 0 && !(settings.method == .diffusion || settings.method == .flowMatching) {
      throw EstimatorError.unsupported("condition dropout needs a diffusion or flow-matching model")
    }
    if let c = constraints, c.count != parameterDimension {
      throw EstimatorError.shapeMismatch("\(c.count) constraints for \(parameterDimension) parameters")
    }
    var config = network ?? TimeMLPConfiguration(inputDimension: parameterDimension, conditionDimension: conditionDimension)
    config.inputDimension = parameterDimension
    config.conditionDimension = summary.map { conditionDimension - $0.inputDimension + $0.summaryDimension }
      ?? conditionDimension
    self.settings = settings
    var auxiliary: ParameterBuffer? = nil
    if settings.method == .stableConsistency {
      let s = settings.stableConsistency ?? StableConsistencySettings()
      try s.validate()
      self.settings.stableConsistency = s
      auxiliary = try AdaptiveWeightNetwork.make(configuration: s.weightNetwork, seed: seed).parameters
    }
    var summaryRng = Xoshiro(seed: seed, stream: 0x53_554D)
    var networkRng = Xoshiro(seed: seed)
    let inference: any ConditionalNetwork
    if let unet {
      inference = ConditionalUNet(configuration: unet, rng: &networkRng)
    } else if var t = transformer {
      (t.inputDimension, t.conditionDimension) = (config.inputDimension, config.conditionDimension)
      guard t.isValidShape else { throw EstimatorError.unsupported("transformer shape out of range") }
      inference = TokenTransformer(configuration: t, rng: &networkRng)
    } else {
      inference = TimeMLP(configuration: config, seed: seed)
    }
    self.model = TrainableModel(network: inference, summary: summary?.makeNetwork(rng: &summaryRng), auxiliary: auxiliary)
    self.transform = constraints.map(ConstraintTransform.init) ?? .identity(parameterDimension)
    _ = try objective(batchSize: 128, totalSteps: 1)
  }

  init(saved: SavedModel, settings: EstimatorSettings) {
    self.settings = settings
    self.model = saved.model
    self.parameterStandardizer = saved.parameterStandardizer
    self.conditionStandardizer = saved.conditionStandardizer
    self.transform = saved.transform
    self.emaWeights = saved.emaWeights
  }

  /// The training objective of the configured method; `totalSteps` sets the consistency curriculum length.
  public func objective(batchSize: Int, totalSteps: Int) throws -> any TrainingObjective {
    switch settings.method {
    case .diffusion:
      return try DiffusionObjective(configuration: settings.diffusion, conditionDropout: settings.conditionDropout)
    case .flowMatching:
      return try FlowMatchingObjective(settings: settings.flowMatching ?? FlowMatchingSettings(),
                                       conditionDropout: settings.conditionDropout)
    case .consistency:
      var c = settings.consistency ?? ConsistencyConfiguration(totalSteps: max(1, totalSteps))
      c.totalSteps = max(1, totalSteps)
      return try ConsistencyObjective(configuration: c, batchSize: batchSize)
    case .stableConsistency:
      return try StableConsistencyObjective(
        settings: settings.stableConsistency ?? StableConsistencySettings(), batchSize: batchSize)
    }
  }

  // MARK: Training

  func makeTrainer(_ configuration: TrainingConfiguration, stepsPerEpoch: Int, online: Bool = false) throws -> Trainer {
    let total = max(1, configuration.epochCap(stepsPerEpoch: stepsPerEpoch, online: online) * stepsPerEpoch)
    if settings.method == .consistency {
      var c = settings.consistency ?? ConsistencyConfiguration(totalSteps: total)
      c.totalSteps = total
      settings.consistency = c
    }
    return Trainer(
      model: model, objective: try objective(batchSize: configuration.batchSize, totalSteps: total),
      configuration: configuration, transform: transform, conditionDimension: conditionDimension)
  }

  /// Trains the estimator: the one entry for every kind of data.
  ///
  /// `data` is a fixed set of simulations in memory, shard files streamed one at a time, or a simulator called
  /// for every batch (online). The epoch loop is `Trainer.train(source:progress:)`; `configuration` sets epochs,
  /// batch size, optimizer (nil: AdamW offline, Adam online), EMA, validation and early stopping. With
  /// `checkpoint`, crash-safe checkpoints are written to its directory; with `resume` and a checkpoint present,
  /// training continues from it (the estimator must be built as for the interrupted run — same architecture,
  /// settings and seed — and `Threading.count` must be the same for bit-identical weights). A simulator must draw
  /// all its randomness from the generator it is given.
  @discardableResult
  public func train(
    _ data: TrainingData, configuration: TrainingConfiguration, checkpoint: CheckpointOptions? = nil,
    resume: Bool = false, progress: ((TrainingProgress) -> Void)? = nil
  ) throws -> TrainingHistory {
    if configuration.conditionTransform.map({ $0 != .identity }) == true && !configuration.standardizeConditions {
      throw EstimatorError.unsupported("a condition transform is part of the condition standardization")
    }
    if let b = configuration.timeBudget {
      guard b > 0 && b.isFinite else { throw EstimatorError.unsupported("the time budget must be a positive number of seconds") }
      if settings.method == .consistency {
        throw EstimatorError.unsupported("the consistency curriculum needs a number of steps; give epochs, not a time budget")
      }
    }
    if let g = configuration.conditionTransform, case .simulations(_, let x?) = data, g.countOutsideDomain(x) > 0 {
      throw EstimatorError.nonFiniteInput("the \(g.rawValue) data transform needs values above −1")
    }
    let source = TrainingSource(data, configuration: configuration, transform: transform,
                                conditionDimension: conditionDimension, conditionChannels: model.conditionChannels)
    do { try source.open() } catch let e as TrainingError {
      if case .shapeMismatch(let s) = e { throw EstimatorError.shapeMismatch(s) }
      throw e
    }
    let trainer = try makeTrainer(configuration, stepsPerEpoch: source.stepsPerEpoch, online: data.isOnline)
    if let checkpoint {
      trainer.checkpointing = checkpoint
      if resume { try trainer.resume(from: checkpoint.directory, mode: data.mode) }
    }
    let history = try trainer.train(source: source, progress: progress)
    lastSourceStatistics = trainer.sourceStatistics
    // Online, every step (taken or skipped) simulated one batch.
    let trained = data.isOnline
      ? (history.steps + history.skippedSteps) * configuration.batchSize : trainer.sourceStatistics.trainingRows
    absorb(trainer, history: history, simulations: trained + trainer.sourceStatistics.validationRows)
    return history
  }

  func absorb(_ trainer: Trainer, history: TrainingHistory, simulations: Int) {
    let saved = trainer.savedModel()
    parameterStandardizer = saved.parameterStandardizer
    conditionStandardizer = saved.conditionStandardizer
    emaWeights = saved.emaWeights
    settings.simulations += simulations
    settings.trainSeconds += history.seconds
    settings.lossHistory += history.loss
    settings.validationHistory += history.validationLoss
  }

  /// Records the built-in task the model was trained on (stored with the model's settings).
  public func setTask(_ name: String?) { settings.task = name }

  /// Records the prior the model is trained under, as a JSON `PriorSpecification` (stored with the model's
  /// settings; prior adaptation and composition use it as the training prior). Throws when it does not parse or
  /// its dimension differs from the model's.
  public func setTrainingPrior(specification json: String) throws {
    _ = try PriorSpecification.parse(Data(json.utf8), dimension: parameterDimension)
    settings.trainingPrior = json
  }

  /// What the last `train` call trained and validated on, and the rows it dropped (shards with NaN or infinity).
  public private(set) var lastSourceStatistics = SourceStatistics()

  // MARK: Sampling

  /// The weights sampling uses: the EMA copy when present.
  func withSamplingWeights<R>(_ body: () throws -> R) rethrows -> R {
    guard let ema = emaWeights, ema.count == model.buffers.count else { return try body() }
    let saved = model.buffers.map { $0.valueArray }
    for (b, w) in zip(model.buffers, ema) { b.valueArray = w }
    defer { for (b, w) in zip(model.buffers, saved) { b.valueArray = w } }
    return try body()
  }

  /// Standardized condition embeddings of raw observations [R, d_x] (the summary network applied, if any).
  func embedObservations(_ observations: Matrix) -> Matrix? {
    guard conditionDimension > 0 else { return nil }
    var c = observations
    if let s = conditionStandardizer { c = s.standardize(c) }
    var unused = Xoshiro(seed: 0)
    return model.embed(c, training: false, rng: &unused)
  }

  /// The condition the inference network sees for raw observation rows [R, d_x]: the standardized rows, passed
  /// through the summary network if there is one (with the sampling weights). This is the learned summary space
  /// in which the misspecification check compares observations with simulations.
  public func conditionEmbedding(_ observations: Matrix) throws -> Matrix {
    guard observations.cols == conditionDimension, conditionDimension > 0 else {
      throw EstimatorError.shapeMismatch(
        "observations have \(observations.cols) columns, the model expects \(conditionDimension)")
    }
    try checkObservations(observations)
    return withSamplingWeights { embedObservations(observations)! }
  }

  /// Refuses observation rows with ±Inf or NaN; with a summary network, items whose features are all NaN are
  /// padding (sets and series of different sizes), but partly missing items and rows without any item are refused.
  public func checkObservations(_ observations: Matrix) throws {
    let invalid = conditionChannels.map { NonFiniteRows.indices(in: observations, items: $0.items, width: $0.width) }
      ?? NonFiniteRows.indices(in: observations)
    if let g = conditionStandardizer?.transform, g.countOutsideDomain(observations) > 0 {
      throw EstimatorError.nonFiniteInput("the model's \(g.rawValue) data transform needs observation values above −1")
    }
    if let r = invalid.first {
      throw EstimatorError.nonFiniteInput(
        conditionChannels == nil ? "observation \(r + 1) contains NaN or infinity"
          : "observation \(r + 1) contains infinity, a partly missing item, or no item at all")
    }
  }

  /// Draws `count` posterior samples for every row of `observations` [R, d_x].
  ///
  /// Rows of (observation, sample) pairs are processed in batches of at most `maxBatchRows`; batch k uses the
  /// random stream `(seed, k)`, so results depend on the seed and `maxBatchRows` only. Adaptive samplers control
  /// the error over a whole batch, so the batch composition also affects their step sizes.
  public func sample(
    observations: Matrix, count: Int, sampler: SamplerKind? = nil, options: SamplerOptions = SamplerOptions(),
    seed: UInt64 = 0, maxBatchRows: Int = 16_384, progress: ((Int, Int) -> Void)? = nil
  ) throws -> PosteriorSamples {
    try sample(observations: observations, count: count, sampler: sampler, options: options, seed: seed,
               firstStream: 0, maxBatchRows: maxBatchRows, progress: progress)
  }

  /// `sample(observations:count:...)` with batch k drawing from the stream (seed, firstStream + k).
  func sample(
    observations: Matrix, count: Int, sampler: SamplerKind?, options: SamplerOptions, seed: UInt64,
    firstStream: UInt64, maxBatchRows: Int, progress: ((Int, Int) -> Void)?
  ) throws -> PosteriorSamples {
    guard observations.cols == conditionDimension else {
      throw EstimatorError.shapeMismatch(
        "observations have \(observations.cols) columns, the model expects \(conditionDimension)")
    }
    try checkObservations(observations)
    guard count > 0 else { return PosteriorSamples(samples: [], evaluations: 0, steps: 0, nonFiniteRows: 0, seconds: 0) }
    let start = Date()
    let kind = sampler ?? defaultSampler
    let d = parameterDimension
    // The summary network reads the observations with the same (EMA) weights the inference network samples with.
    let embedded = withSamplingWeights { embedObservations(observations) }
    let r = observations.rows
    var out = (0..<r).map { _ in Matrix(rows: count, cols: d) }
    var evaluations = 0, steps = 0, nonFinite = 0
    // Work items: (observation, sample range).
    let perBatch = max(1, maxBatchRows)
    var items: [(obs: Int, range: Range<Int>)] = []
    for i in 0..<r {
      var s = 0
      while s < count {
        let e = min(count, s + perBatch)
        items.append((i, s..<e))
        s = e
      }
    }
    // Group consecutive items into batches of at most perBatch rows.
    var batches: [[(obs: Int, range: Range<Int>)]] = []
    var current: [(obs: Int, range: Range<Int>)] = []
    var rows = 0
    for item in items {
      if rows + item.range.count > perBatch && !current.isEmpty {
        batches.append(current)
        current = []
        rows = 0
      }
      current.append(item)
      rows += item.range.count
    }
    if !current.isEmpty { batches.append(current) }

    try withSamplingWeights {
      for (k, batch) in batches.enumerated() {
        let n = batch.reduce(0) { $0 + $1.range.count }
        var features: TimeMLP.ConditionFeatures? = nil
        var rowConditions: Matrix? = nil
        if let e = embedded {
          var idx: [Int] = []
          idx.reserveCapacity(n)
          for item in batch { idx.append(contentsOf: repeatElement(item.obs, count: item.range.count)) }
          // The condition's part of the TimeMLP's input stage, once per observation instead of once per row and
          // step; other networks read one condition row per sample.
          if let mlp = model.timeMLP { features = mlp.conditionFeatures(distinct: e, index: idx) } else {
            rowConditions = e.gatherRows(idx)
          }
        }
        var rng = Xoshiro(seed: seed, stream: firstStream &+ UInt64(k))
        let result = try sampleStandardized(
          rows: n, condition: rowConditions, features: features, sampler: kind, options: options, rng: &rng)
        evaluations += result.evaluations
        steps += result.steps
        nonFinite += result.nonFiniteRows
        let theta = toParameterSpace(result.samples)
        var offset = 0
        for item in batch {
          theta.withUnsafeBufferPointer { src in
            out[item.obs].withUnsafeMutableBufferPointer { dst in
              (dst.baseAddress! + item.range.lowerBound * d).update(
                from: src.baseAddress! + offset * d, count: item.range.count * d)
            }
          }
          offset += item.range.count
        }
        progress?(k + 1, batches.count)
      }
    }
    return PosteriorSamples(samples: out, evaluations: evaluations, steps: steps, nonFiniteRows: nonFinite,
                            seconds: Date().timeIntervalSince(start), streams: batches.count)
  }

  /// The sampler used when none is given: the diffusion configuration's (EDM stochastic, 25 steps, by default), Tsit5
  /// with adaptive steps for flow matching; consistency models (discrete: 11 evaluations, stable: 15 steps and 14
  /// evaluations) always use their own multistep sampler and ignore the sampler argument.
  public var defaultSampler: SamplerKind {
    switch settings.method {
    case .flowMatching: return .tsit5
    default: return settings.diffusion.sampler
    }
  }

  /// The sampler used for `inference` when none is given: DPM-Solver++(2M) (50 steps) for composed posteriors,
  /// `defaultSampler` otherwise. Composed scores add J networks' errors, and the adaptive samplers answer them with
  /// many small steps (about nine times the evaluations at J = 20) without better calibration
  /// (Documentation/Composition.md, "Defaults").
  public func defaultSampler(for inference: InferenceOptions) -> SamplerKind {
    inference.composition != nil ? .dpmSolver2M : defaultSampler
  }

  /// Draws `rows` standardized samples for the embedded conditions of a batch (one condition row per sample).
  /// With `features` (of the same rows' conditions, `TimeMLP.ConditionFeatures`) the network reads the
  /// condition's part of its input stage from them.
  func sampleStandardized(
    rows n: Int, condition: Matrix?, features: TimeMLP.ConditionFeatures? = nil, sampler kind: SamplerKind,
    options: SamplerOptions, rng: inout Xoshiro
  ) throws -> SamplingResult {
    let d = parameterDimension
    let network = model.network
    let predict: (Matrix, Float) -> Matrix = { input, tau in
      let time = [Float](repeating: tau, count: input.rows)
      if let features, let mlp = network as? TimeMLP { return mlp.predict(input, time: time, conditionFeatures: features) }
      return network.predict(input, time: time, condition: condition)
    }
    switch settings.method {
    case .diffusion:
      let schedule = try settings.diffusion.makeSchedule()
      let denoiser = settings.diffusion.prediction.denoiser(schedule: schedule, network: predict)
      let initial = priorSample(rows: n, cols: d, schedule: schedule, rng: &rng)
      return try Diffusion.sample(kind, denoiser: denoiser, initial: initial, schedule: schedule, options: options,
                                  rng: &rng)
    case .flowMatching:
      let initial = rng.normalMatrix(rows: n, cols: d)
      return try sampleFlowMatching(
        kind, velocity: { x, s in predict(x, Float(s)) }, initial: initial, options: options, rng: &rng)
    case .consistency:
      let c = settings.consistency ?? ConsistencyConfiguration(totalSteps: 1)
      let f = consistencyFunction(network: predict, configuration: c)
      let initial = rng.normalMatrix(rows: n, cols: d)
      let r = try sampleConsistency(consistency: f, initial: initial, configuration: c, rng: &rng)
      return SamplingResult(
        samples: r.samples, evaluations: r.evaluations, nonFiniteRows: r.nonFiniteRows, steps: r.evaluations,
        rejectedSteps: 0)
    case .stableConsistency:
      let c = (settings.stableConsistency ?? StableConsistencySettings()).configuration
      let f = stableConsistencyFunction(network: predict, sigmaData: c.sigmaData)
      let initial = rng.normalMatrix(rows: n, cols: d)
      let r = try sampleStableConsistency(consistency: f, initial: initial, configuration: c, rng: &rng)
      return SamplingResult(
        samples: r.samples, evaluations: r.evaluations, nonFiniteRows: r.nonFiniteRows, steps: r.evaluations,
        rejectedSteps: 0)
    }
  }

  /// Standardized unconstrained samples → original parameter space.
  public func toParameterSpace(_ z: Matrix) -> Matrix {
    var theta = z
    if let s = parameterStandardizer { theta = s.destandardize(theta) }
    return transform.inverse(theta)
  }

  // MARK: Model files

  /// Writes the model directory (config JSON + safetensors weights), atomically per file.
  public func save(to path: String) throws {
    let data = try JSONEncoder().encode(settings)
    let json = try JSONDecoder().decode(JSONValue.self, from: data)
    let saved = SavedModel(
      model: model, parameterStandardizer: parameterStandardizer, conditionStandardizer: conditionStandardizer,
      transform: transform, estimatorSettings: json, emaWeights: emaWeights)
    try ModelFile.save(saved, to: path)
  }

  /// Reads a model directory written by `save(to:)`. A directory that holds an ensemble is refused (read it with
  /// `PosteriorEnsemble.load(from:)`, which also reads single models).
  public static func load(from path: String) throws -> PosteriorEstimator {
    let e = try loadMember(from: path)
    if let k = e.settings.ensembleMembers {
      throw EstimatorError.unsupported(
        "\(path) holds an ensemble of \(k) estimators; this takes a single model (train it without --ensemble)")
    }
    return e
  }

  /// Reads one model directory, whether or not it heads an ensemble; a hierarchical model is refused.
  static func loadMember(from path: String) throws -> PosteriorEstimator {
    if HierarchicalEstimator.isHierarchicalDirectory(path) {
      throw EstimatorError.wrongModelKind(
        "\(path) holds a hierarchical model (a global and a local network), not a single posterior estimator")
    }
    let saved = try ModelFile.load(from: path)
    let settings: EstimatorSettings
    do {
      let data = try JSONEncoder().encode(saved.estimatorSettings)
      settings = try JSONDecoder().decode(EstimatorSettings.self, from: data)
    } catch {
      throw EstimatorError.invalidModel("\(path): estimator settings are missing or malformed")
    }
    if settings.method == .stableConsistency {
      guard let aux = saved.model.auxiliary else {
        throw EstimatorError.invalidModel("\(path): a stable-consistency model without its weight network")
      }
      do {
        _ = try AdaptiveWeightNetwork.attach(
          configuration: (settings.stableConsistency ?? StableConsistencySettings()).weightNetwork, to: aux)
      } catch {
        throw EstimatorError.invalidModel("\(path): \(error)")
      }
    }
    return PosteriorEstimator(saved: saved, settings: settings)
  }
}

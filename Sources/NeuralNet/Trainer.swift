// Online and offline training loops.

import Foundation
import NumericCore

/// Settings of a training run. The defaults are the library's, the CLI's and the benchmarks' alike (the review's
/// case study 1, Documentation/Methods.md §4): batch 128, peak learning rate 5e-4 with 5 % warm-up and cosine
/// decay, gradient clipping at global norm 1.5, AdamW with weight decay 5e-3 for offline data and Adam online.
/// `TrainingConfiguration()` trains exactly `epochs` epochs without validation; the CLI and the benchmarks start
/// offline runs from `converging` (validation split, early stopping, an epoch cap that follows the data).
public struct TrainingConfiguration: Sendable, Codable, Equatable {
  public var epochs = 100
  public var batchSize = 128
  /// Batches per epoch in online training (offline: the dataset size decides, see `epochSteps(rows:batchSize:)`).
  public var stepsPerEpoch = 250
  public var learningRate: Float = 5e-4
  public var warmupFraction = 0.05
  /// The optimizer; nil takes the review's choice for the data: AdamW (weight decay 5e-3) offline, Adam online.
  public var optimizer: AdamConfiguration?
  /// Keep a power EMA of the weights (γ = `emaGamma`).
  public var useEMA = false
  public var emaGamma = 6.94
  public var seed: UInt64 = 0
  /// Offline (arrays and shards): fraction of the rows held out for validation.
  public var validationFraction = 0.0
  /// Online: number of validation simulations drawn once before training.
  public var validationSimulations = 0
  /// Stop after this many epochs without a better validation loss (nil: never); optionally restore the best.
  public var earlyStoppingPatience: Int?
  public var restoreBestWeights = true
  public var standardizeParameters = true
  public var standardizeConditions = true
  /// Element transform of the conditions before their standardization (nil: none), stored with the condition
  /// standardizer so that sampling applies it too; it needs `standardizeConditions`.
  public var conditionTransform: ElementTransform?
  /// Offline (arrays and shards): the epoch cap rises until training may take at least this many optimizer steps
  /// (nil: `epochs` as given). See `epochCap(stepsPerEpoch:online:)`.
  public var minimumSteps: Int?
  /// Offline: the epoch cap falls until training takes at most this many optimizer steps (at least one epoch; nil:
  /// no limit). Applied after `minimumSteps`.
  public var maximumSteps: Int?
  /// Early stopping also waits at least this many optimizer steps, rounded up to whole epochs (nil: only
  /// `earlyStoppingPatience` epochs), so that tiny epochs of small data sets do not stop training at once.
  public var minimumPatienceSteps: Int?
  /// Wall-clock seconds of training (nil: no limit). With a budget, training stops at the first step that ends
  /// after the budget, `epochs` is ignored, and the learning-rate schedule runs over the elapsed fraction of the
  /// budget instead of the fraction of steps taken.
  public var timeBudget: Double?

  public init() {}

  /// The training of `diffsbi train` on offline data, made to converge (Documentation/Methods.md §4.7): 10 % of
  /// the rows held out for the validation loss, early stopping after 10 epochs and at least 2,000 optimizer steps
  /// without a better validation loss, with the best weights restored, and the cap of 100 epochs stretched to at
  /// least 10,000 and shrunk to at most 100,000 optimizer steps.
  public static var converging: TrainingConfiguration {
    var c = TrainingConfiguration()
    c.validationFraction = 0.1
    c.earlyStoppingPatience = 10
    c.minimumPatienceSteps = 2_000
    c.minimumSteps = 10_000
    c.maximumSteps = 100_000
    return c
  }

  /// Epochs to train at most for data with `stepsPerEpoch` steps per epoch: `epochs`, raised to reach
  /// `minimumSteps` and then lowered to stay within `maximumSteps` (never below one). Online data take `epochs`.
  public func epochCap(stepsPerEpoch: Int, online: Bool) -> Int {
    var e = max(1, epochs)
    guard !online, stepsPerEpoch > 0 else { return e }
    if let m = minimumSteps { e = max(e, (m + stepsPerEpoch - 1) / stepsPerEpoch) }
    if let m = maximumSteps { e = min(e, max(1, m / stepsPerEpoch)) }
    return e
  }

  /// Epochs without a better validation loss after which training stops (nil: never): `earlyStoppingPatience`,
  /// raised to cover `minimumPatienceSteps`.
  public func patience(stepsPerEpoch: Int) -> Int? {
    guard let p = earlyStoppingPatience else { return nil }
    guard let m = minimumPatienceSteps, stepsPerEpoch > 0 else { return p }
    return max(p, (m + stepsPerEpoch - 1) / stepsPerEpoch)
  }

  /// The optimizer used for offline (`online == false`) or online data.
  public func resolvedOptimizer(online: Bool) -> AdamConfiguration {
    optimizer ?? (online ? .adam : .adamW)
  }

  /// Online training with a total budget of `simulations`: as many steps per epoch as the budget allows
  /// (at least one), `epochs × stepsPerEpoch × batchSize` simulations in all.
  public mutating func spreadOnlineBudget(_ simulations: Int) {
    stepsPerEpoch = max(1, simulations / max(1, epochs * batchSize))
  }
}

/// Progress of one optimizer step, for progress displays.
public struct TrainingProgress: Sendable {
  public var epoch: Int
  /// The epoch cap of the run (`TrainingConfiguration.epochCap`; nil with a time budget).
  public var epochs: Int? = nil
  public var step: Int
  public var totalSteps: Int
  public var loss: Float
  public var learningRate: Float
  public var gradientNorm: Double
  public var skipped: Bool
}

/// What happened during training.
public struct TrainingHistory: Sendable, Codable, Equatable {
  /// Mean training loss per epoch (over the steps that were not skipped).
  public var loss: [Double] = []
  /// Validation loss per epoch (empty without validation data).
  public var validationLoss: [Double] = []
  public var steps = 0
  /// Steps skipped because the loss or a gradient was not finite.
  public var skippedSteps = 0
  public var stoppedEarly = false
  public var seconds = 0.0
  /// The epoch (0-based) with the lowest validation loss (nil without validation data). With early stopping the
  /// weights of that epoch are the ones kept.
  public var bestEpoch: Int?
  /// Whether training ended because `TrainingConfiguration.timeBudget` was spent.
  public var reachedTimeBudget: Bool?
}

/// Trains a `TrainableModel` on a `TrainingObjective`.
///
/// Each step: draw or slice a batch, map θ through the constraint transform, standardize θ and the conditions,
/// split the batch into up to `Threading.count` shards of at least `minimumShardRows` rows that run forward and
/// backward on replicas (BLAS single-threaded inside), reduce the gradients in shard order weighted by shard size
/// (fused with the blocks of the gradient norm), skip the step if the loss or the
/// gradient norm is not finite, clip, update (Adam/AdamW), and fold the weights into the EMA.
/// Random streams are derived from (seed, step, shard), so a run is reproducible for a seed and thread count.
public final class Trainer: @unchecked Sendable {
  public let model: TrainableModel
  public let objective: any TrainingObjective
  public let configuration: TrainingConfiguration
  public let transform: ConstraintTransform
  public var parameterStandardizer: Standardizer
  public var conditionStandardizer: Standardizer?
  /// The optimizer (its configuration is settled by the first `train` call when `configuration.optimizer` is nil).
  public private(set) var optimizer: AdamOptimizer
  public let ema: PowerEMA?
  /// Width of one raw condition row (0: unconditional).
  public let conditionDimension: Int
  /// Rows the last `train` call trained and validated on, and rows it dropped.
  public internal(set) var sourceStatistics = SourceStatistics()
  public internal(set) var history = TrainingHistory()
  var replicas: [TrainableModel] = []
  /// Periodic checkpoints (nil: none). See `CheckpointOptions` and `resume(from:mode:)`.
  public var checkpointing: CheckpointOptions?
  /// Checkpoints written by this trainer.
  public internal(set) var checkpointsWritten = 0
  /// Descriptions of checkpoint writes that failed (training continued).
  public internal(set) var checkpointFailures: [String] = []
  var pendingCheckpoint: TrainingCheckpoint?
  var lastCheckpoint = Date()

  public init(
    model: TrainableModel, objective: any TrainingObjective, configuration: TrainingConfiguration,
    transform: ConstraintTransform? = nil, conditionDimension: Int? = nil
  ) {
    self.model = model
    self.objective = objective
    self.configuration = configuration
    let d = model.network.inputDimension
    self.transform = transform ?? .identity(d)
    parameterStandardizer = Standardizer(dimension: d)
    let dc = conditionDimension ?? model.conditionDimension
    self.conditionDimension = dc
    conditionStandardizer = dc > 0
      ? Standardizer(dimension: dc, channels: model.conditionChannels, transform: configuration.conditionTransform) : nil
    optimizer = AdamOptimizer(configuration: configuration.resolvedOptimizer(online: false))
    ema = configuration.useEMA ? PowerEMA(gamma: configuration.emaGamma) : nil
  }

  /// θ (constrained) → standardized unconstrained coordinates, and standardized conditions.
  public func prepare(parameters: Matrix, conditions: Matrix?) -> TrainingBatch {
    var theta = transform.forward(parameters)
    if configuration.standardizeParameters { theta = parameterStandardizer.standardize(theta) }
    var cond = conditions
    if let c = cond, configuration.standardizeConditions, let s = conditionStandardizer { cond = s.standardize(c) }
    return TrainingBatch(parameters: theta, conditions: cond)
  }

  /// Settles the optimizer for the data before the first step (nil in the configuration: Adam online).
  func prepareOptimizer(online: Bool) {
    let wanted = configuration.resolvedOptimizer(online: online)
    if optimizer.step == 0 && optimizer.configuration != wanted { optimizer = AdamOptimizer(configuration: wanted) }
  }

  func updateStandardizers(parameters: Matrix, conditions: Matrix?) {
    parameterStandardizer.update(transform.forward(parameters))
    if let c = conditions { conditionStandardizer?.update(c) }
  }

  /// The fewest rows a data-parallel shard of a training step gets (see `step(_:learningRate:)`).
  nonisolated(unsafe) public static var minimumShardRows = 16

  /// One optimizer step on a prepared batch; returns the loss (NaN when skipped).
  @discardableResult
  public func step(_ batch: TrainingBatch, learningRate: Float) -> (loss: Float, gradientNorm: Double, skipped: Bool) {
    let stepIndex = UInt64(optimizer.step + history.skippedSteps)
    let b = batch.count
    let shards = max(1, min(Threading.count, b / Trainer.minimumShardRows))
    while replicas.count < shards - 1 { replicas.append(model.replica()) }
    let models = [model] + replicas.prefix(shards - 1)
    let ranges = chunkRanges(count: b, chunks: shards)
    var losses = [Float](repeating: 0, count: shards)
    let seed = configuration.seed
    let objective = self.objective
    let norm: Double
    if shards == 1 {
      model.zeroGradients()
      var rng = Xoshiro(seed: seed, stream: stepIndex << 8)
      losses[0] = objective.lossAndGradient(model: model, batch: batch, rng: &rng)
      norm = AdamOptimizer.gradientNorm(model.buffers)
    } else {
      let shardBatches = ranges.map { r in
        TrainingBatch(parameters: batch.parameters.rows(r), conditions: batch.conditions?.rows(r))
      }
      let box = UncheckedSendableBox((models, shardBatches))
      losses.withUnsafeMutableBufferPointer { lp in
        let out = UnsafeSendablePointer(lp.baseAddress!)
        withSingleThreadedBLAS(true) {
          parallelFor(count: shards, chunks: shards) { _, range in
            for s in range {
              box.value.0[s].zeroGradients()
              var rng = Xoshiro(seed: seed, stream: stepIndex << 8 | UInt64(s))
              out.base[s] = objective.lossAndGradient(model: box.value.0[s], batch: box.value.1[s], rng: &rng)
            }
          }
        }
      }
      // Reduce g = Σ (n_s / B) g_s in shard order, block by block, and sum each block's squares while it is in
      // cache (the norm's blocks, see `AdamOptimizer.gradientNorm`). Elementwise, so the reduced gradient does not
      // depend on how the blocks are spread over threads.
      let weights = ranges.map { Float($0.count) / Float(b) }
      let parts = UncheckedSendableBox(model.buffers.indices.map { i in
        models.map { UnsafeSendablePointer($0.buffers[i].gradients) }
      })
      norm = AdamOptimizer.blockSums(model.buffers) { i, start, n in
        let dst = parts.value[i][0].base + start
        Kernels.scale(count: n, dst, by: weights[0])
        for s in 1..<shards { Kernels.axpy(count: n, alpha: weights[s], x: parts.value[i][s].base + start, y: dst) }
      }.reduce(0, +).squareRoot()
    }
    var loss: Float = 0
    for (s, r) in ranges.enumerated() { loss += losses[s] * Float(r.count) / Float(b) }
    guard loss.isFinite && norm.isFinite else {
      history.skippedSteps += 1
      model.zeroGradients()
      return (.nan, norm, true)
    }
    optimizer.update(model.buffers, learningRate: learningRate, gradientNorm: norm, ema: ema)
    history.steps += 1
    return (loss, norm, false)
  }
}

// Online and offline training loops.

import Foundation
import NumericCore

/// Settings of a training run (defaults: the review's case study 1, Documentation/Methods.md §4 and §10).
public struct TrainingConfiguration: Sendable, Codable, Equatable {
  public var epochs = 1000
  public var batchSize = 128
  /// Batches per epoch in online training (offline: the dataset size decides).
  public var stepsPerEpoch = 250
  public var learningRate: Float = 5e-4
  public var warmupFraction = 0.05
  public var optimizer = AdamConfiguration.adam
  /// Keep a power EMA of the weights (γ = `emaGamma`).
  public var useEMA = false
  public var emaGamma = 6.94
  public var seed: UInt64 = 0
  /// Offline: fraction of the dataset held out for validation. Online: number of validation simulations.
  public var validationFraction = 0.0
  public var validationSimulations = 0
  /// Stop after this many epochs without a better validation loss (nil: never); optionally restore the best.
  public var earlyStoppingPatience: Int?
  public var restoreBestWeights = true
  public var standardizeParameters = true
  public var standardizeConditions = true

  public init() {}
}

/// Progress of one optimizer step, for progress displays.
public struct TrainingProgress: Sendable {
  public var epoch: Int
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
}

/// Trains a `TrainableModel` on a `TrainingObjective`.
///
/// Each step: draw or slice a batch, map θ through the constraint transform, standardize θ and the conditions,
/// split the batch into `Threading.count` shards that run forward and backward on replicas (BLAS single-threaded
/// inside), reduce the gradients in shard order weighted by shard size, skip the step if the loss or the
/// gradient norm is not finite, clip, update (Adam/AdamW), and fold the weights into the EMA.
/// Random streams are derived from (seed, step, shard), so a run is reproducible for a seed and thread count.
public final class Trainer: @unchecked Sendable {
  public let model: TrainableModel
  public let objective: any TrainingObjective
  public let configuration: TrainingConfiguration
  public let transform: ConstraintTransform
  public var parameterStandardizer: Standardizer
  public var conditionStandardizer: Standardizer?
  public let optimizer: AdamOptimizer
  public let ema: PowerEMA?
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
    let d = model.network.configuration.inputDimension
    self.transform = transform ?? .identity(d)
    parameterStandardizer = Standardizer(dimension: d)
    let dc = conditionDimension ?? (model.summary?.inputDimension ?? model.network.configuration.conditionDimension)
    conditionStandardizer = dc > 0 ? Standardizer(dimension: dc) : nil
    optimizer = AdamOptimizer(configuration: configuration.optimizer)
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

  func updateStandardizers(parameters: Matrix, conditions: Matrix?) {
    parameterStandardizer.update(transform.forward(parameters))
    if let c = conditions { conditionStandardizer?.update(c) }
  }

  /// One optimizer step on a prepared batch; returns the loss (NaN when skipped).
  @discardableResult
  public func step(_ batch: TrainingBatch, learningRate: Float) -> (loss: Float, gradientNorm: Double, skipped: Bool) {
    let stepIndex = UInt64(optimizer.step + history.skippedSteps)
    let b = batch.count
    let shards = max(1, min(Threading.count, b / 32))
    while replicas.count < shards - 1 { replicas.append(model.replica()) }
    let models = [model] + replicas.prefix(shards - 1)
    let ranges = chunkRanges(count: b, chunks: shards)
    var losses = [Float](repeating: 0, count: shards)
    let seed = configuration.seed
    let objective = self.objective
    for m in models { m.zeroGradients() }
    if shards == 1 {
      var rng = Xoshiro(seed: seed, stream: stepIndex << 8)
      losses[0] = objective.lossAndGradient(model: model, batch: batch, rng: &rng)
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
              var rng = Xoshiro(seed: seed, stream: stepIndex << 8 | UInt64(s))
              out.base[s] = objective.lossAndGradient(model: box.value.0[s], batch: box.value.1[s], rng: &rng)
            }
          }
        }
      }
      // Reduce: g = Σ (n_s / B) g_s, in shard order.
      // Elementwise, so splitting the reduction over threads keeps the result independent of the split.
      for (i, buf) in model.buffers.enumerated() {
        let weights = ranges.map { Float($0.count) / Float(b) }
        let parts = UncheckedSendableBox(models.map { UnsafeSendablePointer($0.buffers[i].gradients) })
        parallelFor(count: buf.count, minimumPerChunk: 1 << 16) { _, r in
          let dst = parts.value[0].base + r.lowerBound
          Kernels.scale(count: r.count, dst, by: weights[0])
          for s in 1..<shards {
            Kernels.axpy(count: r.count, alpha: weights[s], x: parts.value[s].base + r.lowerBound, y: dst)
          }
        }
      }
    }
    var loss: Float = 0
    for (s, r) in ranges.enumerated() { loss += losses[s] * Float(r.count) / Float(b) }
    let norm = AdamOptimizer.gradientNorm(model.buffers)
    guard loss.isFinite && norm.isFinite else {
      history.skippedSteps += 1
      model.zeroGradients()
      return (.nan, norm, true)
    }
    optimizer.update(model.buffers, learningRate: learningRate)
    ema?.update(model.buffers)
    history.steps += 1
    return (loss, norm, false)
  }
}

// The epoch loop: the one place where training epochs happen, for every kind of training data.

import Foundation
import NumericCore

/// Errors of the training loop.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
  case emptyDataset
  case shapeMismatch(String)

  public var description: String {
    switch self {
    case .emptyDataset: return "the training set is empty (after the validation split)"
    case .shapeMismatch(let s): return "training data shapes do not match: \(s)"
    }
  }
}

extension Trainer {
  /// Trains on `data`: in-memory simulations, streamed shards, or a simulator called for every batch.
  ///
  /// Each epoch takes `TrainingSource.stepsPerEpoch` steps (offline: one pass over the training rows in full
  /// batches, see `epochSteps(rows:batchSize:)`; online: `configuration.stepsPerEpoch` fresh batches). Offline
  /// data get a seeded validation split (`validationFraction`), online training simulates `validationSimulations`
  /// pairs once; the validation loss is evaluated after every epoch, and with `earlyStoppingPatience` training
  /// stops after that many epochs without improvement and restores the best weights. The learning rate follows
  /// warm-up + cosine decay over all steps. With `checkpointing` set, crash-safe checkpoints are written as the
  /// loop goes, and `resume(from:mode:)` before this call continues an interrupted run bit for bit.
  @discardableResult
  public func train(_ data: TrainingData, progress: ((TrainingProgress) -> Void)? = nil) throws -> TrainingHistory {
    try train(source: makeSource(data), progress: progress)
  }

  /// The batch source of `data` for this trainer's model and configuration (opened by `train`).
  public func makeSource(_ data: TrainingData) -> TrainingSource {
    TrainingSource(data, configuration: configuration, transform: transform, conditionDimension: conditionDimension,
                   conditionChannels: model.conditionChannels)
  }

  /// Trains on an opened or unopened source made by `makeSource(_:)` (see `train(_:progress:)`).
  @discardableResult
  public func train(source: TrainingSource, progress: ((TrainingProgress) -> Void)? = nil) throws -> TrainingHistory {
    let c = configuration
    try source.open()
    prepareOptimizer(online: source.data.isOnline)
    let perEpoch = source.stepsPerEpoch
    let total = c.epochs * perEpoch
    let schedule = LearningRateSchedule(peak: c.learningRate, totalSteps: total, warmupFraction: c.warmupFraction)
    let start = Date()
    lastCheckpoint = start
    let mode = source.data.mode
    var loop: TrainingLoopState
    if let restored = takeCheckpoint(mode: mode) {
      loop = restored
    } else {
      source.fitStatistics(self)
      loop = TrainingLoopState(rng: source.initialStream)
    }
    sourceStatistics = source.statistics
    if loop.completed { return history }
    while loop.epoch < c.epochs {
      source.beginEpoch(loop.epoch, stream: loop.rng)
      for s in loop.nextStep..<perEpoch {
        let (theta, x) = try source.batch(step: s, stream: &loop.rng)
        if source.updatesStatisticsPerBatch { updateStandardizers(parameters: theta, conditions: x) }
        let lr = schedule(optimizer.step)
        let r = step(prepare(parameters: theta, conditions: x), learningRate: lr)
        if !r.skipped { loop.lossSum += Double(r.loss); loop.lossCount += 1 }
        loop.nextStep = s + 1
        progress?(TrainingProgress(epoch: loop.epoch, step: loop.epoch * perEpoch + s, totalSteps: total,
                                   loss: r.loss, learningRate: lr, gradientNorm: r.gradientNorm, skipped: r.skipped))
        checkpointIfDue(loop, mode: mode)
      }
      let mean = loop.lossCount > 0 ? loop.lossSum / Double(loop.lossCount) : .nan
      let stop = endEpoch(epoch: loop.epoch, meanLoss: mean, validation: source.validation, best: &loop.best)
      source.endEpoch(stream: &loop.rng)
      loop.epoch += 1
      loop.nextStep = 0
      loop.lossSum = 0
      loop.lossCount = 0
      if stop { break }
    }
    finish(best: loop.best, start: start)
    loop.completed = true
    checkpointIfDue(loop, mode: mode, force: true)
    return history
  }

  /// Mean validation loss over batches of `configuration.batchSize` (evaluation mode, fixed random stream, so
  /// the curve is comparable across epochs).
  public func validationLoss(parameters: Matrix, data: Matrix?) -> Double {
    let b = max(1, configuration.batchSize)
    var rng = Xoshiro(seed: configuration.seed, stream: 0x7A11D)
    var total = 0.0
    var start = 0
    while start < parameters.rows {
      let r = start..<min(start + b, parameters.rows)
      let batch = prepare(parameters: parameters.rows(r), conditions: data?.rows(r))
      total += Double(objective.validationLoss(model: model, batch: batch, rng: &rng)) * Double(r.count)
      start = r.upperBound
    }
    return total / Double(max(parameters.rows, 1))
  }

  /// Records the epoch; returns true when early stopping triggers.
  func endEpoch(
    epoch: Int, meanLoss: Double, validation: (parameters: Matrix, data: Matrix?)?,
    best: inout (loss: Double, epoch: Int, values: [[Float]])
  ) -> Bool {
    history.loss.append(meanLoss)
    guard let validation else { return false }
    let v = validationLoss(parameters: validation.parameters, data: validation.data)
    history.validationLoss.append(v)
    guard let patience = configuration.earlyStoppingPatience else { return false }
    if v < best.loss {
      best = (v, epoch, configuration.restoreBestWeights ? model.buffers.map { $0.valueArray } : [])
    } else if epoch - best.epoch >= patience {
      history.stoppedEarly = true
      return true
    }
    return false
  }

  func finish(best: (loss: Double, epoch: Int, values: [[Float]]), start: Date) {
    if history.stoppedEarly && !best.values.isEmpty {
      for (buf, v) in zip(model.buffers, best.values) { buf.valueArray = v }
    }
    history.seconds += Date().timeIntervalSince(start)
  }
}

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
  ///
  /// The number of epochs is `configuration.epochCap(stepsPerEpoch:online:)`; with `configuration.timeBudget`,
  /// training instead runs epoch after epoch until the budget is spent (the last epoch may be partial) and the
  /// learning rate follows the schedule at the elapsed fraction of the budget. The elapsed time is kept in
  /// checkpoints, so a resumed run only spends what is left (a time-budgeted run is not bit-identical on resume).
  @discardableResult
  public func train(source: TrainingSource, progress: ((TrainingProgress) -> Void)? = nil) throws -> TrainingHistory {
    let c = configuration
    try source.open()
    prepareOptimizer(online: source.data.isOnline)
    let perEpoch = source.stepsPerEpoch
    let epochs = c.epochCap(stepsPerEpoch: perEpoch, online: source.data.isOnline)
    let patience = c.patience(stepsPerEpoch: perEpoch)
    let budget = c.timeBudget
    let total = budget == nil ? epochs * perEpoch : Self.budgetScheduleResolution
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
    let secondsBefore = loop.seconds
    var timeUp = false
    while budget != nil || loop.epoch < epochs {
      source.beginEpoch(loop.epoch, stream: loop.rng)
      for s in loop.nextStep..<perEpoch {
        let (theta, x) = try source.batch(step: s, stream: &loop.rng)
        if source.updatesStatisticsPerBatch { updateStandardizers(parameters: theta, conditions: x) }
        let fraction = budget.map { min(1, (secondsBefore + Date().timeIntervalSince(start)) / max($0, 1e-9)) }
        let lr = fraction.map { schedule(Int($0 * Double(total))) } ?? schedule(optimizer.step)
        let r = step(prepare(parameters: theta, conditions: x), learningRate: lr)
        if !r.skipped { loop.lossSum += Double(r.loss); loop.lossCount += 1 }
        loop.nextStep = s + 1
        loop.seconds = secondsBefore + Date().timeIntervalSince(start)
        let index = loop.epoch * perEpoch + s
        // With a budget the total is estimated from the pace so far.
        let steps = budget.map { b in max(index + 1, Int(Double(index + 1) * b / max(loop.seconds, 1e-9))) } ?? total
        progress?(TrainingProgress(epoch: loop.epoch, epochs: budget == nil ? epochs : nil, step: index, totalSteps: steps,
                                   loss: r.loss, learningRate: lr, gradientNorm: r.gradientNorm, skipped: r.skipped))
        if let b = budget, loop.seconds >= b { timeUp = true }
        checkpointIfDue(loop, mode: mode)
        if timeUp { break }
      }
      let mean = loop.lossCount > 0 ? loop.lossSum / Double(loop.lossCount) : .nan
      let stop = endEpoch(epoch: loop.epoch, meanLoss: mean, validation: source.validation, patience: patience,
                          best: &loop.best)
      source.endEpoch(stream: &loop.rng)
      loop.epoch += 1
      loop.nextStep = 0
      loop.lossSum = 0
      loop.lossCount = 0
      if stop || timeUp { break }
    }
    if budget != nil { history.reachedTimeBudget = timeUp }
    finish(best: loop.best, start: start)
    loop.completed = true
    loop.seconds = secondsBefore + Date().timeIntervalSince(start)
    checkpointIfDue(loop, mode: mode, force: true)
    return history
  }

  /// Steps of the learning-rate schedule laid over a time budget (the elapsed fraction picks the step).
  static let budgetScheduleResolution = 1_000_000

  /// The weights that sampling uses, as value arrays: the EMA average when one is kept (and has been updated),
  /// otherwise the current weights. Validation, the best-weights snapshot and the saved model all use these.
  public var evaluationWeights: [[Float]] {
    if let ema, !ema.shadow.isEmpty { return ema.shadow }
    return model.buffers.map(\.valueArray)
  }

  /// Runs `body` with the EMA average loaded into the model (when one is kept), restoring the weights after.
  func withEvaluationWeights<R>(_ body: () throws -> R) rethrows -> R {
    guard let ema, !ema.shadow.isEmpty, ema.shadow.count == model.buffers.count else { return try body() }
    let current = model.buffers.map(\.valueArray)
    for (b, w) in zip(model.buffers, ema.shadow) { b.valueArray = w }
    defer { for (b, w) in zip(model.buffers, current) { b.valueArray = w } }
    return try body()
  }

  /// Mean validation loss over batches of `configuration.batchSize` (evaluation mode, fixed random stream, so
  /// the curve is comparable across epochs), with the weights sampling uses (`evaluationWeights`: the EMA average
  /// when one is kept).
  public func validationLoss(parameters: Matrix, data: Matrix?) -> Double {
    withEvaluationWeights { currentValidationLoss(parameters: parameters, data: data) }
  }

  private func currentValidationLoss(parameters: Matrix, data: Matrix?) -> Double {
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

  /// Records the epoch and its validation loss, keeps the best epoch (and, with early stopping and
  /// `restoreBestWeights`, a copy of its `evaluationWeights`); returns true when early stopping triggers.
  func endEpoch(
    epoch: Int, meanLoss: Double, validation: (parameters: Matrix, data: Matrix?)?, patience: Int?,
    best: inout (loss: Double, epoch: Int, values: [[Float]])
  ) -> Bool {
    history.loss.append(meanLoss)
    guard let validation else { return false }
    let v = validationLoss(parameters: validation.parameters, data: validation.data)
    history.validationLoss.append(v)
    if v < best.loss {
      best = (v, epoch, patience != nil && configuration.restoreBestWeights ? evaluationWeights : [])
      history.bestEpoch = epoch
    } else if let patience, epoch - best.epoch >= patience {
      history.stoppedEarly = true
      return true
    }
    return false
  }

  /// Ends a run: when early stopping ended it, the best epoch's evaluation weights replace the current ones (and
  /// the EMA average, so that what is saved and sampled is that epoch's); then the run's seconds are recorded.
  ///
  /// A run that reaches its epoch cap keeps its last weights: its best epoch is then among the last `patience`
  /// ones, trained at a higher learning rate than the last, and the validation loss cannot tell such late epochs
  /// apart reliably (measured in BENCHMARKS.md, "Training that converges, and ensembles").
  func finish(best: (loss: Double, epoch: Int, values: [[Float]]), start: Date) {
    if history.stoppedEarly && !best.values.isEmpty && best.values.count == model.buffers.count {
      for (buf, v) in zip(model.buffers, best.values) { buf.valueArray = v }
      if let ema, !ema.shadow.isEmpty { ema.restore(step: ema.step, shadow: best.values) }
    }
    history.seconds += Date().timeIntervalSince(start)
  }
}

// The epoch loops: online (fresh simulations per batch) and offline (a fixed dataset).

import Foundation
import NumericCore

/// Errors of the training loops.
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
  /// A simulator: given a count and a generator, returns θ [n, dθ] (constrained space) and x [n, dx] (or nil).
  public typealias Simulator = (_ count: Int, _ rng: inout Xoshiro) -> (parameters: Matrix, data: Matrix?)

  /// Online training: every batch is simulated fresh; standardization statistics are updated with every batch.
  /// `configuration.validationSimulations` pairs are simulated once at the start for the validation loss.
  public func trainOnline(simulator: Simulator, progress: ((TrainingProgress) -> Void)? = nil) -> TrainingHistory {
    let c = configuration
    var simRng = Xoshiro(seed: c.seed, stream: 0xB47C)
    var validation: (Matrix, Matrix?)?
    if c.validationSimulations > 0 { validation = simulator(c.validationSimulations, &simRng) }
    let total = c.epochs * c.stepsPerEpoch
    let schedule = LearningRateSchedule(peak: c.learningRate, totalSteps: total, warmupFraction: c.warmupFraction)
    let start = Date()
    lastCheckpoint = start
    var loop = takeCheckpoint(mode: .online) ?? TrainingLoopState(rng: simRng)
    if loop.completed { return history }
    while loop.epoch < c.epochs {
      for s in loop.nextStep..<c.stepsPerEpoch {
        let (theta, x) = simulator(c.batchSize, &loop.rng)
        updateStandardizers(parameters: theta, conditions: x)
        let lr = schedule(optimizer.step)
        let r = step(prepare(parameters: theta, conditions: x), learningRate: lr)
        if !r.skipped { loop.lossSum += Double(r.loss); loop.lossCount += 1 }
        loop.nextStep = s + 1
        progress?(TrainingProgress(epoch: loop.epoch, step: loop.epoch * c.stepsPerEpoch + s, totalSteps: total,
                                   loss: r.loss, learningRate: lr, gradientNorm: r.gradientNorm, skipped: r.skipped))
        checkpointIfDue(loop, mode: .online)
      }
      let mean = loop.lossCount > 0 ? loop.lossSum / Double(loop.lossCount) : .nan
      let stop = endEpoch(epoch: loop.epoch, meanLoss: mean, validation: validation, best: &loop.best)
      loop.epoch += 1
      loop.nextStep = 0
      loop.lossSum = 0
      loop.lossCount = 0
      if stop { break }
    }
    finish(best: loop.best, start: start)
    loop.completed = true
    checkpointIfDue(loop, mode: .online, force: true)
    return history
  }

  /// Offline training on a fixed dataset: a seeded validation split, standardization statistics from the
  /// training part, shuffled epochs of full batches (the remainder of each epoch is dropped when the set has
  /// at least one full batch), and optional early stopping on the validation loss.
  public func trainOffline(
    parameters: Matrix, data: Matrix?, progress: ((TrainingProgress) -> Void)? = nil
  ) throws -> TrainingHistory {
    let c = configuration
    if let data, data.rows != parameters.rows {
      throw TrainingError.shapeMismatch("\(parameters.rows) parameter rows vs \(data.rows) data rows")
    }
    var rng = Xoshiro(seed: c.seed, stream: 0x5EED)
    let order = rng.permutation(parameters.rows)
    let nVal = Int((c.validationFraction * Double(parameters.rows)).rounded())
    let trainIdx = Array(order[nVal...]), valIdx = Array(order[..<nVal])
    guard !trainIdx.isEmpty else { throw TrainingError.emptyDataset }
    let theta = parameters.gatherRows(trainIdx)
    let x = data?.gatherRows(trainIdx)
    let validation: (Matrix, Matrix?)? = nVal > 0 ? (parameters.gatherRows(valIdx), data?.gatherRows(valIdx)) : nil
    updateStandardizers(parameters: theta, conditions: x)
    let b = min(c.batchSize, theta.rows)
    let perEpoch = max(1, theta.rows / b)
    let total = c.epochs * perEpoch
    let schedule = LearningRateSchedule(peak: c.learningRate, totalSteps: total, warmupFraction: c.warmupFraction)
    let start = Date()
    lastCheckpoint = start
    var loop = takeCheckpoint(mode: .offline) ?? TrainingLoopState(rng: rng)
    if loop.completed { return history }
    while loop.epoch < c.epochs {
      // The checkpoint keeps the stream at the start of the epoch; the permutation is redrawn from it.
      var epochRng = loop.rng
      let perm = epochRng.permutation(theta.rows)
      for s in loop.nextStep..<perEpoch {
        let idx = Array(perm[(s * b)..<((s + 1) * b)])
        let lr = schedule(optimizer.step)
        let r = step(prepare(parameters: theta.gatherRows(idx), conditions: x?.gatherRows(idx)), learningRate: lr)
        if !r.skipped { loop.lossSum += Double(r.loss); loop.lossCount += 1 }
        loop.nextStep = s + 1
        progress?(TrainingProgress(epoch: loop.epoch, step: loop.epoch * perEpoch + s, totalSteps: total,
                                   loss: r.loss, learningRate: lr, gradientNorm: r.gradientNorm, skipped: r.skipped))
        checkpointIfDue(loop, mode: .offline)
      }
      let mean = loop.lossCount > 0 ? loop.lossSum / Double(loop.lossCount) : .nan
      let stop = endEpoch(epoch: loop.epoch, meanLoss: mean, validation: validation, best: &loop.best)
      loop.epoch += 1
      loop.nextStep = 0
      loop.lossSum = 0
      loop.lossCount = 0
      loop.rng = epochRng
      if stop { break }
    }
    finish(best: loop.best, start: start)
    loop.completed = true
    checkpointIfDue(loop, mode: .offline, force: true)
    return history
  }

  /// Mean validation loss over batches of `configuration.batchSize` (evaluation mode, fixed random stream).
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
    epoch: Int, meanLoss: Double, validation: (Matrix, Matrix?)?,
    best: inout (loss: Double, epoch: Int, values: [[Float]])
  ) -> Bool {
    history.loss.append(meanLoss)
    guard let validation else { return false }
    let v = validationLoss(parameters: validation.0, data: validation.1)
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

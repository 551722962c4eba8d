// The discrete consistency-training objective (iCT; Documentation/Methods.md §7.1) over a TimeMLP.

import Consistency
import Foundation
import NeuralNet
import NumericCore

/// Counts optimizer steps from the rows seen, for the consistency curriculum (thread-safe across the trainer's
/// data-parallel shards, which together see one batch per step).
final class StepCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var rows = 0
  let batchSize: Int
  init(batchSize: Int) { self.batchSize = max(1, batchSize) }

  /// The step the current batch belongs to, then records `count` rows.
  func step(adding count: Int) -> Int {
    lock.lock()
    defer { lock.unlock() }
    let k = rows / batchSize
    rows += count
    return k
  }
}

/// Pseudo-Huber consistency loss between the student f(x_{t_{n+1}}, t_{n+1}) and the stop-gradient teacher
/// f(x_{t_n}, t_n) on the improved-CT curriculum (10 → 150 steps over the run, Karras grid, log-normal index
/// sampling). The teacher shares the student's weights (iCT drops the EMA teacher) and, in training, its dropout masks.
public struct ConsistencyObjective: TrainingObjective {
  public let configuration: ConsistencyConfiguration
  let counter: StepCounter

  public init(configuration: ConsistencyConfiguration, batchSize: Int) throws {
    try configuration.validate()
    self.configuration = configuration
    counter = StepCounter(batchSize: batchSize)
  }

  func inputs(_ batch: TrainingBatch, step: Int, rng: inout Xoshiro) -> ConsistencyTrainingBatch {
    let noise = rng.normalMatrix(rows: batch.count, cols: batch.parameters.cols)
    return try! consistencyTrainingInputs(
      theta: batch.parameters, noise: noise, step: step, configuration: configuration, rng: &rng)
  }

  public func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let k = counter.step(adding: batch.count)
    let ct = inputs(batch, step: k, rng: &rng)
    let condition = model.embed(batch.conditions, training: true, rng: &rng)
    // The teacher replays the student's dropout masks (a copy of the generator draws the same masks), so both
    // sides of the consistency condition are the same sub-network; a teacher without dropout against a student
    // with it biases the target (two_moons C2ST 0.63 against 0.55 without dropout).
    var masks = rng
    let teacher = model.network.forward(
      ct.teacherInput, time: ct.teacherTimeInput, condition: condition, training: true, rng: &masks)
    let student = model.network.forward(
      ct.studentInput, time: ct.studentTimeInput, condition: condition, training: true, rng: &rng)
    let (loss, gradient) = try! consistencyLoss(ct, studentOutput: student, teacherOutput: teacher)
    model.backpropagateCondition(model.network.backward(gradient))
    return Float(loss)
  }

  public func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let ct = inputs(batch, step: configuration.totalSteps, rng: &rng)
    let condition = model.embed(batch.conditions, training: false, rng: &rng)
    let teacher = model.network.predict(ct.teacherInput, time: ct.teacherTimeInput, condition: condition)
    let student = model.network.predict(ct.studentInput, time: ct.studentTimeInput, condition: condition)
    return Float((try! consistencyLoss(ct, studentOutput: student, teacherOutput: teacher)).loss)
  }
}

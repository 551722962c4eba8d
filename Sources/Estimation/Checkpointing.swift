// Crash-safe training of the posterior estimator: periodic checkpoints and resumption.

import Foundation
import NeuralNet
import NumericCore

extension PosteriorEstimator {
  /// Offline training with periodic checkpoints in `checkpoint.directory`. With `resume` and a checkpoint
  /// present, training continues from it; the estimator must be built as for the interrupted run (same
  /// architecture, settings and seed) and `Threading.count` must be the same for bit-identical weights.
  @discardableResult
  public func train(
    parameters: Matrix, data: Matrix, configuration: TrainingConfiguration, checkpoint: CheckpointOptions,
    resume: Bool = true, progress: ((TrainingProgress) -> Void)? = nil
  ) throws -> TrainingHistory {
    guard parameters.cols == parameterDimension else {
      throw EstimatorError.shapeMismatch("θ has \(parameters.cols) columns, the model expects \(parameterDimension)")
    }
    guard data.cols == conditionDimension else {
      throw EstimatorError.shapeMismatch("x has \(data.cols) columns, the model expects \(conditionDimension)")
    }
    guard parameters.rows == data.rows else {
      throw EstimatorError.shapeMismatch("\(parameters.rows) θ rows vs \(data.rows) x rows")
    }
    let steps = max(1, parameters.rows / max(1, min(configuration.batchSize, parameters.rows)))
    let trainer = try makeTrainer(configuration, stepsPerEpoch: steps)
    trainer.checkpointing = checkpoint
    if resume { try trainer.resume(from: checkpoint.directory, mode: .offline) }
    let history = try trainer.trainOffline(parameters: parameters, data: data, progress: progress)
    absorb(trainer, history: history, simulations: parameters.rows)
    return history
  }

  /// Online training with periodic checkpoints; the checkpoint stores the simulation stream's state, so the
  /// simulator must draw all its randomness from the generator it is given.
  @discardableResult
  public func train(
    simulator: @escaping Trainer.Simulator, configuration: TrainingConfiguration, checkpoint: CheckpointOptions,
    resume: Bool = true, progress: ((TrainingProgress) -> Void)? = nil
  ) throws -> TrainingHistory {
    let trainer = try makeTrainer(configuration, stepsPerEpoch: configuration.stepsPerEpoch)
    trainer.checkpointing = checkpoint
    if resume { try trainer.resume(from: checkpoint.directory, mode: .online) }
    let history = trainer.trainOnline(simulator: simulator, progress: progress)
    absorb(trainer, history: history,
           simulations: configuration.epochs * configuration.stepsPerEpoch * configuration.batchSize)
    return history
  }
}

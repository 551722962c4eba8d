// The score-based diffusion training objective: the weighted ε-loss of Documentation/Methods.md §3 over a TimeMLP.

import Diffusion
import NeuralNet
import NumericCore

/// Weighted ε-loss of a diffusion model (the review's default: EDM schedule, VP, F-prediction, EDM weighting).
///
/// Per batch: stratified times t_i, noise ε ~ N(0, I), z_t = α θ + σ ε; the network sees (c_in z_t, τ(λ_t),
/// condition) and its output is scored by `diffusionLoss`, whose gradient flows back through the TimeMLP and,
/// through the condition gradient, into a summary network.
public struct DiffusionObjective: TrainingObjective {
  public let schedule: any NoiseSchedule
  public let prediction: Prediction
  public let weighting: LossWeighting
  /// Probability of replacing a row's condition by the null token (classifier-free guidance training).
  public let conditionDropout: Double

  public init(configuration: DiffusionConfiguration, conditionDropout: Double = 0) throws {
    schedule = try configuration.makeSchedule()
    prediction = configuration.prediction
    weighting = configuration.weighting
    self.conditionDropout = conditionDropout
  }

  func lossInputs(_ batch: TrainingBatch, rng: inout Xoshiro) -> DiffusionLossBatch {
    let theta = batch.parameters
    let times = stratifiedTimes(count: theta.rows, rng: &rng)
    let noise = rng.normalMatrix(rows: theta.rows, cols: theta.cols)
    // Shapes agree by construction, so this cannot throw.
    return try! diffusionLossInputs(
      theta: theta, noise: noise, times: times, schedule: schedule, prediction: prediction, weighting: weighting)
  }

  public func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let inputs = lossInputs(batch, rng: &rng)
    let embedded = model.embed(batch.conditions, training: true, rng: &rng)
    let (condition, dropped) = dropConditions(embedded, probability: conditionDropout, rng: &rng)
    let output = model.network.forward(
      inputs.networkInput, time: inputs.timeInput, condition: condition, training: true, rng: &rng)
    let (loss, gradient) = diffusionLoss(inputs, output: output)
    let conditionGradient = model.network.backward(gradient)
    model.backpropagateCondition(zeroRows(conditionGradient, dropped))
    return Float(loss)
  }

  public func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let inputs = lossInputs(batch, rng: &rng)
    let condition = model.embed(batch.conditions, training: false, rng: &rng)
    let output = model.network.predict(inputs.networkInput, time: inputs.timeInput, condition: condition)
    return Float(diffusionLoss(inputs, output: output).loss)
  }
}

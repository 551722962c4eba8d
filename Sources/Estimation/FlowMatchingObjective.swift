// The flow-matching training objective (Documentation/Methods.md §6) over a TimeMLP, with optional mini-batch OT.

import Diffusion
import FlowMatching
import NeuralNet
import NumericCore

/// Flow-matching settings stored with a model.
public struct FlowMatchingSettings: Sendable, Codable, Equatable {
  /// How training times are drawn: uniform, or the power law s = u^{1+α} (the review's α = −0.6).
  public var timeSampling: FlowTimeSampling
  /// Mini-batch optimal-transport coupling of noise and data; nil is the independent coupling.
  public var coupling: OptimalTransportOptions?

  public init(timeSampling: FlowTimeSampling = .uniform, coupling: OptimalTransportOptions? = nil) {
    self.timeSampling = timeSampling
    self.coupling = coupling
  }
}

/// Mean squared error between the network's velocity v̂(x_s, s, c) and u = x₁ − x₀ on the linear path
/// x_s = s x₁ + (1 − s) x₀ (t = 0 noise, t = 1 data in flow-matching time).
public struct FlowMatchingObjective: TrainingObjective {
  public let settings: FlowMatchingSettings
  /// Probability of replacing a row's condition by the null token (classifier-free guidance training).
  public let conditionDropout: Double

  public init(settings: FlowMatchingSettings, conditionDropout: Double = 0) throws {
    try settings.timeSampling.validate()
    self.settings = settings
    self.conditionDropout = conditionDropout
  }

  func inputs(_ batch: TrainingBatch, rng: inout Xoshiro) -> (FlowMatchingBatch, Matrix?) {
    // Shapes agree by construction; options were validated at init, so this cannot throw.
    let r = try! flowMatchingTrainingBatch(
      data: batch.parameters, conditions: batch.conditions, timeSampling: settings.timeSampling,
      coupling: settings.coupling, rng: &rng)
    return (r.batch, r.conditions)
  }

  public func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let (fm, conditions) = inputs(batch, rng: &rng)
    let embedded = model.embed(conditions, training: true, rng: &rng)
    let (condition, dropped) = dropConditions(embedded, probability: conditionDropout, rng: &rng)
    let output = model.network.forward(
      fm.networkInput, time: fm.timeInput, condition: condition, training: true, rng: &rng)
    let (loss, gradient) = try! flowMatchingLoss(fm, output: output)
    model.backpropagateCondition(zeroRows(model.network.backward(gradient), dropped))
    return Float(loss)
  }

  public func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let (fm, conditions) = inputs(batch, rng: &rng)
    let condition = model.embed(conditions, training: false, rng: &rng)
    let output = model.network.predict(fm.networkInput, time: fm.timeInput, condition: condition)
    return Float((try! flowMatchingLoss(fm, output: output)).loss)
  }
}

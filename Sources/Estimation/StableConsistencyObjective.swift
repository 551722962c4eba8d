// The continuous-time sCM objective (Lu & Song 2024; Documentation/Methods.md §7.2) over a TimeMLP, with the
// adaptive weight network w(t) trained jointly through the model's auxiliary parameter buffer.

import Consistency
import Foundation
import NeuralNet
import NumericCore

/// Stable-consistency settings stored with a model.
public struct StableConsistencySettings: Sendable, Codable, Equatable {
  /// σ_d, the training-time law, the tangent normalization and the sampler (15 steps, ρ = 3.5).
  public var configuration: StableConsistencyConfiguration
  /// Architecture of the adaptive weight network w(t).
  public var weightNetwork: AdaptiveWeightConfiguration
  /// Tangent warm-up: the factor r on the second term of the tangent rises linearly from 0 to 1 over this many
  /// optimizer steps (Lu & Song 2024 use 10,000). 0, the default as in BayesFlow, keeps r = 1 throughout.
  public var tangentWarmupSteps: Int

  public init(
    configuration: StableConsistencyConfiguration = StableConsistencyConfiguration(),
    weightNetwork: AdaptiveWeightConfiguration = AdaptiveWeightConfiguration(), tangentWarmupSteps: Int = 0
  ) {
    self.configuration = configuration
    self.weightNetwork = weightNetwork
    self.tangentWarmupSteps = tangentWarmupSteps
  }

  public func validate() throws {
    try configuration.validate()
    try weightNetwork.validate()
    guard tangentWarmupSteps >= 0 else { throw ConsistencyError.invalidOption("tangent warm-up steps must be ≥ 0") }
  }

  /// The warm-up factor r = min(1, k/K_w) at optimizer step k.
  public func tangentFactor(step k: Int) -> Double {
    tangentWarmupSteps == 0 ? 1 : min(1, Double(k) / Double(tangentWarmupSteps))
  }
}

/// The sCM loss L = mean_i (e^{w(t_i)}/d ‖F_i − F⁻_i − g_i‖² − w(t_i)) on the TrigFlow path.
///
/// Per batch: t = arctan(e^τ/σ_d) with τ ~ N(P_mean, P_std²), z ~ N(0, σ_d² I), x_t = cos t θ + sin t z. The
/// teacher F⁻ and its time derivative dF⁻/dt along (dx_t/dt/σ_d, 1) come from one forward-mode tangent pass in
/// evaluation mode (`TimeMLP.jvp`); the normalized tangent g = cos t·df⁻/dt/(‖·‖ + c) is a constant, and the
/// gradient flows into the student F (training mode), the summary network through the condition, and w(t).
public struct StableConsistencyObjective: TrainingObjective {
  public let settings: StableConsistencySettings
  let weights: AdaptiveWeightNetwork
  let counter: StepCounter

  public init(settings: StableConsistencySettings, batchSize: Int) throws {
    try settings.validate()
    self.settings = settings
    var layout = ParameterLayout()
    weights = try AdaptiveWeightNetwork(configuration: settings.weightNetwork, layout: &layout)
    counter = StepCounter(batchSize: batchSize)
  }

  /// The loss and, when `training`, its gradients accumulated into the model (network, summary, weight network).
  func evaluate(model: TrainableModel, batch: TrainingBatch, step: Int, training: Bool, rng: inout Xoshiro) -> Float {
    guard let auxiliary = model.auxiliary else {
      preconditionFailure("a stable-consistency model carries its weight network as the auxiliary buffer")
    }
    var cfg = settings.configuration
    cfg.tangentWarmup = settings.tangentFactor(step: step)
    let theta = batch.parameters
    let times = cfg.trainingTimes(count: theta.rows, rng: &rng)
    let noise = rng.normalMatrix(rows: theta.rows, cols: theta.cols)
    // Shapes agree by construction and the settings were validated at init, so these cannot throw.
    let sb = try! stableConsistencyInputs(theta: theta, noise: noise, times: times, configuration: cfg)
    let condition = model.embed(batch.conditions, training: training, rng: &rng)
    // The estimator refuses other networks for this method, so the network is a TimeMLP.
    let network = model.timeMLP!
    let teacher = stableConsistencyTeacher(network: network, batch: sb, condition: condition)
    let g = try! stableConsistencyTangent(
      sb, teacherOutput: teacher.output, teacherDerivative: teacher.derivative, configuration: cfg)
    let (w, cache) = weights.forward(sb.timeInput, parameters: auxiliary)
    let student = training
      ? network.forward(sb.networkInput, time: sb.timeInput, condition: condition, training: true, rng: &rng)
      : teacher.output
    let r = try! stableConsistencyLoss(output: student, teacherOutput: teacher.output, tangent: g, logWeight: w)
    if training {
      model.backpropagateCondition(network.backward(r.outputGradient))
      weights.backward(r.weightGradient, cache: cache, parameters: auxiliary)
    }
    return Float(r.loss)
  }

  public func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let k = counter.step(adding: batch.count)
    return evaluate(model: model, batch: batch, step: k, training: true, rng: &rng)
  }

  public func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    evaluate(model: model, batch: batch, step: Int.max, training: false, rng: &rng)
  }
}

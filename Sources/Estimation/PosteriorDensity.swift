// The density of a trained posterior and its mode: log q(θ | x) on the original parameter scale, and the MAP.
//
// The network models z = standardize(T(θ)), with T the constraint transform (Sources/NeuralNet/ConstraintTransform.swift)
// and standardize(u) = (u − μ) / σ per coordinate. By the change of variables,
//
//   log q(θ | x) = log q_z(z | x) + log|det ∂T/∂θ| − Σ_j log σ_j,
//
// where log q_z comes from the probability-flow ODE (instantaneous change of variables; Diffusion/LogDensity.swift,
// and its flow-matching form in FlowMatching/VelocityField.swift). Consistency models have no density.
//
// The mode maximizes log q(θ | x). It starts from the best of many posterior draws by that log-density and
// climbs with the score at the smallest noise level, ∇_z log q_z ≈ (α x̂(z, t) − z)/σ_t² (diffusion) or the
// velocity-derived score (flow matching), plus the gradient of the transform's log-Jacobian, in the unconstrained
// coordinates u = T(θ). The climbed point is kept only if its log-density (by the ODE) beats the best draw.

import Composition
import Diffusion
import FileFormats
import FlowMatching
import Foundation
import NeuralNet
import NumericCore

/// The posterior mode found by `PosteriorEstimator.maximumAPosteriori`.
public struct PosteriorMode: Sendable {
  /// θ at the mode (original scale).
  public var parameters: [Float]
  /// log q(θ | x) there.
  public var logProbability: Double
  /// The best posterior draw's log-density (the starting point).
  public var bestDrawLogProbability: Double
  /// Whether gradient ascent improved on the best draw.
  public var improved: Bool
}

extension PosteriorEstimator {
  /// log q(θ | x) in nats for every row of `theta` [n, d] (original parameter scale, including the constraint
  /// transform's and the standardization's Jacobians), for one observation row `observation` [1, d_x] (nil for an
  /// unconditional model). Rows outside the prior's support get −∞.
  ///
  /// `divergence`: the exact trace (2d extra network evaluations per drift evaluation) by default up to 10
  /// parameters, Hutchinson's estimator with 8 probes above. `steps`: RK4 intervals of the probability-flow ODE.
  public func logProbability(
    _ theta: Matrix, observation: Matrix?, steps: Int = 100, divergence: DivergenceMethod? = nil, seed: UInt64 = 0
  ) throws -> [Double] {
    guard theta.cols == parameterDimension else {
      throw EstimatorError.shapeMismatch("θ has \(theta.cols) columns, the model has \(parameterDimension) parameters")
    }
    let condition = try conditionRows(observation, count: theta.rows)
    let inside = (0..<theta.rows).map { r in
      transform.constraints.indices.allSatisfy { j in
        let v = Double(theta[r, j])
        return v.isFinite && transform.constraints[j].contains(v)
      }
    }
    let keep = (0..<theta.rows).filter { inside[$0] }
    var out = [Double](repeating: -.infinity, count: theta.rows)
    guard !keep.isEmpty else { return out }
    let kept = keep.count == theta.rows ? theta : theta.gatherRows(keep)
    let u = transform.forward(kept)
    var z = u
    var logScale = 0.0
    if let s = parameterStandardizer {
      z = s.standardize(u)
      logScale = s.std.reduce(0) { $0 + Foundation.log($1) }
    }
    let jacobian = transform.logDetJacobian(kept)
    let method = divergence ?? (parameterDimension <= 10 ? .exact : .hutchinson(probes: 8))
    var rng = Xoshiro(seed: seed, stream: 0x4C4F_4750)
    let result = try withSamplingWeights { () throws -> LogDensityResult in
      let c = condition.map { keep.count == theta.rows ? $0 : $0.gatherRows(keep) }
      switch settings.method {
      case .diffusion:
        let schedule = try settings.diffusion.makeSchedule()
        let denoiser = settings.diffusion.prediction.denoiser(schedule: schedule, network: networkClosure(c))
        return try logDensity(of: z, denoiser: denoiser, schedule: schedule, steps: steps, divergence: method, rng: &rng)
      case .flowMatching:
        let predict = networkClosure(c)
        return try flowMatchingLogDensity(of: z, velocity: { x, s in predict(x, Float(s)) }, steps: steps,
                                          divergence: method, rng: &rng)
      case .consistency, .stableConsistency:
        throw EstimatorError.unsupported("consistency models have no log-density; use diffusion or flow matching")
      }
    }
    for (i, r) in keep.enumerated() { out[r] = result.logDensity[i] + jacobian[i] - logScale }
    return out
  }

  /// The posterior mode for one observation: the best of `draws` posterior samples by log-density (screened with a
  /// cheaper density estimate), then `iterations` steps of gradient ascent with the small-noise score (see the file
  /// comment).
  public func maximumAPosteriori(
    observation: Matrix?, draws: Int = 1000, iterations: Int = 200, steps: Int = 100, seed: UInt64 = 0
  ) throws -> PosteriorMode {
    guard settings.method == .diffusion || settings.method == .flowMatching else {
      throw EstimatorError.unsupported("the MAP needs a log-density: use a diffusion or flow-matching model")
    }
    guard draws >= 1, iterations >= 0 else { throw EstimatorError.unsupported("draws ≥ 1 and iterations ≥ 0") }
    let obs = observation ?? Matrix(rows: 1, cols: 0)
    let samples = try sample(observations: obs.cols == 0 ? Matrix(rows: 1, cols: 0) : obs, count: draws,
                             sampler: settings.method == .diffusion ? .dpmSolver2M : .tsit5,
                             options: SamplerOptions(),
                             seed: seed).samples[0]
    // Screening with a cheaper density (a quarter of the ODE steps, 2 Hutchinson probes above 2 parameters); the
    // chosen draw and the climbed point are then evaluated at full accuracy.
    let screen = try logProbability(
      samples, observation: observation, steps: max(10, steps / 4),
      divergence: parameterDimension <= 2 ? .exact : .hutchinson(probes: 2), seed: seed)
    guard let best = screen.indices.filter({ screen[$0].isFinite }).max(by: { screen[$0] < screen[$1] }) else {
      throw EstimatorError.nonFiniteInput("no posterior draw has a finite log-density")
    }
    let start = samples.gatherRows([best])
    let startLP = try logProbability(start, observation: observation, steps: steps, seed: seed)[0]
    var u = transform.forward(start)
    let condition = try conditionRows(observation, count: 1)
    let std = parameterStandardizer?.std ?? [Double](repeating: 1, count: parameterDimension)
    // Step size: a small fraction of each coordinate's posterior spread (in u), decreasing.
    let finite = try NonFiniteRows.drop([transform.forward(samples)]).kept[0]
    let spread = finite.columnMeanVariance().variance.map { $0 > 0 ? $0.squareRoot() : 1 }
    try withSamplingWeights {
      let grad = try scoreAtSmallNoise(condition)
      for k in 0..<iterations {
        let z = parameterStandardizer?.standardize(u) ?? u
        let g = grad(z)
        let rate = 0.1 * (1 - Double(k) / Double(max(1, iterations)))
        let theta = transform.inverse(u)
        for j in 0..<parameterDimension {
          var gj = Double(g[0, j]) / std[j]
          switch transform.constraints[j] {
          case .unbounded: break
          case .positive: gj -= 1  // d/du of −u, the log-Jacobian of θ = e^u in u
          case .interval(let lo, let hi):
            let a = lo - Constraint.epsilon, b = hi + Constraint.epsilon
            gj += 1 - 2 * (Double(theta[0, j]) - a) / (b - a)  // d/du of log s(1 − s)
          }
          let step = rate * spread[j] * spread[j] * gj
          u[0, j] += Float(max(-spread[j], min(spread[j], step)))
        }
      }
    }
    let climbed = transform.inverse(u)
    let climbedLP = try logProbability(climbed, observation: observation, steps: steps, seed: seed)[0]
    let improved = climbedLP.isFinite && climbedLP > startLP
    return PosteriorMode(
      parameters: improved ? climbed.storage : start.storage, logProbability: improved ? climbedLP : startLP,
      bestDrawLogProbability: startLP, improved: improved)
  }

  /// The embedded observation repeated `count` times (nil for an unconditional model).
  func conditionRows(_ observation: Matrix?, count: Int) throws -> Matrix? {
    guard conditionDimension > 0 else { return nil }
    guard let observation, observation.rows == 1, observation.cols == conditionDimension else {
      throw EstimatorError.shapeMismatch("give one observation row of \(conditionDimension) values")
    }
    try checkObservations(observation)
    let e = withSamplingWeights { embedObservations(observation)! }
    return e.gatherRows([Int](repeating: 0, count: count))
  }

  /// The network as (state, time) → output with a fixed condition.
  func networkClosure(_ condition: Matrix?) -> (Matrix, Float) -> Matrix {
    let network = model.network
    return { input, tau in
      network.predict(input, time: [Float](repeating: tau, count: input.rows),
                      condition: condition.map { $0.rows == input.rows ? $0 : $0.gatherRows([Int](repeating: 0, count: input.rows)) })
    }
  }

  /// ∇_z log q_z at the smallest noise level of the schedule, for one standardized row.
  func scoreAtSmallNoise(_ condition: Matrix?) throws -> (Matrix) -> Matrix {
    let predict = networkClosure(condition)
    switch settings.method {
    case .diffusion:
      let schedule = try settings.diffusion.makeSchedule()
      let denoiser = settings.diffusion.prediction.denoiser(schedule: schedule, network: predict)
      let t = 1e-3
      let p = schedule.point(t)
      return { z in Tweedie.score(denoised: denoiser(z, t), z: z, alpha: p.alpha, sigma: p.sigma) }
    default:
      // Flow matching, data at flow time s = 1: the velocity's score form at s = 1 − 10⁻³.
      let s = 1 - 1e-3
      return { x in VelocityConversion.score(velocity: predict(x, Float(s)), state: x, flowTime: s) }
    }
  }
}

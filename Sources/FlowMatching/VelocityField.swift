// The flow-matching velocity as a diffusion denoiser and score (Singh & Fischer 2024; sbi's flow-matching
// score), so that flow-matching estimators use every sampler, the log-density, composition and guidance of the
// Diffusion module.
//
// With x_s = s x₁ + (1 − s) x₀ (s = 0 noise, s = 1 data) the exact velocity is v = E[x₁ − x₀ | x_s], and
//
//     x̂ = E[x₁ | x_s] = x_s + (1 − s) v,     score ∇ log p_s(x_s) = (s v − x_s)/(1 − s),
//     v = (x_s + (1 − s) score)/s.
//
// In diffusion notation (t = 0 data, t = 1 noise) on `RectifiedFlowSchedule`: α_t = s, σ_t = 1 − s, so
// x̂ = z + σ v̂(z, α) and the score (α x̂ − z)/σ² is the formula above. The probability-flow ODE of that schedule
// is dz/dt = −v̂ · ds/dt exactly the flow-matching ODE (its drift ½λ̇ α σ v̂ with λ̇ α σ = −2 ds/dt), integrated
// from t = 1 (s ≈ 0) to t = 0 (s ≈ 1). The schedule truncates s to [sigmoid(λ_min/2), sigmoid(λ_max/2)]
// (default λ ∈ [−15, 15]: s ∈ [5.5e-4, 0.99945]).

import Diffusion
import Foundation
import NumericCore

/// A velocity network v̂(x, s) for a batch x [B, d] at one shared flow-matching time s (conditions bound inside).
public typealias VelocityFunction = (_ x: Matrix, _ flowTime: Double) -> Matrix

/// A score function ∇_z log p_t(z) for a batch at one shared diffusion time t.
public typealias ScoreFunction = (_ z: Matrix, _ t: Double) -> Matrix

/// The velocity ↔ denoised ↔ score conversions at one flow-matching time s ∈ (0, 1).
public enum VelocityConversion {
  /// x̂ = x + (1 − s) v.
  public static func denoised(velocity v: Matrix, state x: Matrix, flowTime s: Double) -> Matrix {
    denoised(velocity: v, state: x, sigma: 1 - s)
  }

  /// x̂ = z + σ v at the point (α, σ) of a rectified-flow path (α + σ = 1, flow time s = α), v the velocity at
  /// (z, α): the velocity as a diffusion denoiser (Singh & Fischer 2024).
  public static func denoised(velocity v: Matrix, state z: Matrix, sigma: Double) -> Matrix {
    var out = v
    out.scale(by: Float(sigma))
    out.add(z)
    return out
  }

  /// v = (x̂ − x)/(1 − s).
  public static func velocity(denoised xh: Matrix, state x: Matrix, flowTime s: Double) -> Matrix {
    var out = xh
    out.add(x, scale: -1)
    out.scale(by: Float(1 / (1 - s)))
    return out
  }

  /// score = (s v − x)/(1 − s) (Singh & Fischer 2024, eq. 9).
  public static func score(velocity v: Matrix, state x: Matrix, flowTime s: Double) -> Matrix {
    var out = v
    out.scale(by: Float(s / (1 - s)))
    out.add(x, scale: Float(-1 / (1 - s)))
    return out
  }

  /// v = (x + (1 − s) score)/s.
  public static func velocity(score sc: Matrix, state x: Matrix, flowTime s: Double) -> Matrix {
    var out = x
    out.add(sc, scale: Float(1 - s))
    out.scale(by: Float(1 / s))
    return out
  }
}

/// The flow-matching time s = α_t of diffusion time t on a rectified-flow schedule.
public func flowTime(diffusionTime t: Double, schedule: any NoiseSchedule) -> Double { schedule.alphaSigma(t).alpha }

/// Checks that the schedule is a rectified-flow path (α + σ = 1), the only one on which a flow-matching velocity
/// is a denoiser.
func requireRectifiedFlow(_ schedule: any NoiseSchedule) throws {
  guard schedule.variance == .rectifiedFlow else {
    throw FlowMatchingError.invalidOption(
      "flow matching samples on a rectified-flow schedule (α + σ = 1), not \(schedule.description)")
  }
}

/// The velocity network as a diffusion denoiser on `schedule`: x̂(z, t) = z + σ_t v̂(z, α_t).
public func denoiser(velocity: @escaping VelocityFunction, schedule: any NoiseSchedule) throws -> Denoiser {
  try requireRectifiedFlow(schedule)
  return { z, t in
    let (a, s) = schedule.alphaSigma(t)
    return VelocityConversion.denoised(velocity: velocity(z, a), state: z, sigma: s)
  }
}

/// The velocity network as a score function in diffusion time: ∇ log p_t(z) = (α v̂ − z)/σ.
///
/// This is what composition (summing scores) and guidance (adding ∇ log of a likelihood) consume.
public func score(velocity: @escaping VelocityFunction, schedule: any NoiseSchedule) throws -> ScoreFunction {
  try requireRectifiedFlow(schedule)
  return { z, t in
    let a = schedule.alphaSigma(t).alpha
    return VelocityConversion.score(velocity: velocity(z, a), state: z, flowTime: a)
  }
}

/// A score function (possibly composed or guided) back as a velocity in flow-matching time: v = (x + (1 − s) ŝ)/s,
/// for integrating an adapted score with the flow-matching ODE.
public func velocity(score: @escaping ScoreFunction, schedule: any NoiseSchedule) throws -> VelocityFunction {
  try requireRectifiedFlow(schedule)
  return { x, s in
    let t = schedule.time(logSNR: 2 * (log(s) - log1p(-s)))
    return VelocityConversion.velocity(score: score(x, t), state: x, flowTime: s)
  }
}

/// Draws from a flow-matching model with any diffusion sampler: the deterministic ones (Euler, Heun, RK45,
/// Tsit5, DPM-Solver++) integrate the flow-matching ODE; the stochastic ones integrate the reverse SDE with the
/// velocity-derived score. `initial` is x at s ≈ 0 (standard normal draws, [B, d]).
///
/// The review's default is Tsit5 with adaptive steps.
public func sampleFlowMatching(
  _ kind: SamplerKind = .tsit5, velocity: @escaping VelocityFunction, initial: Matrix,
  schedule: any NoiseSchedule = RectifiedFlowSchedule(), options: SamplerOptions = SamplerOptions(),
  rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  let d = try denoiser(velocity: velocity, schedule: schedule)
  return try sample(kind, denoiser: d, initial: initial, schedule: schedule, options: options, rng: &rng,
    callback: callback)
}

/// log p(x) of data-space points x [B, d] under the flow-matching model, by the instantaneous change of
/// variables along the flow-matching ODE (the Diffusion module's `logDensity` on the rectified-flow schedule).
public func flowMatchingLogDensity(
  of x: Matrix, velocity: @escaping VelocityFunction, schedule: any NoiseSchedule = RectifiedFlowSchedule(),
  steps: Int = 100, divergence: DivergenceMethod = .exact, rng: inout Xoshiro
) throws -> LogDensityResult {
  let d = try denoiser(velocity: velocity, schedule: schedule)
  return try logDensity(of: x, denoiser: d, schedule: schedule, steps: steps, divergence: divergence, rng: &rng)
}

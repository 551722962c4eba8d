// Fixed-step reverse-SDE samplers: Euler–Maruyama, SEA and ShARK.
//
// The reverse SDE dz = [f z − g² s] dt + g dW̄ is integrated from t = 1 to 0 with steps h < 0; the Brownian
// increment over a step is ΔW = √|h| ξ and the space-time Lévy area H = √(|h|/12) ξ', ξ, ξ' ~ N(0, I)
// independent (Foster, dos Reis & Strange 2024, "High order splitting methods for SDEs satisfying a
// commutativity condition"). The reference code's H = ½|h|ξ + |h|^{3/2}/(2√3) ξ' is not this quantity
// (Documentation/Methods.md §5.2); these samplers use the definition from the paper.

import Foundation
import NumericCore

/// The loop of the fixed-grid reverse-SDE samplers: resolves the time grid, calls `advance(&z, t0, t1, rng)` for
/// each step from t = 1 towards 0, reports each step and wraps up the result.
func walkTimeGrid(
  _ steps: StepControl, sampler name: String, field: ReverseField, initial: Matrix, rng: inout Xoshiro,
  callback: StepCallback?, advance: (inout Matrix, Double, Double, inout Xoshiro) -> Void
) throws -> SamplingResult {
  let grid = try TimeGrid.resolve(steps, sampler: name)
  var z = initial
  for i in 0..<(grid.count - 1) {
    advance(&z, grid[i], grid[i + 1], &rng)
    callback?(SamplerStep(index: i, time: grid[i + 1], state: z))
  }
  return SamplingResult(samples: z, field: field, steps: grid.count - 1)
}

/// One Euler–Maruyama step of the reverse SDE from t0 to t1 (h = t1 − t0 < 0); `noise` is a buffer of z's shape
/// that the step overwrites with its standard normal draws (kept across steps, so a step allocates nothing but
/// the network's output).
func eulerMaruyamaStep(
  _ z: inout Matrix, from t0: Double, to t1: Double, field: ReverseField, noise: inout Matrix, rng: inout Xoshiro
) {
  let h = t1 - t0
  let drift = field.sde(z, t0)
  rng.fillNormal(&noise)
  update(&z, scale: 1, [(h, drift), (field.g(t0) * (-h).squareRoot(), noise)])
}

/// Reverse-SDE Euler–Maruyama: z ← z + h (f z − g² s)(z, t) + g(t) √|h| ξ.
public func sampleEulerMaruyama(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: StepControl = .fixed(500),
  rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  var noise = Matrix(rows: initial.rows, cols: initial.cols)
  return try walkTimeGrid(steps, sampler: "euler-maruyama", field: field, initial: initial, rng: &rng, callback: callback) {
    z, t0, t1, rng in eulerMaruyamaStep(&z, from: t0, to: t1, field: field, noise: &noise, rng: &rng)
  }
}

/// Shifted Euler for additive noise (SEA; Foster et al. 2024): one drift evaluation per step at the shifted
/// point z + g(½ΔW + H),
///
///     z ← z + h F(z + g₀(½ΔW + H), t) + g₀ ΔW + (g₁ − g₀)(½ΔW − H),
///
/// where the last term integrates the time dependence of g(t) to first order (∫(s − t) dW = |h|(½ΔW − H)).
public func sampleSEA(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: StepControl = .fixed(500),
  rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  var (dw, hh) = (Matrix(rows: initial.rows, cols: initial.cols), Matrix(rows: initial.rows, cols: initial.cols))
  return try walkTimeGrid(steps, sampler: "sea", field: field, initial: initial, rng: &rng, callback: callback) {
    z, t0, t1, rng in
    let h = t1 - t0
    let (g0, g1) = (field.g(t0), field.g(t1))
    rng.fillNormal(&dw, std: Float((-h).squareRoot()))
    rng.fillNormal(&hh, std: Float((-h / 12).squareRoot()))
    let shifted = combine(z, [(0.5 * g0, dw), (g0, hh)])
    let drift = field.sde(shifted, t0)
    update(&z, scale: 1, [(h, drift), (g0 + 0.5 * (g1 - g0), dw), (-(g1 - g0), hh)])
  }
}

/// Shifted additive-noise Runge–Kutta (ShARK; Foster et al. 2024), two drift evaluations per step, strong
/// order 1.5 for additive noise:
///
///     y₀ = z + g₀ H,                     y₁ = y₀ + (5/6)(h F(y₀, t) + g₀ ΔW)   at t + 5h/6,
///     z ← z + h(⅖ F(y₀) + ⅗ F(y₁)) + g₀(⅖ ΔW + 6/5 H) + g_{5/6}(⅗ ΔW − 6/5 H).
public func sampleShARK(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: StepControl = .fixed(500),
  rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  var (dw, hh) = (Matrix(rows: initial.rows, cols: initial.cols), Matrix(rows: initial.rows, cols: initial.cols))
  return try walkTimeGrid(steps, sampler: "shark", field: field, initial: initial, rng: &rng, callback: callback) {
    z, t0, t1, rng in
    let h = t1 - t0
    let tm = t0 + 5 * h / 6
    let (g0, gm) = (field.g(t0), field.g(tm))
    rng.fillNormal(&dw, std: Float((-h).squareRoot()))
    rng.fillNormal(&hh, std: Float((-h / 12).squareRoot()))
    let y0 = combine(z, [(g0, hh)])
    let f0 = field.sde(y0, t0)
    let y1 = combine(y0, [(5 * h / 6, f0), (5 * g0 / 6, dw)])
    let f1 = field.sde(y1, tm)
    update(&z, scale: 1, [(0.4 * h, f0), (0.6 * h, f1), (0.4 * g0 + 0.6 * gm, dw), (1.2 * (g0 - gm), hh)])
  }
}

// Predictor–corrector (Song et al. 2021, Algorithms 2–5) and annealed Langevin dynamics (Song & Ermon 2019).

import Foundation
import NumericCore

/// Options of the Langevin corrector: `steps` corrector moves after each predictor step, each
/// z ← z + ε s + √(2ε) ξ with ε = 2 (r ‖ξ‖/‖s‖)² (Song et al. 2021, Algorithm 5 with α_i = 1), where ‖·‖ are
/// per-sample norms averaged over the batch as in Song et al.'s code, and r = `signalToNoise` (BayesFlow's
/// `step_size_factor`, default 0.01). Per-sample norms (as in BayesFlow) make ε unbounded for samples near the
/// mode, where ‖s‖ → 0, and diverge in low dimensions.
public struct CorrectorOptions: Sendable, Equatable {
  public var steps: Int
  public var signalToNoise: Double

  public init(steps: Int = 1, signalToNoise: Double = 0.01) {
    self.steps = steps
    self.signalToNoise = signalToNoise
  }
}

/// Applies `options.steps` Langevin corrector moves at time t.
func langevinCorrect(
  _ z: inout Matrix, t: Double, field: ReverseField, options: CorrectorOptions, rng: inout Xoshiro
) {
  for _ in 0..<options.steps {
    let (scaled, s2) = field.scaledScore(z, t)  // σ² s
    let xi = rng.normalMatrix(rows: z.rows, cols: z.cols)
    let nx = rowNorms(xi).reduce(0, +) / Double(z.rows)
    let ns = max(rowNorms(scaled).reduce(0, +) / Double(z.rows), 1e-30)
    // ε = 2 (r‖ξ‖σ²/‖σ²s‖)², ε s = (ε/σ²)·(σ² s).
    let eps = 2 * pow(options.signalToNoise * nx * s2 / ns, 2)
    update(&z, scale: 1, [(eps / s2, scaled), ((2 * eps).squareRoot(), xi)])
  }
}

/// Predictor–corrector sampling: a reverse-SDE Euler–Maruyama predictor step, then Langevin corrector moves at
/// the new time (Song et al. 2021).
public func samplePredictorCorrector(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: StepControl = .fixed(500),
  corrector: CorrectorOptions = CorrectorOptions(), rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  var noise = Matrix(rows: initial.rows, cols: initial.cols)
  return try walkTimeGrid(steps, sampler: "pc", field: field, initial: initial, rng: &rng, callback: callback) {
    z, t0, t1, rng in
    eulerMaruyamaStep(&z, from: t0, to: t1, field: field, noise: &noise, rng: &rng)
    langevinCorrect(&z, t: t1, field: field, options: corrector, rng: &rng)
  }
}

/// Annealed Langevin dynamics (Song & Ermon 2019) on the grid t_k = 1 − k/(n − 1), k = 0..<n, one move per level:
///
///     e_k = (100 r/√n) σ²(t_k),    z ← z + e_k s(z, t_k) + √(2 e_k) ξ,
///
/// r = `stepSizeFactor` (BayesFlow's default 0.01, i.e. e_k = σ²/√n). Since e s = (100 r/√n)(α x̂ − z) this never
/// divides by σ². One move per level is not an exact sampler: near the data end σ² falls far below the marginal
/// variance, the moves freeze and the samples keep part of the earlier noise, a variance bias that shrinks slowly
/// with n and r (Gaussian tests: r = 0.2, n = 5000 is unbiased at 4000 samples for the EDM, cosine and linear
/// schedules, but not for sub-VP and rectified flow, whose σ² vanishes quadratically at t = 0). Scaling e_k with
/// the marginal variance instead is not an option in Float32: the score's rounding error grows like 1/σ².
public func sampleAnnealedLangevin(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: Int = 2000,
  stepSizeFactor: Double = 0.01, rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  guard steps >= 2 else { throw DiffusionError.invalidOption("langevin: steps must be ≥ 2, got \(steps)") }
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  let c = 100 * stepSizeFactor / Double(steps).squareRoot()
  var z = initial
  var xi = Matrix(rows: initial.rows, cols: initial.cols)
  for k in 0..<steps {
    let t = 1 - Double(k) / Double(steps - 1)
    let (scaled, s2) = field.scaledScore(z, t)
    rng.fillNormal(&xi)
    update(&z, scale: 1, [(c, scaled), ((2 * c * s2).squareRoot(), xi)])
    callback?(SamplerStep(index: k, time: t, state: z))
  }
  return SamplingResult(samples: z, field: field, steps: steps)
}

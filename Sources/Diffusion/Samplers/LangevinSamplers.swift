// Predictor–corrector (Song et al. 2021, Algorithms 2–5) and annealed Langevin dynamics (Song & Ermon 2019).

import Foundation
import NumericCore

/// Options of the Langevin corrector: `steps` corrector moves after each predictor step, each
/// z ← z + ε s + √(2ε) ξ with the per-sample step ε = 2 (r ‖ξ‖/‖s‖)² (Song et al. 2021, Algorithm 5 with
/// α_i = 1), r = `signalToNoise` (BayesFlow's `step_size_factor`, default 0.01).
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
    let nx = rowNorms(xi), ns = rowNorms(scaled)
    let (n, d) = (z.rows, z.cols)
    let r = options.signalToNoise
    z.withUnsafeMutableBufferPointer { pz in
      scaled.withUnsafeBufferPointer { ps in
        xi.withUnsafeBufferPointer { px in
          for i in 0..<n {
            // s = scaled/σ²; ε = 2 (r‖ξ‖/‖s‖)² = 2 (r‖ξ‖σ²/‖scaled‖)²; ε s = 2 (r‖ξ‖)² σ² scaled/‖scaled‖².
            let normS = Swift.max(ns[i], 1e-8 * s2)
            let eps = 2 * pow(r * nx[i] * s2 / normS, 2)
            let a = Float(eps / s2), b = Float((2 * eps).squareRoot())
            let row = pz.baseAddress! + i * d
            Kernels.axpy(count: d, alpha: a, x: ps.baseAddress! + i * d, y: row)
            Kernels.axpy(count: d, alpha: b, x: px.baseAddress! + i * d, y: row)
          }
        }
      }
    }
  }
}

/// Predictor–corrector sampling: a reverse-SDE Euler–Maruyama predictor step, then Langevin corrector moves at
/// the new time (Song et al. 2021).
public func samplePredictorCorrector(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: StepControl = .fixed(500),
  corrector: CorrectorOptions = CorrectorOptions(), rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  let grid = try TimeGrid.resolve(steps, sampler: "pc")
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  var z = initial
  for i in 0..<(grid.count - 1) {
    let (t0, t1) = (grid[i], grid[i + 1])
    let h = t1 - t0
    let drift = field.sde(z, t0)
    let xi = rng.normalMatrix(rows: z.rows, cols: z.cols)
    z.add(drift, scale: Float(h))
    z.add(xi, scale: Float(field.g(t0) * (-h).squareRoot()))
    langevinCorrect(&z, t: t1, field: field, options: corrector, rng: &rng)
    callback?(SamplerStep(index: i, time: t1, state: z))
  }
  return SamplingResult(samples: z, field: field, steps: grid.count - 1)
}

/// Annealed Langevin dynamics (Song & Ermon 2019) on the grid t_k = 1 − k/(n − 1), k = 0..<n, one move per level:
///
///     e_k = (100 r/√n) σ²(t_k),    z ← z + e_k s(z, t_k) + √(2 e_k) ξ,
///
/// r = `stepSizeFactor` (BayesFlow's default 0.01, i.e. e_k = σ²/√n). Since e s = (100 r/√n)(α x̂ − z) this never
/// divides by σ². One move per level is not an exact sampler: expect a small variance bias unless n is large.
public func sampleAnnealedLangevin(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: Int = 2000,
  stepSizeFactor: Double = 0.01, rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  guard steps >= 2 else { throw DiffusionError.invalidOption("langevin: steps must be ≥ 2, got \(steps)") }
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  let c = 100 * stepSizeFactor / Double(steps).squareRoot()
  var z = initial
  for k in 0..<steps {
    let t = 1 - Double(k) / Double(steps - 1)
    let (scaled, s2) = field.scaledScore(z, t)
    let xi = rng.normalMatrix(rows: z.rows, cols: z.cols)
    z.add(scaled, scale: Float(c))
    z.add(xi, scale: Float((2 * c * s2).squareRoot()))
    callback?(SamplerStep(index: k, time: t, state: z))
  }
  return SamplingResult(samples: z, field: field, steps: steps)
}

// Log-density of samples through the probability-flow ODE (instantaneous change of variables; Chen et al. 2018,
// Song et al. 2021 appendix D.2).

import Foundation
import NumericCore

/// How the divergence ∇·F of the probability-flow drift is computed.
///
/// With F = (f − ½λ̇) z + ½ λ̇ α x̂(z, t), ∇·F = d (f − ½λ̇) + ½ λ̇ α tr(∂x̂/∂z). The trace comes from the denoiser
/// closure by central finite differences with step δ = `relativeStep`·√(α² σ_d² + σ²) (the state's scale):
/// - `exact`: tr = Σ_j (x̂_j(z + δ e_j) − x̂_j(z − δ e_j))/(2δ), 2d extra evaluations per drift evaluation
///   (for small d);
/// - `hutchinson(probes:)`: tr ≈ (1/P) Σ_p vₚᵀ (x̂(z + δ vₚ) − x̂(z − δ vₚ))/(2δ) with Rademacher vₚ drawn once per
///   integration (Hutchinson 1989; FFJORD), 2P extra evaluations.
public enum DivergenceMethod: Sendable, Equatable {
  case exact
  case hutchinson(probes: Int)
}

/// Log-densities and cost.
public struct LogDensityResult: Sendable {
  /// log p₀(x) per row (standardized space).
  public var logDensity: [Double]
  /// The ODE's end state at t = 1.
  public var noise: Matrix
  /// Denoiser evaluations.
  public var evaluations: Int
}

/// log p₀(x) = log N(z₁; 0, s² I) + ∫₀¹ ∇·F(z_t, t) dt, integrating the probability-flow ODE forward from the
/// samples x [B, d] at t = 0 to t = 1 with classical RK4 on `steps` intervals uniform in λ; s is
/// `schedule.priorStandardDeviation`.
public func logDensity(
  of x: Matrix, denoiser: @escaping Denoiser, schedule: any NoiseSchedule, steps: Int = 100,
  divergence: DivergenceMethod = .exact, relativeStep: Double = 1e-3, rng: inout Xoshiro
) throws -> LogDensityResult {
  guard steps >= 1 else { throw DiffusionError.invalidOption("log-density: steps must be ≥ 1") }
  let (n, d) = (x.rows, x.cols)
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  var probes: [Matrix] = []
  if case .hutchinson(let p) = divergence {
    guard p >= 1 else { throw DiffusionError.invalidOption("log-density: probes must be ≥ 1") }
    probes = (0..<p).map { _ in
      var v = rng.uniformMatrix(rows: n, cols: d)
      v.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = b[i] < 0.5 ? -1 : 1 } }
      return v
    }
  }

  /// (F(z, t), ∇·F per row).
  func evaluate(_ z: Matrix, _ t: Double) -> (Matrix, [Double]) {
    let p = schedule.point(t)
    let c = 0.5 * p.dLogSNR * p.alpha
    let xh = field.denoise(z, t)
    var drift = xh
    drift.scale(by: Float(c))
    drift.add(z, scale: Float(p.drift - 0.5 * p.dLogSNR))
    let delta = relativeStep * (p.alpha * p.alpha * schedule.sigmaData * schedule.sigmaData + p.sigma * p.sigma)
      .squareRoot()
    var trace = [Double](repeating: 0, count: n)
    if probes.isEmpty {
      for j in 0..<d {
        var plus = z, minus = z
        plus.withUnsafeMutableBufferPointer { p in for r in 0..<n { p[r * d + j] += Float(delta) } }
        minus.withUnsafeMutableBufferPointer { p in for r in 0..<n { p[r * d + j] -= Float(delta) } }
        let (xp, xm) = (field.denoise(plus, t), field.denoise(minus, t))
        xp.withUnsafeBufferPointer { pp in
          xm.withUnsafeBufferPointer { pm in
            for r in 0..<n { trace[r] += Double(pp[r * d + j] - pm[r * d + j]) / (2 * delta) }
          }
        }
      }
    } else {
      for v in probes {
        let xp = field.denoise(combine(z, [(delta, v)]), t)
        var diff = field.denoise(combine(z, [(-delta, v)]), t)
        diff.add(xp, scale: -1)  // x̂₋ − x̂₊
        diff.multiply(v)
        let sums = diff.rowSums()
        for r in 0..<n { trace[r] -= Double(sums[r]) / (2 * delta * Double(probes.count)) }
      }
    }
    let base = Double(d) * (p.drift - 0.5 * p.dLogSNR)
    return (drift, trace.map { base + c * $0 })
  }

  let grid = Array(TimeGrid.uniformLogSNR(steps: steps, schedule: schedule).reversed())  // 0 → 1
  var z = x
  var integral = [Double](repeating: 0, count: n)
  for i in 0..<steps {
    let (t0, t1) = (grid[i], grid[i + 1])
    let h = t1 - t0
    let (k1, d1) = evaluate(z, t0)
    let (k2, d2) = evaluate(combine(z, [(h / 2, k1)]), t0 + h / 2)
    let (k3, d3) = evaluate(combine(z, [(h / 2, k2)]), t0 + h / 2)
    let (k4, d4) = evaluate(combine(z, [(h, k3)]), t1)
    z = combine(z, [(h / 6, k1), (h / 3, k2), (h / 3, k3), (h / 6, k4)])
    for r in 0..<n { integral[r] += h / 6 * (d1[r] + 2 * d2[r] + 2 * d3[r] + d4[r]) }
  }
  let s = schedule.priorStandardDeviation
  let norms = rowNorms(z)
  let logp = (0..<n).map { r in
    -0.5 * norms[r] * norms[r] / (s * s) - Double(d) * log(s) - 0.5 * Double(d) * log(2 * Double.pi) + integral[r]
  }
  return LogDensityResult(logDensity: logp, noise: z, evaluations: field.evaluations)
}

// The drift-diffusion (evidence accumulation) model of case study 4 (Documentation/Methods.md §11.2): a trial-level
// Euler–Maruyama simulator, the flat (complete-pooling) prior, and the hierarchical prior.

import Foundation
import NumericCore

/// One DDM trial by Euler–Maruyama (dt = 10⁻³, unit noise, at most 10 s): y₀ = βα, rt = t₀; while 0 ≤ y ≤ α and
/// rt ≤ 10: y += ν dt + √dt·z, rt += dt. Returns (choice, rt) with choice 1 when the upper boundary was crossed.
public func simulateDriftDiffusionTrial(
  nu: Double, alpha: Double, t0: Double, beta: Double, rng: inout Xoshiro,
  dt: Double = 1e-3, maxTime: Double = 10
) -> (choice: Double, rt: Double) {
  var y = beta * alpha
  var rt = t0
  let c = dt.squareRoot()
  while y >= 0 && y <= alpha && rt <= maxTime {
    y += nu * dt + c * rng.nextNormal()
    rt += dt
  }
  return (y >= alpha ? 1 : 0, rt)
}

/// β = F⁻¹_{Beta(50, 50)}(Φ(β_raw)): the starting-point map of case study 4.
public func driftDiffusionStartingPoint(betaRaw: Double) -> Double {
  BetaDistribution.quantile(Special.normalCDF(betaRaw), a: 50, b: 50)
}

/// Flat DDM (one subject): θ = (ν, log α, log t₀, β_raw) with independent normal priors
/// ν ~ N(0.5, e⁻²), log α ~ N(0, e⁻⁶), log t₀ ~ N(−1, e⁻²), β_raw ~ N(0, 1) (scales e⁻¹, e⁻³, e⁻¹, 1);
/// x = (c₁, rt₁, …, c_T, rt_T) for T trials (30 in the case study): a set of T items (c, rt), `dataShape` [T, 2].
public struct DriftDiffusionTask: SimulationTask {
  public let name = "drift_diffusion"
  public let trials: Int
  public let parameterDimension = 4
  public var dataDimension: Int { 2 * trials }
  public var dataShape: [Int] { [trials, 2] }
  public let prior: any Prior = GaussianPrior(
    mean: [0.5, 0, -1, 0], standardDeviation: [Foundation.exp(-1.0), Foundation.exp(-3.0), Foundation.exp(-1.0), 1])

  public init(trials: Int = 30) { self.trials = trials }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    blockedRowMap(rows: parameters.rows, outputColumns: dataDimension, seed: seed, blockSize: 8) { rng, r, out in
      let nu = Double(parameters[r, 0])
      let alpha = Foundation.exp(Double(parameters[r, 1]))
      let t0 = Foundation.exp(Double(parameters[r, 2]))
      let beta = driftDiffusionStartingPoint(betaRaw: Double(parameters[r, 3]))
      for i in 0..<trials {
        let (c, rt) = simulateDriftDiffusionTrial(nu: nu, alpha: alpha, t0: t0, beta: beta, rng: &rng)
        out[2 * i] = Float(c)
        out[2 * i + 1] = Float(rt)
      }
    }
  }
}

/// The hierarchical DDM of case study 4. Global θ_g = (μ_ν, μ_logα, μ_logt₀, log σ_ν, log σ_logα, log σ_logt₀, β_raw)
/// with independent normal hyperpriors N(0.5, 0.3²), N(0, 0.05²), N(−1, 0.3²), N(−1, 1), N(−3, 1), N(−1, 0.3²),
/// N(0, 1); subject p: ν_p ~ N(μ_ν, σ_ν²), log α_p ~ N(μ_logα, σ_logα²), log t₀_p ~ N(μ_logt₀, σ_logt₀²), shared β.
public struct HierarchicalDriftDiffusion: Sendable {
  public let trials: Int
  /// The hyperprior of the 7 global parameters (its score is −(θ − m)/s²).
  public let globalPrior = GaussianPrior(mean: [0.5, 0, -1, -1, -3, -1, 0],
                                         standardDeviation: [0.3, 0.05, 0.3, 1, 1, 0.3, 1])
  public init(trials: Int = 30) { self.trials = trials }

  /// Local parameters (ν, log α, log t₀) of `subjects` subjects given one global row.
  public func sampleLocal(global g: [Float], subjects: Int, seed: UInt64) -> Matrix {
    blockedRowMap(rows: subjects, outputColumns: 3, seed: seed) { rng, _, out in
      for k in 0..<3 {
        out[k] = Float(Double(g[k]) + Foundation.exp(Double(g[3 + k])) * rng.nextNormal())
      }
    }
  }

  /// Trial data [subjects, 2·trials] for local parameters (ν, log α, log t₀) per row and the shared β_raw.
  public func simulate(local: Matrix, betaRaw: Double, seed: UInt64) -> Matrix {
    let beta = driftDiffusionStartingPoint(betaRaw: betaRaw)
    return blockedRowMap(rows: local.rows, outputColumns: 2 * trials, seed: seed, blockSize: 8) { rng, r, out in
      let nu = Double(local[r, 0]), alpha = Foundation.exp(Double(local[r, 1]))
      let t0 = Foundation.exp(Double(local[r, 2]))
      for i in 0..<trials {
        let (c, rt) = simulateDriftDiffusionTrial(nu: nu, alpha: alpha, t0: t0, beta: beta, rng: &rng)
        out[2 * i] = Float(c)
        out[2 * i + 1] = Float(rt)
      }
    }
  }
}

/// The Beta distribution's CDF (regularized incomplete beta) and quantile.
public enum BetaDistribution {
  /// I_x(a, b) by the continued fraction of Abramowitz & Stegun 26.5.8 (modified Lentz), using the symmetry
  /// I_x(a, b) = 1 − I_{1−x}(b, a) where it converges faster.
  public static func cdf(_ x: Double, a: Double, b: Double) -> Double {
    if x <= 0 { return 0 }
    if x >= 1 { return 1 }
    let front = Foundation.exp(a * Foundation.log(x) + b * Foundation.log1p(-x) - Special.logBeta(a, b))
    if x < (a + 1) / (a + b + 2) { return front * continuedFraction(x, a, b) / a }
    return 1 - front * continuedFraction(1 - x, b, a) / b
  }

  static func continuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
    let tiny = 1e-300
    var c = 1.0
    var d = 1 - (a + b) * x / (a + 1)
    if abs(d) < tiny { d = tiny }
    d = 1 / d
    var h = d
    for m in 1...500 {
      let m2 = Double(2 * m), md = Double(m)
      var aa = md * (b - md) * x / ((a + m2 - 1) * (a + m2))
      d = 1 + aa * d
      if abs(d) < tiny { d = tiny }
      c = 1 + aa / c
      if abs(c) < tiny { c = tiny }
      d = 1 / d
      h *= d * c
      aa = -(a + md) * (a + b + md) * x / ((a + m2) * (a + m2 + 1))
      d = 1 + aa * d
      if abs(d) < tiny { d = tiny }
      c = 1 + aa / c
      if abs(c) < tiny { c = tiny }
      d = 1 / d
      let delta = d * c
      h *= delta
      if abs(delta - 1) < 1e-15 { break }
    }
    return h
  }

  /// F⁻¹(p) by safeguarded Newton iteration on the CDF (bisection when a step leaves the bracket).
  public static func quantile(_ p: Double, a: Double, b: Double) -> Double {
    if p <= 0 { return 0 }
    if p >= 1 { return 1 }
    var lo = 0.0, hi = 1.0
    let mean = a / (a + b)
    let sd = (a * b / ((a + b) * (a + b) * (a + b + 1))).squareRoot()
    var x = min(max(mean + sd * Special.normalQuantile(p), 1e-12), 1 - 1e-12)
    let logB = Special.logBeta(a, b)
    for _ in 0..<100 {
      let f = cdf(x, a: a, b: b) - p
      if f < 0 { lo = x } else { hi = x }
      let pdf = Foundation.exp((a - 1) * Foundation.log(x) + (b - 1) * Foundation.log1p(-x) - logB)
      var next = x - f / pdf
      if !(next > lo && next < hi) || !pdf.isFinite || pdf == 0 { next = (lo + hi) / 2 }
      if abs(next - x) < 1e-15 * max(1, x) { return next }
      x = next
    }
    return x
  }
}

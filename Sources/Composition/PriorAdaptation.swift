// Sampling under a new prior, no retraining (Documentation/Methods.md §9.3; sbi `prior_guide`, arXiv:2510.13763).
//
// The posterior under a new prior p̃ is p̃(θ | y) ∝ p(θ | y)·r(θ), r = p̃/p. Two corrections of the trained
// posterior denoiser:
//
// 1. Score difference: s̃ = s + s_p̃,t − s_p,t with both prior scores exactly diffused (Gaussian, box) or
//    time-weighted. Exact at t = 0, approximate for t > 0 (diffusion does not commute with the product).
// 2. Ratio guidance (PriorGuide): with r ≈ Σ_k w_k N(θ; μ_k, C_k) and the backward kernel
//    p(θ₀ | z_t) ≈ N(x̂(z), Σ_{0|t}),  p̃_t(z) ∝ p_t(z)·Σ_k w_k N(x̂; μ_k, C_k + Σ_{0|t}), hence
//        x̃ = x̂ + Σ_{0|t} v,   v = Σ_k w̃_k (C_k + Σ_{0|t})⁻¹(μ_k − x̂),   w̃_k ∝ w_k N(x̂; μ_k, C_k + Σ_{0|t}),
//    using ∂x̂/∂z = (α/σ²)Σ_{0|t} (Tweedie). This is exact when the trained posterior is Gaussian, r is a
//    Gaussian (mixture) and Σ_{0|t} is the true kernel covariance. Kernel choices: `unitPrior`
//    Σ_{0|t} = σ²/(α² + σ²)·I (sbi's default, exact for a N(0, I) posterior), or `tweedie(step)`
//    Σ_{0|t} = (σ²/α) ∂x̂/∂z by central differences (2d extra evaluations in one batched call).

import Foundation
import NumericCore
import Diffusion

/// The denoiser under a new prior by the diffused score difference: x̃ = x̂ + (D_new − D_train)/α with the scaled
/// prior scores D = σ² s_p,t.
public func priorAdapted(
  _ base: @escaping Denoiser, newPrior: any CompositionPrior, trainingPrior: any CompositionPrior,
  schedule: any NoiseSchedule
) -> Denoiser {
  { z, t in
    let p = schedule.point(t)
    var x = base(z, t)
    x.add(newPrior.scaledScore(z, at: p), scale: Float(1 / p.alpha))
    x.add(trainingPrior.scaledScore(z, at: p), scale: Float(-1 / p.alpha))
    return x
  }
}

/// A Gaussian mixture Σ_k w_k N(μ_k, C_k) approximating a prior ratio (up to a constant).
public struct GaussianMixtureRatio: Sendable {
  public var weights: [Double]
  public var means: [[Double]]
  public var covariances: [DMatrix]

  public init(weights: [Double], means: [[Double]], covariances: [DMatrix]) throws {
    guard weights.count == means.count, means.count == covariances.count, !weights.isEmpty else {
      throw CompositionError.shapeMismatch("mixture: \(weights.count) weights, \(means.count) means, \(covariances.count) covariances")
    }
    self.weights = weights
    self.means = means
    self.covariances = covariances
  }

  public var dimension: Int { means[0].count }

  /// The exact ratio of two Gaussians N(μ̃, Σ̃)/N(μ, Σ) ∝ N(m, C), C = (Σ̃⁻¹ − Σ⁻¹)⁻¹, m = C(Σ̃⁻¹μ̃ − Σ⁻¹μ);
  /// requires Σ̃⁻¹ − Σ⁻¹ positive definite (the new prior narrower than the training prior).
  public static func gaussianRatio(newMean: [Double], newCovariance: DMatrix, trainingMean: [Double],
                                   trainingCovariance: DMatrix) throws -> GaussianMixtureRatio {
    guard let pn = try? newCovariance.inverseSPD(), let pt = try? trainingCovariance.inverseSPD() else {
      throw CompositionError.notPositiveDefinite("prior covariances")
    }
    guard let c = try? (pn - pt).inverseSPD() else {
      throw CompositionError.notPositiveDefinite("the ratio of the priors is not a Gaussian (new prior not narrower)")
    }
    let b = zip(pn.multiply(newMean), pt.multiply(trainingMean)).map { $0 - $1 }
    return try GaussianMixtureRatio(weights: [1], means: [c.multiply(b)], covariances: [c])
  }

  /// Fits K components to the ratio by weighted EM on draws θ_i from the new prior with weights
  /// w_i ∝ 1/p(θ_i) (`logWeights` = −log p_train(θ_i) up to a constant): the weighted draws represent the
  /// normalized ratio r/Z, which must be integrable (new prior with lighter tails than the training prior).
  /// Covariances are floored at `minimumVariance`·I.
  public static func fit(samples x: Matrix, logWeights: [Double], components k: Int, iterations: Int = 200,
                         minimumVariance: Double = 1e-4, seed: UInt64 = 1) throws -> GaussianMixtureRatio {
    let (n, d) = (x.rows, x.cols)
    guard logWeights.count == n, n > k * (d + 1), k >= 1 else {
      throw CompositionError.invalidOption("mixture fit needs one weight per sample and more than K(d + 1) samples")
    }
    let mx = logWeights.max() ?? 0
    var w = logWeights.map { exp($0 - mx) }
    let total = w.reduce(0, +)
    w = w.map { $0 / total }
    let xs = (0..<n).map { r in (0..<d).map { Double(x[r, $0]) } }
    var rng = Xoshiro(seed: seed)
    var means = (0..<k).map { _ in xs[rng.nextCategorical(w)] }
    let global = weightedMoments(xs, w)
    var covs = [DMatrix](repeating: global.cov, count: k)
    var mix = [Double](repeating: 1 / Double(k), count: k)
    var resp = [[Double]](repeating: [Double](repeating: 0, count: k), count: n)
    for _ in 0..<iterations {
      let comps = (0..<k).map { try? GaussianComponent(mean: means[$0], covariance: covs[$0]) }
      for i in 0..<n {
        let l = (0..<k).map { c in comps[c].map { log(mix[c]) + $0.logDensity(xs[i]) } ?? -.infinity }
        let lse = Special.logSumExp(l)
        resp[i] = l.map { exp($0 - lse) }
      }
      for c in 0..<k {
        let wc = (0..<n).map { w[$0] * resp[$0][c] }
        let s = wc.reduce(0, +)
        guard s > 1e-300 else { continue }
        mix[c] = s
        let mom = weightedMoments(xs, wc.map { $0 / s })
        means[c] = mom.mean
        var cv = mom.cov
        for j in 0..<d { cv[j, j] = max(cv[j, j], minimumVariance) + 1e-12 }
        covs[c] = cv
      }
    }
    return try GaussianMixtureRatio(weights: mix, means: means, covariances: covs)
  }
}

/// Weighted mean and covariance (weights summing to 1).
func weightedMoments(_ xs: [[Double]], _ w: [Double]) -> (mean: [Double], cov: DMatrix) {
  let d = xs[0].count
  var m = [Double](repeating: 0, count: d)
  for (x, wi) in zip(xs, w) { for j in 0..<d { m[j] += wi * x[j] } }
  var c = DMatrix(rows: d, cols: d)
  for (x, wi) in zip(xs, w) {
    for i in 0..<d { for j in 0..<d { c[i, j] += wi * (x[i] - m[i]) * (x[j] - m[j]) } }
  }
  return (m, c)
}

/// A Gaussian with a cached Cholesky factor.
struct GaussianComponent {
  let mean: [Double]
  let factor: DMatrix
  let logNorm: Double

  init(mean: [Double], covariance: DMatrix) throws {
    self.mean = mean
    factor = try covariance.cholesky()
    var ld = 0.0
    for i in 0..<mean.count { ld += 2 * log(factor[i, i]) }
    logNorm = -0.5 * (ld + Double(mean.count) * log(2 * Double.pi))
  }

  func logDensity(_ x: [Double]) -> Double {
    let y = factor.solveLower(zip(x, mean).map { $0 - $1 })
    return logNorm - 0.5 * y.reduce(0) { $0 + $1 * $1 }
  }

  /// C⁻¹(μ − x).
  func precisionTimesDifference(_ x: [Double]) -> [Double] {
    factor.solveLowerTransposed(factor.solveLower(zip(mean, x).map { $0 - $1 }))
  }
}

/// The backward-kernel covariance Σ_{0|t} used by ratio guidance.
public enum KernelCovariance: Sendable {
  /// σ²/(α² + σ²)·I (sbi's PriorGuide default; exact for a N(0, I) posterior in standardized space).
  case unitPrior
  /// (σ²/α)·∂x̂/∂z by central differences with this step (symmetrized), per sample.
  case tweedie(step: Double)
}

/// The denoiser under a new prior by Gaussian-mixture ratio guidance (see the file header).
public func priorGuided(
  _ base: @escaping Denoiser, ratio: GaussianMixtureRatio, schedule: any NoiseSchedule,
  kernel: KernelCovariance = .unitPrior
) -> Denoiser {
  { z, t in
    let (a, s) = schedule.alphaSigma(t)
    let x = base(z, t)
    let (b, d) = (x.rows, x.cols)
    var kernels: [DMatrix]
    switch kernel {
    case .unitPrior:
      kernels = [DMatrix.identity(d, scale: s * s / (a * a + s * s))]
    case .tweedie(let h):
      var pert = Matrix(rows: 2 * d * b, cols: d)
      for k in 0..<d {
        for sg in 0..<2 {
          for r in 0..<b {
            for c in 0..<d { pert[(2 * k + sg) * b + r, c] = z[r, c] }
            pert[(2 * k + sg) * b + r, k] += Float(sg == 0 ? h : -h)
          }
        }
      }
      let xp = base(pert, t)
      kernels = (0..<b).map { r in
        var m = DMatrix(rows: d, cols: d)
        for k in 0..<d {
          for i in 0..<d {
            m[i, k] = (Double(xp[2 * k * b + r, i]) - Double(xp[(2 * k + 1) * b + r, i])) / (2 * h) * s * s / a
          }
        }
        return (m + m.transposed).map(0.5)
      }
    }
    var out = x
    var components: [GaussianComponent?] = []
    for r in 0..<b {
      let kr = kernels.count == 1 ? kernels[0] : kernels[r]
      if r == 0 || kernels.count > 1 {
        components = (0..<ratio.weights.count).map { try? GaussianComponent(mean: ratio.means[$0], covariance: ratio.covariances[$0] + kr) }
      }
      let xr = x.row(r).map(Double.init)
      let logs = (0..<ratio.weights.count).map { c in components[c].map { log(ratio.weights[c]) + $0.logDensity(xr) } ?? -.infinity }
      let lse = Special.logSumExp(logs)
      guard lse.isFinite else { continue }
      var v = [Double](repeating: 0, count: d)
      for c in 0..<logs.count {
        guard let comp = components[c] else { continue }
        let wt = exp(logs[c] - lse)
        let pv = comp.precisionTimesDifference(xr)
        for j in 0..<d { v[j] += wt * pv[j] }
      }
      let shift = kr.multiply(v)
      for j in 0..<d { out[r, j] += Float(shift[j]) }
    }
    return out
  }
}

extension DMatrix {
  /// Every entry times a constant.
  func map(_ c: Double) -> DMatrix { DMatrix(rows: rows, cols: cols, values: values.map { $0 * c }) }
}

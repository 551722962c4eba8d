// Prior scores in the network's (standardized) space, exactly diffused or time-weighted.
//
// Composition needs the prior score at the noisy state z_t. Two choices (Documentation/Methods.md §8.3, §13.1):
// - time-weighted (Geffner et al. 2023, BayesFlow): (1 − t)·∇log p(z), the undiffused prior score at z;
// - exactly diffused: ∇log p_t(z) with p_t = p ⋆ N(0, σ²)∘(·/α), available in closed form for Gaussian and
//   box-uniform priors (sbi's `marginalize`):
//     Gaussian N(μ, Σ):  p_t = N(αμ, α²Σ + σ²I),  σ² s = −σ²(α²Σ + σ²I)⁻¹(z − αμ);
//     box U[a, b] per coordinate:  p_t(z) ∝ Φ(u_a) − Φ(u_b), u_a = (z − αa)/σ, u_b = (z − αb)/σ,
//                                  σ² s = σ (φ(u_a) − φ(u_b))/(Φ(u_a) − Φ(u_b)).
// Every prior also reports a Gaussian approximation of its precision (exact for Gaussians, 12/(b − a)² for
// boxes), which the Gauss-corrected methods use for the denoising precision Σ⁻¹ + (α²/σ²) I.

import Foundation
import NumericCore
import Diffusion

/// How the prior score enters at diffusion time t.
public enum PriorDiffusion: String, Sendable, Codable, CaseIterable {
  /// ∇log p_t(z), the score of the diffused prior (Gaussian and box-uniform priors only).
  case exact
  /// (1 − t)·∇log p(z), the undiffused score at the noisy state, weighted linearly in time.
  case timeWeighted = "time-weighted"
}

/// A prior in network space, as composition, guidance and prior adaptation use it.
public protocol CompositionPrior: Sendable {
  var dimension: Int { get }
  /// The scaled prior score σ²·s_p(z, t) [B, d] at a schedule point.
  func scaledScore(_ z: Matrix, at p: SchedulePoint) -> Matrix
  /// The (approximate) precision Σ⁻¹ of the undiffused prior, d × d.
  var precision: DMatrix { get }
  /// The mean of the undiffused prior.
  var mean: [Double] { get }
}

extension CompositionPrior {
  /// The denoising precision of θ₀ given z_t under the prior's Gaussian approximation: Σ⁻¹ + (α²/σ²) I.
  public func denoisingPrecision(at p: SchedulePoint) -> DMatrix {
    var m = precision
    let r = p.alpha * p.alpha / (p.sigma * p.sigma)
    for i in 0..<dimension { m[i, i] += r }
    return m
  }

  /// The score s_p(z, t) (unscaled).
  public func score(_ z: Matrix, at p: SchedulePoint) -> Matrix {
    var s = scaledScore(z, at: p)
    s.scale(by: Float(1 / (p.sigma * p.sigma)))
    return s
  }
}

/// A Gaussian prior N(μ, Σ) in network space.
public struct GaussianCompositionPrior: CompositionPrior {
  public let mean: [Double]
  public let covariance: DMatrix
  public let precision: DMatrix
  public let diffusion: PriorDiffusion
  public var dimension: Int { mean.count }

  public init(mean: [Double], covariance: DMatrix, diffusion: PriorDiffusion = .exact) throws {
    guard covariance.rows == mean.count, covariance.cols == mean.count else {
      throw CompositionError.shapeMismatch("Gaussian prior: mean \(mean.count), covariance \(covariance.rows)×\(covariance.cols)")
    }
    guard let p = try? covariance.inverseSPD() else {
      throw CompositionError.notPositiveDefinite("Gaussian prior covariance")
    }
    self.mean = mean
    self.covariance = covariance
    self.precision = p
    self.diffusion = diffusion
  }

  /// The prior N(μ, Σ) of original parameters seen in a standardized space u = (θ − m)/s:
  /// N((μ − m)/s, D⁻¹ΣD⁻¹), D = diag(s). Throws if the space has non-identity transforms.
  public init(mean: [Double], covariance: DMatrix, space: ParameterSpace, diffusion: PriorDiffusion = .exact) throws {
    guard space.isAffine, space.dimension == mean.count else {
      throw CompositionError.invalidOption("a Gaussian prior stays Gaussian only under an affine standardization")
    }
    let d = mean.count
    var c = covariance
    for i in 0..<d { for j in 0..<d { c[i, j] /= space.scale[i] * space.scale[j] } }
    try self.init(mean: (0..<d).map { (mean[$0] - space.shift[$0]) / space.scale[$0] }, covariance: c,
                  diffusion: diffusion)
  }

  public func scaledScore(_ z: Matrix, at p: SchedulePoint) -> Matrix {
    let d = dimension
    // A = σ²(α²Σ + σ²I)⁻¹ (exact) or σ²(1 − t)Σ⁻¹ (time-weighted); centre αμ or μ.
    let a: DMatrix
    let centre: [Double]
    switch diffusion {
    case .exact:
      var m = covariance
      for i in 0..<d * d { m.values[i] *= p.alpha * p.alpha }
      for i in 0..<d { m[i, i] += p.sigma * p.sigma }
      var inv = (try? m.inverseSPD()) ?? DMatrix.identity(d)
      for i in 0..<d * d { inv.values[i] *= p.sigma * p.sigma }
      a = inv
      centre = mean.map { $0 * p.alpha }
    case .timeWeighted:
      var m = precision
      for i in 0..<d * d { m.values[i] *= p.sigma * p.sigma * (1 - p.time) }
      a = m
      centre = mean
    }
    var out = Matrix(rows: z.rows, cols: d)
    var diff = [Double](repeating: 0, count: d)
    for r in 0..<z.rows {
      for j in 0..<d { diff[j] = Double(z[r, j]) - centre[j] }
      for i in 0..<d {
        var acc = 0.0
        for j in 0..<d { acc += a.values[i * d + j] * diff[j] }
        out[r, i] = Float(-acc)
      }
    }
    return out
  }
}

/// A box-uniform prior ∏_j U[a_j, b_j] in network space.
public struct BoxUniformCompositionPrior: CompositionPrior {
  public let lower: [Double]
  public let upper: [Double]
  public let diffusion: PriorDiffusion
  public var dimension: Int { lower.count }
  public var mean: [Double] { zip(lower, upper).map { ($0 + $1) / 2 } }
  /// diag(12/(b − a)²), the precision of the moment-matched Gaussian.
  public var precision: DMatrix { DMatrix.diagonal(zip(lower, upper).map { 12 / (($1 - $0) * ($1 - $0)) }) }

  public init(lower: [Double], upper: [Double], diffusion: PriorDiffusion = .exact) throws {
    guard lower.count == upper.count, zip(lower, upper).allSatisfy({ $0 < $1 }) else {
      throw CompositionError.invalidOption("box prior needs lower < upper in every coordinate")
    }
    self.lower = lower
    self.upper = upper
    self.diffusion = diffusion
  }

  /// The box of original parameters seen in a standardized space u = (θ − m)/s.
  public init(lower: [Double], upper: [Double], space: ParameterSpace, diffusion: PriorDiffusion = .exact) throws {
    guard space.isAffine, space.dimension == lower.count else {
      throw CompositionError.invalidOption("a box prior stays a box only under an affine standardization")
    }
    try self.init(lower: (0..<lower.count).map { (lower[$0] - space.shift[$0]) / space.scale[$0] },
                  upper: (0..<upper.count).map { (upper[$0] - space.shift[$0]) / space.scale[$0] },
                  diffusion: diffusion)
  }

  public func scaledScore(_ z: Matrix, at p: SchedulePoint) -> Matrix {
    var out = Matrix(rows: z.rows, cols: dimension)
    guard diffusion == .exact else { return out }  // the undiffused score is 0 inside the box
    for r in 0..<z.rows {
      for j in 0..<dimension {
        out[r, j] = Float(Self.scaledScore1D(Double(z[r, j]), a: lower[j], b: upper[j], alpha: p.alpha, sigma: p.sigma))
      }
    }
    return out
  }

  /// σ² d/dz log[Φ(u_a) − Φ(u_b)], computed on the side of the box where the difference has no cancellation.
  static func scaledScore1D(_ z: Double, a: Double, b: Double, alpha: Double, sigma: Double) -> Double {
    let ua = (z - alpha * a) / sigma, ub = (z - alpha * b) / sigma
    let phiA = exp(-0.5 * ua * ua), phiB = exp(-0.5 * ub * ub)  // √(2π) cancels in the ratio
    let root2 = 2.0.squareRoot()
    // Φ(u_a) − Φ(u_b) · √(2π): use erfc of the side farther from the centre.
    let mass: Double
    if ub > 0 {
      mass = 0.5 * (erfc(ub / root2) - erfc(ua / root2))
    } else if ua < 0 {
      mass = 0.5 * (erfc(-ua / root2) - erfc(-ub / root2))
    } else {
      mass = 1 - 0.5 * erfc(ua / root2) - 0.5 * erfc(-ub / root2)
    }
    let norm = (2 * Double.pi).squareRoot()
    if mass > 1e-280 {
      return sigma * (phiA - phiB) / (norm * mass)
    }
    // Deep in a tail: log p_t ≈ log Q(u) for the nearer edge, d/du log Q(u) ≈ −(u + 1/u) for |u| large.
    if ub > 0 { return -sigma * (ub + 1 / ub) }
    return -sigma * (ua + 1 / ua)
  }
}

/// A prior given by its original-space score, seen through a parameter space (constraint transforms and
/// standardization with the chain rule and the log-det-Jacobian term, see `ParameterSpace`), time-weighted.
public struct TransformedCompositionPrior: CompositionPrior {
  public let space: ParameterSpace
  public let originalScore: @Sendable (Matrix) -> Matrix
  public let precision: DMatrix
  public let mean: [Double]
  public var dimension: Int { space.dimension }

  /// `precision` and `mean` describe a Gaussian approximation of the prior in network space (for the
  /// Gauss-corrected methods); the default is N(0, I), what standardization aims at.
  public init(space: ParameterSpace, originalScore: @escaping @Sendable (Matrix) -> Matrix,
              precision: DMatrix? = nil, mean: [Double]? = nil) {
    self.space = space
    self.originalScore = originalScore
    self.precision = precision ?? DMatrix.identity(space.dimension)
    self.mean = mean ?? [Double](repeating: 0, count: space.dimension)
  }

  public func scaledScore(_ z: Matrix, at p: SchedulePoint) -> Matrix {
    var s = space.networkScore(z, originalScore: originalScore)
    s.scale(by: Float(p.sigma * p.sigma * (1 - p.time)))
    return s
  }
}

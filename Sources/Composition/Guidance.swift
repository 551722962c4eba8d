// Inference-time guidance on a denoiser: constraints on the denoised estimate, intervals and classifier-free
// guidance (Documentation/Methods.md §9, §13.1).
//
// Constraint guidance (BayesFlow `guidance_function`): constraints c_k(θ) ≤ 0 are satisfied; the score becomes
//
//     s̃ = s + λ_g ∇_z Σ_k −softplus(k_t c_k(x̂(z))),      k_t = e^{λ_t} = α²/σ² by default,
//
// and −softplus(k c) = log sigmoid(−k c) is a smooth log-indicator of {c ≤ 0}. With g = ∇_x̂ Σ_k −softplus(k_t c_k)
// = −Σ_k k_t sigmoid(k_t c_k) ∇c_k, the chain rule gives ∇_z = (∂x̂/∂z)ᵀ g. Choices for the Jacobian:
// - `identity`: ∇_z ≈ g, x̂ treated as an independent variable (BayesFlow; no network derivative needed);
// - `finiteDifferenceJVP(step)`: the denoiser Jacobian is symmetric (Tweedie: ∂x̂/∂z = (α/σ²) Cov[θ₀ | z_t]),
//   so (∂x̂/∂z)ᵀ g = (∂x̂/∂z) g ≈ (x̂(z + h ĝ) − x̂(z))/h · |g| with ĝ = g/|g| per row: one extra batched
//   evaluation per step (exact for the linear Gaussian denoiser);
// - `supplied(vjp)`: a user closure returning (∂x̂/∂z)ᵀ v, e.g. from a network's backward pass.
// In x̂ form the guided estimate is x̂ + (σ²/α)λ_g ∇_z(…), which stays bounded as t → 0 because σ² k_t = α².

import Foundation
import NumericCore
import Diffusion

/// A constraint c(x) ≤ 0 on network-space rows: values [B] and gradients ∇c [B, d].
public struct GuidanceConstraint: @unchecked Sendable {
  public let evaluate: (Matrix) -> (values: [Double], gradients: Matrix)

  public init(_ evaluate: @escaping (Matrix) -> (values: [Double], gradients: Matrix)) { self.evaluate = evaluate }

  /// nᵀx − b ≤ 0.
  public static func halfPlane(normal n: [Double], offset b: Double) -> GuidanceConstraint {
    GuidanceConstraint { x in
      var g = Matrix(rows: x.rows, cols: n.count)
      let v = (0..<x.rows).map { r -> Double in
        var acc = -b
        for j in 0..<n.count { acc += n[j] * Double(x[r, j]); g[r, j] = Float(n[j]) }
        return acc
      }
      return (v, g)
    }
  }

  /// A scalar function with a central finite-difference gradient (step h).
  public static func function(_ f: @escaping ([Double]) -> Double, step h: Double = 1e-4) -> GuidanceConstraint {
    GuidanceConstraint { x in
      var g = Matrix(rows: x.rows, cols: x.cols)
      let v = (0..<x.rows).map { r -> Double in
        var row = x.row(r).map(Double.init)
        let f0 = f(row)
        for j in 0..<x.cols {
          let keep = row[j]
          row[j] = keep + h
          let fp = f(row)
          row[j] = keep - h
          let fm = f(row)
          row[j] = keep
          g[r, j] = Float((fp - fm) / (2 * h))
        }
        return f0
      }
      return (v, g)
    }
  }

  /// A constraint written on original parameters θ, seen in network space u through `space`:
  /// c(θ(u)) with ∇_u c = s ⊙ (dθ/dφ) ⊙ ∇_θ c.
  public func inOriginalSpace(_ space: ParameterSpace) -> GuidanceConstraint {
    GuidanceConstraint { u in
      let theta = space.toOriginal(u)
      let (v, g) = self.evaluate(theta)
      return (v, space.networkGradient(u, originalGradient: g))
    }
  }

  /// The interval lower ≤ x_j ≤ upper as the two constraints lower − x_j ≤ 0 and x_j − upper ≤ 0 (either bound
  /// may be nil). Together with the `sbiInterval` scaling this is sbi's `interval` guidance.
  public static func interval(coordinate j: Int, lower: Double?, upper: Double?, dimension d: Int) -> [GuidanceConstraint] {
    var out = [GuidanceConstraint]()
    if let lo = lower {
      var n = [Double](repeating: 0, count: d)
      n[j] = -1
      out.append(.halfPlane(normal: n, offset: -lo))
    }
    if let hi = upper {
      var n = [Double](repeating: 0, count: d)
      n[j] = 1
      out.append(.halfPlane(normal: n, offset: hi))
    }
    return out
  }
}

/// The sharpness k_t of the soft constraint.
public enum GuidanceScaling: Sendable, Equatable {
  /// k_t = e^{λ_t} = α²/σ² (BayesFlow's default).
  case logSNR
  /// k_t = factor/(α² σ²) (sbi's interval guidance, factor 0.5).
  case sbiInterval(factor: Double)
  /// A fixed k.
  case constant(Double)

  func value(alpha a: Double, sigma s: Double) -> Double {
    switch self {
    case .logSNR: return a * a / (s * s)
    case .sbiInterval(let f): return f / (a * a * s * s)
    case .constant(let k): return k
    }
  }
}

/// How the gradient with respect to x̂ is carried to z.
public enum GuidanceJacobian: @unchecked Sendable {
  case identity
  case finiteDifferenceJVP(step: Double)
  case supplied((_ z: Matrix, _ vector: Matrix, _ t: Double) -> Matrix)
}

/// Options of constraint guidance.
public struct ConstraintGuidanceOptions: @unchecked Sendable {
  /// λ_g.
  public var strength: Double
  /// Average over the constraints instead of summing them.
  public var mean: Bool
  public var scaling: GuidanceScaling
  public var jacobian: GuidanceJacobian

  public init(strength: Double = 1, mean: Bool = false, scaling: GuidanceScaling = .logSNR,
              jacobian: GuidanceJacobian = .identity) {
    self.strength = strength
    self.mean = mean
    self.scaling = scaling
    self.jacobian = jacobian
  }
}

/// The denoiser with constraint guidance (see the file header).
public func constraintGuided(
  _ base: @escaping Denoiser, constraints: [GuidanceConstraint], schedule: any NoiseSchedule,
  options: ConstraintGuidanceOptions = ConstraintGuidanceOptions()
) -> Denoiser {
  { z, t in
    let (a, s) = schedule.alphaSigma(t)
    var x = base(z, t)
    let k = options.scaling.value(alpha: a, sigma: s)
    // g = ∇_x̂ Σ −softplus(k c) = −Σ k sigmoid(k c) ∇c, accumulated as σ²/α · λ_g · g.
    var g = Matrix(rows: x.rows, cols: x.cols)
    let factor = options.strength * (options.mean ? 1 / Double(max(constraints.count, 1)) : 1)
    for c in constraints {
      let (v, grad) = c.evaluate(x)
      for r in 0..<x.rows {
        let w = -k * Special.sigmoid(k * v[r]) * factor
        guard w != 0 else { continue }
        for j in 0..<x.cols { g[r, j] += Float(w * Double(grad[r, j])) }
      }
    }
    let chained: Matrix
    switch options.jacobian {
    case .identity: chained = g
    case .supplied(let vjp): chained = vjp(z, g, t)
    case .finiteDifferenceJVP(let h):
      // Per-row direction ĝ = g/|g|, scaled back by |g| (keeps the step h meaningful for any |g|).
      var norms = [Float](repeating: 0, count: g.rows)
      var dir = g
      for r in 0..<g.rows {
        var n: Float = 0
        for j in 0..<g.cols { n += g[r, j] * g[r, j] }
        norms[r] = n.squareRoot()
        let inv = norms[r] > 0 ? 1 / norms[r] : 0
        for j in 0..<g.cols { dir[r, j] *= inv }
      }
      var shifted = z
      shifted.add(dir, scale: Float(h))
      var jv = base(shifted, t)
      jv.add(x, scale: -1)
      jv.scale(by: Float(1 / h))
      jv.scaleRows(norms)
      chained = jv
    }
    x.add(chained, scale: Float(s * s / a))
    return x
  }
}

/// Classifier-free guidance (Ho & Salimans 2022) and its affine prior/likelihood form (sbi
/// `affine_classifier_free`): with an unconditional (prior) score s_u and a conditional score s_c,
///
///     s = γ s_u + w (s_c − s_u),
///
/// w the guidance scale (1: the conditional model), γ the prior scale (1). Linear in s, so in x̂ form:
/// α x̂ − z = γ(α x̂_u − z) + w α(x̂_c − x̂_u).
public func classifierFreeGuided(
  conditional: @escaping Denoiser, unconditional: @escaping Denoiser, scale w: Double, priorScale gamma: Double = 1,
  schedule: any NoiseSchedule
) -> Denoiser {
  { z, t in
    let a = schedule.alphaSigma(t).alpha
    let xc = conditional(z, t)
    let xu = unconditional(z, t)
    // x̂ = (z + γ(α x̂_u − z) + w α (x̂_c − x̂_u))/α
    var out = xu
    out.scale(by: Float(gamma - w))
    out.add(xc, scale: Float(w))
    out.add(z, scale: Float((1 - gamma) / a))
    return out
  }
}

/// An unconditional denoiser from a network-space prior: x̂_u = (z + σ² s_p(z, t))/α.
public func priorDenoiser(_ prior: any CompositionPrior, schedule: any NoiseSchedule) -> Denoiser {
  { z, t in
    let p = schedule.point(t)
    return Tweedie.denoised(scaledScore: prior.scaledScore(z, at: p), z: z, alpha: p.alpha)
  }
}

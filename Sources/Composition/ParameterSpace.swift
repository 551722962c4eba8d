// The map from the original parameter space to the network's standardized space, and the chain rule for scores.
//
// The network sees u = (φ − m)/s with φ = T(θ) coordinate-wise (identity, log for positive parameters, logit for
// intervals; Documentation/Methods.md §4.5). Densities transform with the Jacobian of θ = T⁻¹(m + s⊙u):
//
//     log p_u(u) = log p_θ(θ) + Σ_j log|dθ_j/dφ_j| + Σ_j log s_j,
//     ∇_u log p_u = s ⊙ [ (dθ/dφ) ⊙ ∇_θ log p_θ(θ) + ∇_φ Σ_j log|dθ_j/dφ_j| ].
//
// | transform | θ(φ) | dθ/dφ | d/dφ log|dθ/dφ| |
// |---|---|---|---|
// | identity | φ | 1 | 0 |
// | log | e^φ | e^φ | 1 |
// | logit(a, b) | a + (b − a)σ(φ) | (b − a)σ(φ)(1 − σ(φ)) | 1 − 2σ(φ) |
//
// BayesFlow requires adapters with zero log-det Jacobian for analytic prior scores; here the term is included.

import Foundation
import NumericCore

/// The bijection of one coordinate from its support to ℝ.
public enum CoordinateTransform: Sendable, Equatable, Codable {
  case identity
  /// θ > 0, φ = log θ.
  case log
  /// θ ∈ (lower, upper), φ = logit((θ − a)/(b − a)) with a = lower − ε, b = upper + ε (ε = 1e-6, as the adapter).
  case logit(lower: Double, upper: Double)

  static let epsilon = 1e-6

  /// θ = T⁻¹(φ), dθ/dφ and d/dφ log|dθ/dφ|.
  func inverse(_ phi: Double) -> (theta: Double, jacobian: Double, logJacobianGradient: Double) {
    switch self {
    case .identity: return (phi, 1, 0)
    case .log:
      let e = Foundation.exp(phi)
      return (e, e, 1)
    case .logit(let lo, let hi):
      let (a, b) = (lo - Self.epsilon, hi + Self.epsilon)
      let s = Special.sigmoid(phi)
      return (a + (b - a) * s, (b - a) * s * (1 - s), 1 - 2 * s)
    }
  }

  /// φ = T(θ).
  func forward(_ theta: Double) -> Double {
    switch self {
    case .identity: return theta
    case .log: return Foundation.log(theta)
    case .logit(let lo, let hi):
      let (a, b) = (lo - Self.epsilon, hi + Self.epsilon)
      return Special.logit((theta - a) / (b - a))
    }
  }
}

/// Original parameters θ ↔ network space u = (T(θ) − shift)/scale, with the score chain rule.
public struct ParameterSpace: Sendable, Equatable {
  public var transforms: [CoordinateTransform]
  /// Standardization mean m (in φ space).
  public var shift: [Double]
  /// Standardization standard deviation s (in φ space).
  public var scale: [Double]

  public init(transforms: [CoordinateTransform], shift: [Double], scale: [Double]) throws {
    guard transforms.count == shift.count, shift.count == scale.count else {
      throw CompositionError.shapeMismatch("parameter space: \(transforms.count) transforms, \(shift.count) shifts, \(scale.count) scales")
    }
    guard scale.allSatisfy({ $0 > 0 && $0.isFinite }) else {
      throw CompositionError.invalidOption("parameter space: standardization scales must be positive")
    }
    self.transforms = transforms
    self.shift = shift
    self.scale = scale
  }

  /// The identity map of dimension d.
  public static func identity(_ d: Int) -> ParameterSpace {
    try! ParameterSpace(transforms: Array(repeating: .identity, count: d), shift: Array(repeating: 0, count: d),
                        scale: Array(repeating: 1, count: d))
  }

  public var dimension: Int { shift.count }
  public var isAffine: Bool { transforms.allSatisfy { $0 == .identity } }

  /// u = (T(θ) − m)/s row by row.
  public func toNetwork(_ theta: Matrix) -> Matrix {
    var out = theta
    for r in 0..<theta.rows {
      for j in 0..<dimension {
        out[r, j] = Float((transforms[j].forward(Double(theta[r, j])) - shift[j]) / scale[j])
      }
    }
    return out
  }

  /// θ = T⁻¹(m + s⊙u) row by row.
  public func toOriginal(_ u: Matrix) -> Matrix {
    var out = u
    for r in 0..<u.rows {
      for j in 0..<dimension {
        out[r, j] = Float(transforms[j].inverse(shift[j] + scale[j] * Double(u[r, j])).theta)
      }
    }
    return out
  }

  /// log|det ∂θ/∂u| = Σ_j log|dθ_j/dφ_j| + log s_j per row, so that log p_u(u) = log p_θ(θ(u)) + log|det ∂θ/∂u|.
  public func logAbsJacobian(_ u: Matrix) -> [Double] {
    (0..<u.rows).map { r in
      var acc = 0.0
      for j in 0..<dimension {
        let v = transforms[j].inverse(shift[j] + scale[j] * Double(u[r, j]))
        acc += Foundation.log(abs(v.jacobian)) + Foundation.log(scale[j])
      }
      return acc
    }
  }

  /// ∇_u log p_u(u) from the original-space score ∇_θ log p_θ (a closure on original-space rows), by the chain
  /// rule with the log-det-Jacobian term (see the file header).
  public func networkScore(_ u: Matrix, originalScore: (Matrix) -> Matrix) -> Matrix {
    var theta = u
    var jac = u
    var logJacGrad = u
    for r in 0..<u.rows {
      for j in 0..<dimension {
        let v = transforms[j].inverse(shift[j] + scale[j] * Double(u[r, j]))
        theta[r, j] = Float(v.theta)
        jac[r, j] = Float(v.jacobian)
        logJacGrad[r, j] = Float(v.logJacobianGradient)
      }
    }
    var g = originalScore(theta)
    g.multiply(jac)
    g.add(logJacGrad)
    g.multiplyRowVector(scale.map(Float.init))
    return g
  }

  /// The gradient of a function of θ with respect to u (chain rule without the density term):
  /// ∇_u f = s ⊙ (dθ/dφ) ⊙ ∇_θ f. Used for constraints written in the original space.
  public func networkGradient(_ u: Matrix, originalGradient g: Matrix) -> Matrix {
    var out = g
    for r in 0..<u.rows {
      for j in 0..<dimension {
        let v = transforms[j].inverse(shift[j] + scale[j] * Double(u[r, j]))
        out[r, j] = Float(Double(g[r, j]) * v.jacobian * scale[j])
      }
    }
    return out
  }
}

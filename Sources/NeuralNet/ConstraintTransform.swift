// Bijections from constrained parameter spaces to R, applied before standardization.

import Foundation
import NumericCore

/// The support of one parameter and the bijection that maps it to the real line (BayesFlow `constrain`).
///
/// - `interval(lower, upper)`: `y = logit((x − a)/(b − a))` with `a = lower − ε`, `b = upper + ε`, ε = 1e-6;
///   inverse `x = a + (b − a)·σ(y)`; `log|dy/dx| = −log(u(1 − u)(b − a))`, `u = (x − a)/(b − a)`.
/// - `positive`: `y = log x`; inverse `x = eʸ`; `log|dy/dx| = −log x`.
/// - `unbounded`: identity.
public enum Constraint: Sendable, Codable, Equatable {
  case unbounded
  case positive
  case interval(lower: Double, upper: Double)

  /// Padding of interval bounds, so that boundary values map to finite numbers.
  public static let epsilon = 1e-6

  /// Whether x lies in the support (open interval, x > 0, or anywhere).
  public func contains(_ x: Double) -> Bool {
    switch self {
    case .unbounded: return true
    case .positive: return x > 0
    case .interval(let lo, let hi): return x > lo && x < hi
    }
  }

  /// Constrained → unconstrained.
  public func forward(_ x: Double) -> Double {
    switch self {
    case .unbounded: return x
    case .positive: return Foundation.log(x)
    case .interval(let lo, let hi):
      let a = lo - Constraint.epsilon, b = hi + Constraint.epsilon
      let u = (x - a) / (b - a)
      return Foundation.log(u) - Foundation.log1p(-u)
    }
  }

  /// Unconstrained → constrained.
  public func inverse(_ y: Double) -> Double {
    switch self {
    case .unbounded: return y
    case .positive: return Foundation.exp(y)
    case .interval(let lo, let hi):
      let a = lo - Constraint.epsilon, b = hi + Constraint.epsilon
      let s = y >= 0 ? 1 / (1 + Foundation.exp(-y)) : Foundation.exp(y) / (1 + Foundation.exp(y))
      return a + (b - a) * s
    }
  }

  /// log|d forward / dx| at x.
  public func logDetJacobian(_ x: Double) -> Double {
    switch self {
    case .unbounded: return 0
    case .positive: return -Foundation.log(x)
    case .interval(let lo, let hi):
      let a = lo - Constraint.epsilon, b = hi + Constraint.epsilon
      let u = (x - a) / (b - a)
      return -(Foundation.log(u) + Foundation.log1p(-u) + Foundation.log(b - a))
    }
  }
}

/// Per-dimension constraints applied to the rows of a parameter matrix.
public struct ConstraintTransform: Sendable, Codable, Equatable {
  public var constraints: [Constraint]

  public init(_ constraints: [Constraint]) { self.constraints = constraints }

  /// All-unbounded transform of dimension `d`.
  public static func identity(_ d: Int) -> ConstraintTransform { ConstraintTransform(Array(repeating: .unbounded, count: d)) }

  public var isIdentity: Bool { constraints.allSatisfy { $0 == .unbounded } }

  /// Constrained → unconstrained, row by row.
  public func forward(_ x: Matrix) -> Matrix { map(x) { $0.forward($1) } }

  /// Unconstrained → constrained, row by row.
  public func inverse(_ y: Matrix) -> Matrix { map(y) { $0.inverse($1) } }

  /// log|det ∂forward/∂x| per row.
  public func logDetJacobian(_ x: Matrix) -> [Double] {
    precondition(x.cols == constraints.count)
    return (0..<x.rows).map { r in (0..<x.cols).reduce(0) { $0 + constraints[$1].logDetJacobian(Double(x[r, $1])) } }
  }

  private func map(_ m: Matrix, _ f: (Constraint, Double) -> Double) -> Matrix {
    precondition(m.cols == constraints.count, "transform has \(constraints.count) dimensions, matrix has \(m.cols)")
    if isIdentity { return m }
    var out = m
    for r in 0..<m.rows {
      for j in 0..<m.cols where constraints[j] != .unbounded { out[r, j] = Float(f(constraints[j], Double(m[r, j]))) }
    }
    return out
  }
}

// Priors given by a small JSON specification (for prior adaptation and composition from the command line), and
// the Gaussian-mixture prior they can describe.
//
//     {"type": "gaussian", "mean": [m…], "cov": [[…], …]}        (or "std": [s…] for a diagonal covariance)
//     {"type": "uniform",  "low": [a…], "high": [b…]}
//     {"type": "mixture",  "weights": [w…], "components": [{"mean": […], "cov": [[…]]} | {"mean": […], "std": […]}, …]}
//     {"type": "lognormal", "mean": [μ…], "std": [σ…]}            (log θ_j ~ N(μ_j, σ_j²), independent)
//     {"type": "product", "components": [spec, …]}                 (independent blocks, coordinates concatenated)

import Composition
import Foundation
import NeuralNet
import NumericCore
import Tasks

/// Errors of prior and constraint specifications.
public enum SpecificationError: Error, CustomStringConvertible, Equatable {
  case invalid(String)

  public var description: String {
    switch self {
    case .invalid(let s): return s
    }
  }
}

/// The mixture Σ_k w_k N(μ_k, C_k) of Gaussians (weights normalized to 1), unbounded support.
public struct GaussianMixturePrior: Prior {
  public let weights: [Double]
  public let components: [GaussianPrior]
  public var dimension: Int { components[0].dimension }
  public var constraint: ParameterConstraint { .unbounded }

  /// Throws when the weights are not positive or the components differ in dimension.
  public init(weights: [Double], components: [GaussianPrior]) throws {
    guard !components.isEmpty, weights.count == components.count else {
      throw SpecificationError.invalid("mixture: \(weights.count) weights for \(components.count) components")
    }
    guard weights.allSatisfy({ $0 > 0 && $0.isFinite }) else {
      throw SpecificationError.invalid("mixture: weights must be positive")
    }
    guard components.allSatisfy({ $0.dimension == components[0].dimension }) else {
      throw SpecificationError.invalid("mixture: components have different dimensions")
    }
    let total = weights.reduce(0, +)
    self.weights = weights.map { $0 / total }
    self.components = components
  }

  public func sample(count: Int, seed: UInt64) -> Matrix {
    var rng = Xoshiro(seed: seed, stream: 0x6D69_7874)
    let d = dimension
    var out = Matrix(rows: count, cols: d)
    for r in 0..<count {
      let c = components[rng.nextCategorical(weights)]
      let v = rng.nextMultivariateNormal(mean: c.meanVector, choleskyFactor: c.choleskyFactor)
      for j in 0..<d { out[r, j] = Float(v[j]) }
    }
    return out
  }

  /// log Σ_k w_k N(θ; μ_k, C_k).
  public func logDensity(_ theta: Matrix) -> [Double] {
    let per = components.map { $0.logDensity(theta) }
    return (0..<theta.rows).map { r in Special.logSumExp((0..<weights.count).map { log(weights[$0]) + per[$0][r] }) }
  }

  /// Σ_k ρ_k(θ) ∇log N_k(θ) with responsibilities ρ_k ∝ w_k N_k(θ).
  public func score(_ theta: Matrix) -> Matrix? {
    let per = components.map { $0.logDensity(theta) }
    let scores = components.map { $0.score(theta)! }
    var out = Matrix(rows: theta.rows, cols: dimension)
    for r in 0..<theta.rows {
      let l = (0..<weights.count).map { log(weights[$0]) + per[$0][r] }
      let lse = Special.logSumExp(l)
      for k in 0..<weights.count {
        let w = Float(exp(l[k] - lse))
        for j in 0..<dimension { out[r, j] += w * scores[k][r, j] }
      }
    }
    return out
  }

  public var mean: [Double] {
    (0..<dimension).map { j in zip(weights, components).reduce(0) { $0 + $1.0 * $1.1.meanVector[j] } }
  }

  public var standardDeviation: [Double] {
    let m = mean
    return (0..<dimension).map { j in
      let second = zip(weights, components).reduce(0.0) { acc, wc in
        acc + wc.0 * (wc.1.covariance[j, j] + wc.1.meanVector[j] * wc.1.meanVector[j])
      }
      return max(second - m[j] * m[j], 0).squareRoot()
    }
  }
}

/// Independent blocks θ = (θ_1, …, θ_K) with θ_k ~ p_k: log p(θ) = Σ_k log p_k(θ_k), scores concatenated. Its
/// support is given per coordinate by `coordinateConstraints(of:)`; `constraint` states it only when every block
/// has the same kind of support (otherwise `.unbounded`, which callers must not use for a transform).
public struct IndependentPrior: Prior {
  public let components: [any Prior]
  public let dimension: Int
  /// First coordinate of each block.
  let offsets: [Int]

  public init(components: [any Prior]) throws {
    guard !components.isEmpty else { throw SpecificationError.invalid("product prior: no components") }
    self.components = components
    offsets = components.reduce(into: [0]) { $0.append($0.last! + $1.dimension) }.dropLast()
    dimension = components.reduce(0) { $0 + $1.dimension }
  }

  public var constraint: ParameterConstraint {
    let kinds = components.map(\.constraint)
    if kinds.allSatisfy({ $0 == .unbounded }) { return .unbounded }
    if kinds.allSatisfy({ $0 == .positive }) { return .positive }
    var lower: [Double] = [], upper: [Double] = []
    for k in kinds {
      guard case .box(let l, let u) = k else { return .unbounded }
      lower += l
      upper += u
    }
    return .box(lower: lower, upper: upper)
  }

  func block(_ theta: Matrix, _ k: Int) -> Matrix {
    let c = components[k]
    var out = Matrix(rows: theta.rows, cols: c.dimension)
    for r in 0..<theta.rows { for j in 0..<c.dimension { out[r, j] = theta[r, offsets[k] + j] } }
    return out
  }

  /// Each block from its own seed (seed + k), coordinates concatenated.
  public func sample(count: Int, seed: UInt64) -> Matrix {
    Matrix.hstack(components.enumerated().map { k, c in c.sample(count: count, seed: seed &+ UInt64(k)) })
  }

  public func logDensity(_ theta: Matrix) -> [Double] {
    var total = [Double](repeating: 0, count: theta.rows)
    for k in components.indices {
      for (r, l) in components[k].logDensity(block(theta, k)).enumerated() { total[r] += l }
    }
    return total
  }

  public func score(_ theta: Matrix) -> Matrix? {
    var parts: [Matrix] = []
    for k in components.indices {
      guard let s = components[k].score(block(theta, k)) else { return nil }
      parts.append(s)
    }
    return Matrix.hstack(parts)
  }

  public var mean: [Double] { components.flatMap(\.mean) }
  public var standardDeviation: [Double] { components.flatMap(\.standardDeviation) }
}

/// The estimator's constraint transform per coordinate for a prior's support: the blocks of an `IndependentPrior`
/// each by their own support, any other prior by `constraint`.
public func coordinateConstraints(of prior: any Prior) -> [Constraint] {
  if let p = prior as? IndependentPrior { return p.components.flatMap(coordinateConstraints(of:)) }
  return prior.constraint.constraints(dimension: prior.dimension)
}

/// Parsing of the JSON specifications in the file header.
public enum PriorSpecification {
  /// The prior described by `data` (JSON), checked to have `dimension` coordinates when given.
  public static func parse(_ data: Data, dimension: Int? = nil) throws -> any Prior {
    guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      throw SpecificationError.invalid("prior: not a JSON object")
    }
    let prior = try parse(object)
    if let d = dimension, prior.dimension != d {
      throw SpecificationError.invalid("prior: dimension \(prior.dimension), the model has \(d) parameters")
    }
    return prior
  }

  /// The specification of a Gaussian prior, `{"type": "gaussian", "mean": [...], "cov": [[...]]}`, which `parse`
  /// reads back to the same prior (the hyperprior of a built-in hierarchical task is stored with the model this way).
  public static func json(_ prior: GaussianPrior) -> String {
    let d = prior.dimension
    let mean = prior.meanVector.map { "\($0)" }.joined(separator: ", ")
    let cov = (0..<d).map { i in "[" + (0..<d).map { "\(prior.covariance[i, $0])" }.joined(separator: ", ") + "]" }
    return "{\"type\": \"gaussian\", \"mean\": [\(mean)], \"cov\": [\(cov.joined(separator: ", "))]}"
  }

  static func parse(_ o: [String: Any]) throws -> any Prior {
    guard let type = o["type"] as? String else {
      throw SpecificationError.invalid("prior: missing \"type\" (gaussian, uniform, mixture, lognormal or product)")
    }
    switch type {
    case "gaussian", "normal": return try gaussian(o, label: "gaussian prior")
    case "uniform", "box":
      let low = try vector(o["low"], "uniform prior: \"low\"")
      let high = try vector(o["high"], "uniform prior: \"high\"")
      guard low.count == high.count, zip(low, high).allSatisfy({ $0 < $1 }) else {
        throw SpecificationError.invalid("uniform prior: \"low\" and \"high\" need equal lengths and low < high")
      }
      return BoxUniformPrior(lower: low, upper: high)
    case "mixture":
      guard let comps = o["components"] as? [[String: Any]], !comps.isEmpty else {
        throw SpecificationError.invalid("mixture prior: \"components\" must be a non-empty list of objects")
      }
      let weights = try o["weights"].map { try vector($0, "mixture prior: \"weights\"") }
        ?? [Double](repeating: 1, count: comps.count)
      let gs = try comps.enumerated().map { try gaussian($1, label: "mixture component \($0)") }
      return try GaussianMixturePrior(weights: weights, components: gs)
    case "lognormal", "log-normal":
      let mu = try vector(o["mean"], "lognormal prior: \"mean\"")
      let sigma = try vector(o["std"], "lognormal prior: \"std\"")
      guard mu.count == sigma.count, sigma.allSatisfy({ $0 > 0 && $0.isFinite }) else {
        throw SpecificationError.invalid("lognormal prior: \"mean\" and \"std\" need equal lengths and std > 0")
      }
      return LogNormalPrior(mu: mu, sigma: sigma)
    case "product":
      guard let comps = o["components"] as? [[String: Any]], !comps.isEmpty else {
        throw SpecificationError.invalid("product prior: \"components\" must be a non-empty list of prior objects")
      }
      return try IndependentPrior(components: comps.map { try parse($0) })
    default:
      throw SpecificationError.invalid(
        "prior: unknown type '\(type)' (gaussian, uniform, mixture, lognormal or product)")
    }
  }

  static func gaussian(_ o: [String: Any], label: String) throws -> GaussianPrior {
    let mean = try vector(o["mean"], "\(label): \"mean\"")
    let d = mean.count
    let cov: DMatrix
    if let c = o["cov"] {
      guard let rows = c as? [Any], rows.count == d else {
        throw SpecificationError.invalid("\(label): \"cov\" must be a \(d)×\(d) matrix")
      }
      var m = DMatrix(rows: d, cols: d)
      for (i, row) in rows.enumerated() {
        let v = try vector(row, "\(label): \"cov\" row \(i)")
        guard v.count == d else { throw SpecificationError.invalid("\(label): \"cov\" must be a \(d)×\(d) matrix") }
        for j in 0..<d { m[i, j] = v[j] }
      }
      for i in 0..<d { for j in 0..<i where abs(m[i, j] - m[j, i]) > 1e-9 * max(1, abs(m[i, j])) {
        throw SpecificationError.invalid("\(label): \"cov\" is not symmetric")
      } }
      cov = m
    } else if let s = o["std"] {
      let sd = try vector(s, "\(label): \"std\"")
      guard sd.count == d, sd.allSatisfy({ $0 > 0 }) else {
        throw SpecificationError.invalid("\(label): \"std\" needs \(d) positive values")
      }
      cov = DMatrix.diagonal(sd.map { $0 * $0 })
    } else {
      throw SpecificationError.invalid("\(label): give \"cov\" (a matrix) or \"std\" (a list)")
    }
    guard (try? cov.cholesky()) != nil else {
      throw SpecificationError.invalid("\(label): \"cov\" is not positive definite")
    }
    return GaussianPrior(mean: mean, covariance: cov)
  }

  /// A non-empty list of finite numbers.
  static func vector(_ value: Any?, _ label: String) throws -> [Double] {
    guard let a = value as? [Any], !a.isEmpty else { throw SpecificationError.invalid("\(label) must be a list of numbers") }
    return try a.map { v in
      guard let n = v as? NSNumber, n.doubleValue.isFinite else {
        throw SpecificationError.invalid("\(label) must be a list of finite numbers")
      }
      return n.doubleValue
    }
  }
}

/// Parsing of constraint-guidance specifications:
///
///     {"intervals": [{"index": 0, "low": -1, "high": 1}, {"index": 2, "low": 0}], "strength": 1, "mean": false}
///
/// `index` is 0-based; either bound may be left out; `strength` is λ_g (default 1); `mean` averages instead of
/// summing the soft constraints.
public enum ConstraintSpecification {
  public static func parse(_ data: Data, dimension d: Int) throws
    -> (constraints: [ParameterGuidanceConstraint], options: ConstraintGuidanceOptions)
  {
    guard let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      throw SpecificationError.invalid("constraints: not a JSON object")
    }
    let known: Set<String> = ["intervals", "strength", "mean"]
    if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
      throw SpecificationError.invalid("constraints: unknown key '\(unknown)' (intervals, strength, mean)")
    }
    guard let list = o["intervals"] as? [[String: Any]], !list.isEmpty else {
      throw SpecificationError.invalid("constraints: \"intervals\" must be a non-empty list of objects")
    }
    let constraints = try list.enumerated().map { k, item -> ParameterGuidanceConstraint in
      guard let i = item["index"] as? NSNumber, Double(i.intValue) == i.doubleValue else {
        throw SpecificationError.invalid("constraints: interval \(k) needs an integer \"index\"")
      }
      guard (0..<d).contains(i.intValue) else {
        throw SpecificationError.invalid("constraints: interval \(k) index \(i.intValue) outside 0…\(d - 1)")
      }
      let lo = try bound(item["low"], "constraints: interval \(k) \"low\"")
      let hi = try bound(item["high"], "constraints: interval \(k) \"high\"")
      guard lo != nil || hi != nil else {
        throw SpecificationError.invalid("constraints: interval \(k) needs \"low\" or \"high\"")
      }
      if let lo, let hi, !(lo < hi) { throw SpecificationError.invalid("constraints: interval \(k) needs low < high") }
      return .interval(index: i.intValue, lower: lo, upper: hi)
    }
    var options = ConstraintGuidanceOptions()
    if let s = o["strength"] {
      guard let n = s as? NSNumber, n.doubleValue.isFinite, n.doubleValue >= 0 else {
        throw SpecificationError.invalid("constraints: \"strength\" must be a non-negative number")
      }
      options.strength = n.doubleValue
    }
    if let m = o["mean"] {
      guard let b = m as? Bool else { throw SpecificationError.invalid("constraints: \"mean\" must be true or false") }
      options.mean = b
    }
    return (constraints, options)
  }

  static func bound(_ v: Any?, _ label: String) throws -> Double? {
    guard let v, !(v is NSNull) else { return nil }
    guard let n = v as? NSNumber, n.doubleValue.isFinite else { throw SpecificationError.invalid("\(label) must be a number") }
    return n.doubleValue
  }
}

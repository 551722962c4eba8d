// Mini-batch optimal-transport couplings for flow matching (Tong et al. 2024; Pooladian et al. 2023), with the
// conditional cost of Cheng et al. 2025 / Fluri et al. 2024 and the partial transport of Nguyen et al. 2022
// (Documentation/Methods.md §6.3; BayesFlow `OPTIMAL_TRANSPORT_DEFAULTS`).

import Foundation
import NumericCore

/// How the mini-batch coupling is solved.
public enum OptimalTransportMethod: String, Sendable, CaseIterable, Codable {
  /// Entropic OT by log-domain Sinkhorn; each noise row draws its data row from its row of the plan.
  case logSinkhorn = "log-sinkhorn"
  /// Exact OT (a permutation) by the Hungarian algorithm.
  case exact
}

/// Options of the coupling (defaults are BayesFlow's: log-Sinkhorn, ε = 0.1, 100 iterations, tolerance 1e-5,
/// full transport, condition ratio 0.01).
public struct OptimalTransportOptions: Sendable, Equatable, Codable {
  public var method: OptimalTransportMethod
  /// Entropic regularization ε (Sinkhorn only).
  public var regularization: Double
  public var maxIterations: Int
  public var tolerance: Double
  /// Transported mass s ∈ (0, 1]; s < 1 is partial OT (Sinkhorn only).
  public var partialFactor: Double
  /// Target fraction of pairs for which a better cost outweighs the condition penalty; ≥ 0.5 turns the condition
  /// cost off (plain OT).
  public var conditionRatio: Double

  public init(
    method: OptimalTransportMethod = .logSinkhorn, regularization: Double = 0.1, maxIterations: Int = 100,
    tolerance: Double = 1e-5, partialFactor: Double = 1, conditionRatio: Double = 0.01
  ) {
    self.method = method
    self.regularization = regularization
    self.maxIterations = maxIterations
    self.tolerance = tolerance
    self.partialFactor = partialFactor
    self.conditionRatio = conditionRatio
  }

  func validate() throws {
    guard regularization > 0, maxIterations >= 1, tolerance >= 0 else {
      throw FlowMatchingError.invalidOption("OT needs ε > 0, at least one iteration and a tolerance ≥ 0")
    }
    guard partialFactor > 0, partialFactor <= 1 else {
      throw FlowMatchingError.invalidOption("partial OT factor must be in (0, 1], got \(partialFactor)")
    }
    guard conditionRatio >= 0, conditionRatio <= 1 else {
      throw FlowMatchingError.invalidOption("condition ratio must be in [0, 1], got \(conditionRatio)")
    }
    if method == .exact, partialFactor < 1 {
      throw FlowMatchingError.invalidOption("partial OT is available with log-sinkhorn only")
    }
  }
}

/// A coupling of one batch: noise row i is paired with data row `assignment[i]` (gather data and conditions
/// with it; under Sinkhorn some data rows may repeat and others drop out).
public struct OptimalTransportCoupling: Sendable {
  public var assignment: [Int]
  /// The condition-cost weight w found by the search (0 without conditions).
  public var conditionWeight: Double
  /// Sinkhorn iterations (0 for exact OT).
  public var iterations: Int
  public var converged: Bool
}

/// Couples noise x₀ [B, d] with data x₁ [B, d] (and their conditions [B, k], row i of the data's) under the
/// cost C_ij = ‖x₀_i − x₁_j‖² + w·(1 − cos(c_i, c_j)).
///
/// Noise row i carries the condition of data row i (the independent pairing it replaces). w is chosen by
/// `conditionWeight` to hit `conditionRatio`; with no conditions or `conditionRatio ≥ 0.5` it is 0.
/// Partial OT (s < 1) adds a dummy row and column with masses 1 − s, zero cost to the dummy and cost max(C) + 1
/// between the two dummies, and samples each noise row's partner among the real columns.
public func optimalTransportCoupling(
  noise: Matrix, data: Matrix, conditions: Matrix? = nil, options: OptimalTransportOptions = .init(),
  rng: inout Xoshiro
) throws -> OptimalTransportCoupling {
  try options.validate()
  guard noise.rows == data.rows, noise.cols == data.cols else {
    throw FlowMatchingError.shapeMismatch("noise is \(noise.rows)×\(noise.cols), data \(data.rows)×\(data.cols)")
  }
  let n = noise.rows
  guard n > 0 else { return OptimalTransportCoupling(assignment: [], conditionWeight: 0, iterations: 0, converged: true) }
  var cost = squaredDistances(noise, data)
  var weight = 0.0
  if let c = conditions, options.conditionRatio < 0.5 {
    guard c.rows == n else { throw FlowMatchingError.shapeMismatch("\(c.rows) condition rows for \(n) data rows") }
    let dc = cosineDistances(c)
    weight = conditionWeight(cost: cost, conditionDistance: dc, ratio: options.conditionRatio)
    if weight > 0 { cost.add(dc, scale: Float(weight)) }
  }
  switch options.method {
  case .exact:
    return OptimalTransportCoupling(
      assignment: try optimalAssignment(cost: cost), conditionWeight: weight, iterations: 0, converged: true)
  case .logSinkhorn:
    var a = [Double](repeating: 1 / Double(n), count: n)
    var full = cost
    if options.partialFactor < 1 {
      let dummy = 1 - options.partialFactor
      a.append(dummy)
      let top = cost.storage.max() ?? 0
      full = Matrix(rows: n + 1, cols: n + 1)
      full.withUnsafeMutableBufferPointer { f in
        cost.withUnsafeBufferPointer { c in
          for i in 0..<n { for j in 0..<n { f[i * (n + 1) + j] = c[i * n + j] } }
        }
        f[(n + 1) * (n + 1) - 1] = top + 1
      }
    }
    let r = try sinkhorn(
      cost: full, rowMarginal: a, columnMarginal: a, regularization: options.regularization,
      maxIterations: options.maxIterations, tolerance: options.tolerance)
    return OptimalTransportCoupling(
      assignment: sampleRows(r, rows: n, columns: n, rng: &rng), conditionWeight: weight, iterations: r.iterations,
      converged: r.converged)
  }
}

/// Cosine distances D_ij = 1 − c_i·c_j/(‖c_i‖‖c_j‖) between the rows of c (zero rows count as orthogonal).
public func cosineDistances(_ c: Matrix) -> Matrix {
  var unit = c
  let norms = squaredRowNorms(c).map { $0 > 0 ? 1 / $0.squareRoot() : 0 }
  unit.scaleRows(norms)
  var d = Matrix(rows: c.rows, cols: c.rows, repeating: 1)
  Matrix.gemm(unit, unit, transposeB: true, alpha: -1, beta: 1, into: &d)
  return d
}

/// The condition-cost weight w: the fraction f(w) = mean_ij[w·D_ij ≤ C_ii − C_ij] of pairs (i, j) for which
/// moving noise i from its own data row to row j saves more cost than the condition penalty decreases in w;
/// w solves f(w) ≈ `ratio` by an exponential search (×10 from 1, at most 10 steps, w ≤ 1e8) and a bisection (at
/// most 10 steps, stopping when |f − ratio| ≤ 1e-3). w = 0 when f(0) ≤ ratio already.
public func conditionWeight(cost: Matrix, conditionDistance dc: Matrix, ratio: Double) -> Double {
  let n = cost.rows
  let diag = (0..<n).map { cost[$0, $0] }
  func fraction(_ w: Double) -> Double {
    var count = 0
    let wv = FloatVector(repeating: Float(w))
    let (one, zero) = (FloatVector(repeating: 1), FloatVector(repeating: 0))
    cost.withUnsafeBufferPointer { c in
      dc.withUnsafeBufferPointer { d in
        for i in 0..<n {
          let ci = diag[i]
          let civ = FloatVector(repeating: ci)
          let (rc, rd) = (c.baseAddress! + i * n, d.baseAddress! + i * n)
          var acc = zero
          var j = 0
          while j + 8 <= n {
            let cv = UnsafeRawPointer(rc + j).loadUnaligned(as: FloatVector.self)
            let dv = UnsafeRawPointer(rd + j).loadUnaligned(as: FloatVector.self)
            acc += one.replacing(with: zero, where: wv * dv .> civ - cv)
            j += 8
          }
          count += Int(acc.sum())
          while j < n {
            if Float(w) * rd[j] <= ci - rc[j] { count += 1 }
            j += 1
          }
        }
      }
    }
    return Double(count) / Double(n * n)
  }
  if fraction(0) <= ratio { return 0 }
  var lo = 0.0
  var hi = 1.0
  var steps = 0
  while fraction(hi) > ratio, steps < 10, hi < 1e8 {
    lo = hi
    hi = min(hi * 10, 1e8)
    steps += 1
  }
  for _ in 0..<10 {
    let mid = 0.5 * (lo + hi)
    let f = fraction(mid)
    if abs(f - ratio) <= 1e-3 { return mid }
    if f > ratio { lo = mid } else { hi = mid }
  }
  return hi
}

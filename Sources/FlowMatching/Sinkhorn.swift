// Entropic optimal transport by log-domain Sinkhorn iterations (Cuturi 2013; Peyré & Cuturi 2019, §4.4), and
// the squared-distance cost matrix. Hot loops are SIMD8 over contiguous rows with the vectorized exp.

import Foundation
import NumericCore

/// Pairwise squared Euclidean distances C_ij = ‖x_i − y_j‖² for x [n, d], y [m, d], as ‖x_i‖² + ‖y_j‖² − 2 x_i·y_j
/// (one GEMM), clamped at 0.
public func squaredDistances(_ x: Matrix, _ y: Matrix) -> Matrix {
  precondition(x.cols == y.cols, "squaredDistances: \(x.cols) and \(y.cols) columns")
  var c = Matrix(rows: x.rows, cols: y.rows)
  Matrix.gemm(x, y, transposeB: true, alpha: -2, beta: 0, into: &c)
  let nx = squaredRowNorms(x)
  let ny = squaredRowNorms(y)
  let m = y.rows
  c.withUnsafeMutableBufferPointer { pc in
    ny.withUnsafeBufferPointer { py in
      for i in 0..<x.rows {
        let row = pc.baseAddress! + i * m
        let xi = FloatVector(repeating: nx[i])
        Kernels.apply2(count: m, row, py.baseAddress!, into: row) { g, yj in
          let s = g + yj + xi
          return s.replacing(with: 0, where: s .< 0)
        }
      }
    }
  }
  return c
}

/// ‖x_i‖² per row.
func squaredRowNorms(_ x: Matrix) -> [Float] {
  let d = x.cols
  return x.withUnsafeBufferPointer { p in (0..<x.rows).map { Kernels.sumOfSquares(count: d, p.baseAddress! + $0 * d) } }
}

/// The result of `sinkhorn`: dual potentials (in units of ε) of the plan P_ij = exp(−C_ij/ε + u_i + v_j).
public struct SinkhornResult: Sendable {
  /// −C/ε, [n, m].
  public var logKernel: Matrix
  public var u: [Float]
  public var v: [Float]
  public var iterations: Int
  /// Whether max_i |Δu_i| ≤ tolerance was reached within the iteration limit.
  public var converged: Bool

  /// The plan P [n, m] (for tests and diagnostics; O(nm) memory).
  public var plan: Matrix {
    var p = logKernel
    let (n, m) = (p.rows, p.cols)
    p.withUnsafeMutableBufferPointer { b in
      for i in 0..<n {
        for j in 0..<m { b[i * m + j] += u[i] + v[j] }
        Kernels.exp(count: m, b.baseAddress! + i * m, into: b.baseAddress! + i * m)
      }
    }
    return p
  }
}

/// Log-domain Sinkhorn for cost C [n, m] with marginals a [n], b [m] (positive, each summing to the same mass):
///
///     u ← log a − LSE_j(−C_ij/ε + v_j),   v ← log b − LSE_i(−C_ij/ε + u_i),
///
/// stopping when max_i |Δu_i| ≤ `tolerance` or after `maxIterations` (BayesFlow defaults ε = 0.1, 100, 1e-5).
///
/// Evaluation (Schmitzer 2019, "Stabilized sparse scaling algorithms", absorption): after one log-domain pass the
/// iterations run in scaling form on the stabilized kernel K̃_ij = exp(−C_ij/ε + u_i + v_j) with multipliers
/// α = e^{Δu}, β = e^{Δv}: α ← a/(K̃ β), β ← b/(K̃ᵀ α) — the same iterates in exact arithmetic, at two
/// matrix–vector products per iteration instead of 2nm exponentials. Multipliers outside [e^{−10}, e^{10}] are
/// absorbed into (u, v) and K̃ is recomputed; a row or column whose kernel sum underflows falls back to the
/// log-domain update.
public func sinkhorn(
  cost: Matrix, rowMarginal a: [Double], columnMarginal b: [Double], regularization epsilon: Double = 0.1,
  maxIterations: Int = 100, tolerance: Double = 1e-5
) throws -> SinkhornResult {
  let (n, m) = (cost.rows, cost.cols)
  guard a.count == n, b.count == m else {
    throw FlowMatchingError.shapeMismatch("marginals of length \(a.count), \(b.count) for a \(n)×\(m) cost")
  }
  guard epsilon > 0, maxIterations >= 1 else {
    throw FlowMatchingError.invalidOption("Sinkhorn needs ε > 0 and at least one iteration")
  }
  guard a.allSatisfy({ $0 > 0 }), b.allSatisfy({ $0 > 0 }) else {
    throw FlowMatchingError.invalidOption("Sinkhorn marginals must be positive")
  }
  var logK = cost
  logK.scale(by: Float(-1 / epsilon))
  let logKT = logK.transposed
  let logA = a.map { Float(log($0)) }
  let logB = b.map { Float(log($0)) }
  let (fa, fb) = (a.map(Float.init), b.map(Float.init))
  var u = [Float](repeating: 0, count: n)
  var v = [Float](repeating: 0, count: m)

  /// The exact log-domain update of u (from v) or v (from u).
  func logUpdateU() {
    logSumExpRows(logK, offsets: v, into: &u)
    for i in 0..<n { u[i] = logA[i] - u[i] }
  }
  func logUpdateV() {
    logSumExpRows(logKT, offsets: u, into: &v)
    for j in 0..<m { v[j] = logB[j] - v[j] }
  }

  logUpdateU()
  logUpdateV()
  var iterations = 1
  var converged = false
  var kernel = stabilizedKernel(logK, u, v)
  var alpha = [Float](repeating: 1, count: n)
  var beta = [Float](repeating: 1, count: m)
  var rowSums = [Float](repeating: 0, count: n)
  var columnSums = [Float](repeating: 0, count: m)
  let (lo, hi) = (Float(exp(-10.0)), Float(exp(10.0)))

  func absorb() {
    for i in 0..<n { u[i] += Foundation.log(alpha[i]) }
    for j in 0..<m { v[j] += Foundation.log(beta[j]) }
    for i in 0..<n { alpha[i] = 1 }
    for j in 0..<m { beta[j] = 1 }
    kernel = stabilizedKernel(logK, u, v)
  }

  while iterations < maxIterations {
    iterations += 1
    matrixVector(kernel, beta, into: &rowSums)
    var delta: Float = 0
    var fallback = false
    for i in 0..<n {
      let next = fa[i] / rowSums[i]
      if !(rowSums[i] > 1e-30) || !next.isFinite {
        fallback = true
        break
      }
      delta = max(delta, abs(Foundation.log(next / alpha[i])))
      alpha[i] = next
    }
    if fallback {
      absorb()
      let old = u
      logUpdateU()
      delta = zip(u, old).reduce(0) { max($0, abs($1.0 - $1.1)) }
      logUpdateV()
      kernel = stabilizedKernel(logK, u, v)
    } else {
      transposedMatrixVector(kernel, alpha, into: &columnSums)
      var bad = false
      for j in 0..<m {
        beta[j] = fb[j] / columnSums[j]
        if !(columnSums[j] > 1e-30) || !beta[j].isFinite { bad = true }
      }
      if bad {
        for j in 0..<m { beta[j] = 1 }
        absorb()
        logUpdateV()
        kernel = stabilizedKernel(logK, u, v)
      } else if alpha.contains(where: { $0 < lo || $0 > hi }) || beta.contains(where: { $0 < lo || $0 > hi }) {
        absorb()
      }
    }
    if Double(delta) <= tolerance {
      converged = true
      break
    }
  }
  for i in 0..<n { u[i] += Foundation.log(alpha[i]) }
  for j in 0..<m { v[j] += Foundation.log(beta[j]) }
  return SinkhornResult(logKernel: logK, u: u, v: v, iterations: iterations, converged: converged)
}

/// K̃_ij = exp(logK_ij + u_i + v_j) (one vectorized exp pass).
func stabilizedKernel(_ logK: Matrix, _ u: [Float], _ v: [Float]) -> Matrix {
  var k = Matrix(rows: logK.rows, cols: logK.cols)
  let m = logK.cols
  logK.withUnsafeBufferPointer { pl in
    v.withUnsafeBufferPointer { pv in
      k.withUnsafeMutableBufferPointer { pk in
        for i in 0..<logK.rows {
          let ui = FloatVector(repeating: u[i])
          Kernels.apply2(count: m, pl.baseAddress! + i * m, pv.baseAddress!, into: pk.baseAddress! + i * m) {
            VectorMath.exp($0 + $1 + ui)
          }
        }
      }
    }
  }
  return k
}

/// out = K x (SIMD8 row dot products).
func matrixVector(_ k: Matrix, _ x: [Float], into out: inout [Float]) {
  let m = k.cols
  k.withUnsafeBufferPointer { pk in
    x.withUnsafeBufferPointer { px in
      for i in 0..<k.rows {
        let row = pk.baseAddress! + i * m
        var acc = FloatVector(repeating: 0)
        var j = 0
        while j + 8 <= m {
          acc += load(row + j) * load(px.baseAddress! + j)
          j += 8
        }
        var s = acc.sum()
        while j < m {
          s += row[j] * px[j]
          j += 1
        }
        out[i] = s
      }
    }
  }
}

/// out = Kᵀ x (row-wise axpy, contiguous).
func transposedMatrixVector(_ k: Matrix, _ x: [Float], into out: inout [Float]) {
  let m = k.cols
  for j in 0..<m { out[j] = 0 }
  k.withUnsafeBufferPointer { pk in
    out.withUnsafeMutableBufferPointer { po in
      for i in 0..<k.rows where x[i] != 0 {
        Kernels.axpy(count: m, alpha: x[i], x: pk.baseAddress! + i * m, y: po.baseAddress!)
      }
    }
  }
}

/// out_i = LSE_j(K_ij + offsets_j) for every row of K (rows in parallel chunks, no allocation per row).
func logSumExpRows(_ k: Matrix, offsets: [Float], into out: inout [Float]) {
  let (n, m) = (k.rows, k.cols)
  k.withUnsafeBufferPointer { pk in
    offsets.withUnsafeBufferPointer { po in
      out.withUnsafeMutableBufferPointer { pout in
        let result = UnsafeSendablePointer(pout.baseAddress!)
        let (kp, op) = (UnsafeSendablePointer(UnsafeMutablePointer(mutating: pk.baseAddress!)),
          UnsafeSendablePointer(UnsafeMutablePointer(mutating: po.baseAddress!)))
        parallelFor(count: n, minimumPerChunk: max(1, 32_768 / max(m, 1))) { _, range in
          for i in range {
            result.base[i] = rowLogSumExp(kp.base + i * m, op.base, count: m)
          }
        }
      }
    }
  }
}

/// LSE_j(x_j + y_j), two SIMD passes (max, then Σ exp(x + y − max)).
@inline(__always)
func rowLogSumExp(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count m: Int) -> Float {
  var mv = FloatVector(repeating: -.infinity)
  var j = 0
  while j + 8 <= m {
    let s = load(x + j) + load(y + j)
    mv = mv.replacing(with: s, where: s .> mv)
    j += 8
  }
  var mx = mv.max()
  while j < m {
    mx = max(mx, x[j] + y[j])
    j += 1
  }
  if !mx.isFinite { return mx }
  let mxv = FloatVector(repeating: mx)
  var acc = FloatVector(repeating: 0)
  j = 0
  while j + 8 <= m {
    acc += VectorMath.exp(load(x + j) + load(y + j) - mxv)
    j += 8
  }
  var total = acc.sum()
  while j < m {
    total += Foundation.exp(x[j] + y[j] - mx)
    j += 1
  }
  return mx + Foundation.log(total)
}

@inline(__always)
func load(_ p: UnsafePointer<Float>) -> FloatVector { UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self) }

/// For every row i, draws a column j with probability P_ij / Σ_j P_ij, restricted to the first `columns` columns
/// (inverse-CDF sampling on the row of the log-plan; one exp pass per row).
func sampleRows(_ r: SinkhornResult, rows n: Int, columns m: Int, rng: inout Xoshiro) -> [Int] {
  let stride = r.logKernel.cols
  var weights = [Float](repeating: 0, count: m)
  var out = [Int](repeating: 0, count: n)
  r.logKernel.withUnsafeBufferPointer { pk in
    r.v.withUnsafeBufferPointer { pv in
      weights.withUnsafeMutableBufferPointer { w in
        for i in 0..<n {
          let row = pk.baseAddress! + i * stride
          var mx = -Float.infinity
          for j in 0..<m { mx = max(mx, row[j] + pv[j]) }
          let mxv = FloatVector(repeating: mx)
          Kernels.apply2(count: m, row, pv.baseAddress!, into: w.baseAddress!) { a, b in VectorMath.exp(a + b - mxv) }
          let total = Kernels.sum(count: m, w.baseAddress!)
          var target = Float(rng.nextDouble()) * total
          var pick = m - 1
          for j in 0..<m {
            target -= w[j]
            if target < 0 {
              pick = j
              break
            }
          }
          out[i] = pick
        }
      }
    }
  }
  return out
}

// Small dense linear algebra in Double for analytic posteriors, covariances and multivariate normals.
//
// These routines are O(n³) scalar loops meant for the parameter dimension (n ≤ a few hundred), not for the
// network's batches, which go through the BLAS.

import Foundation

/// Errors from the dense linear algebra helpers.
public enum LinearAlgebraError: Error, Equatable, CustomStringConvertible {
  case notPositiveDefinite(pivot: Int)
  case dimensionMismatch(String)

  public var description: String {
    switch self {
    case .notPositiveDefinite(let i): return "matrix is not positive definite (pivot \(i))"
    case .dimensionMismatch(let s): return "dimension mismatch: \(s)"
    }
  }
}

/// A square or rectangular row-major Double matrix, small and simple.
public struct DMatrix: Sendable, Equatable {
  public var rows: Int
  public var cols: Int
  public var values: [Double]

  public init(rows: Int, cols: Int, values: [Double]) {
    precondition(values.count == rows * cols)
    self.rows = rows
    self.cols = cols
    self.values = values
  }

  public init(rows: Int, cols: Int, repeating v: Double = 0) {
    self.init(rows: rows, cols: cols, values: [Double](repeating: v, count: rows * cols))
  }

  public static func identity(_ n: Int, scale: Double = 1) -> DMatrix {
    var m = DMatrix(rows: n, cols: n)
    for i in 0..<n { m[i, i] = scale }
    return m
  }

  public static func diagonal(_ d: [Double]) -> DMatrix {
    var m = DMatrix(rows: d.count, cols: d.count)
    for i in 0..<d.count { m[i, i] = d[i] }
    return m
  }

  public subscript(i: Int, j: Int) -> Double {
    get { values[i * cols + j] }
    set { values[i * cols + j] = newValue }
  }

  public var transposed: DMatrix {
    var t = DMatrix(rows: cols, cols: rows)
    for i in 0..<rows { for j in 0..<cols { t[j, i] = self[i, j] } }
    return t
  }

  public static func * (a: DMatrix, b: DMatrix) -> DMatrix {
    precondition(a.cols == b.rows, "DMatrix product: \(a.cols) vs \(b.rows)")
    var c = DMatrix(rows: a.rows, cols: b.cols)
    for i in 0..<a.rows {
      for p in 0..<a.cols {
        let av = a[i, p]
        if av == 0 { continue }
        for j in 0..<b.cols { c.values[i * b.cols + j] += av * b.values[p * b.cols + j] }
      }
    }
    return c
  }

  public static func + (a: DMatrix, b: DMatrix) -> DMatrix {
    precondition(a.rows == b.rows && a.cols == b.cols)
    return DMatrix(rows: a.rows, cols: a.cols, values: zip(a.values, b.values).map { $0 + $1 })
  }

  public static func - (a: DMatrix, b: DMatrix) -> DMatrix {
    precondition(a.rows == b.rows && a.cols == b.cols)
    return DMatrix(rows: a.rows, cols: a.cols, values: zip(a.values, b.values).map { $0 - $1 })
  }

  /// Matrix–vector product.
  public func multiply(_ v: [Double]) -> [Double] {
    precondition(v.count == cols)
    return (0..<rows).map { i in
      var s = 0.0
      for j in 0..<cols { s += values[i * cols + j] * v[j] }
      return s
    }
  }

  /// Lower-triangular Cholesky factor L with A = L Lᵀ.
  public func cholesky() throws -> DMatrix {
    guard rows == cols else { throw LinearAlgebraError.dimensionMismatch("Cholesky of \(rows)×\(cols)") }
    let n = rows
    var l = DMatrix(rows: n, cols: n)
    for j in 0..<n {
      var d = self[j, j]
      for k in 0..<j { d -= l[j, k] * l[j, k] }
      guard d > 0, d.isFinite else { throw LinearAlgebraError.notPositiveDefinite(pivot: j) }
      let ljj = d.squareRoot()
      l[j, j] = ljj
      for i in (j + 1)..<max(n, j + 1) {
        var s = self[i, j]
        for k in 0..<j { s -= l[i, k] * l[j, k] }
        l[i, j] = s / ljj
      }
    }
    return l
  }

  /// Solves L y = b for lower-triangular L.
  public func solveLower(_ b: [Double]) -> [Double] {
    var y = b
    for i in 0..<rows {
      var s = y[i]
      for k in 0..<i { s -= self[i, k] * y[k] }
      y[i] = s / self[i, i]
    }
    return y
  }

  /// Solves Lᵀ x = y for lower-triangular L (self is L).
  public func solveLowerTransposed(_ y: [Double]) -> [Double] {
    var x = y
    for i in stride(from: rows - 1, through: 0, by: -1) {
      var s = x[i]
      for k in (i + 1)..<max(rows, i + 1) { s -= self[k, i] * x[k] }
      x[i] = s / self[i, i]
    }
    return x
  }

  /// Inverse of a symmetric positive-definite matrix through its Cholesky factor.
  public func inverseSPD() throws -> DMatrix {
    let l = try cholesky()
    let n = rows
    var inv = DMatrix(rows: n, cols: n)
    for j in 0..<n {
      var e = [Double](repeating: 0, count: n)
      e[j] = 1
      let x = l.solveLowerTransposed(l.solveLower(e))
      for i in 0..<n { inv[i, j] = x[i] }
    }
    // Symmetrize against rounding.
    for i in 0..<n { for j in 0..<i { let m = 0.5 * (inv[i, j] + inv[j, i]); inv[i, j] = m; inv[j, i] = m } }
    return inv
  }

  /// log det of a symmetric positive-definite matrix.
  public func logDeterminantSPD() throws -> Double {
    let l = try cholesky()
    var s = 0.0
    for i in 0..<rows { s += Foundation.log(l[i, i]) }
    return 2 * s
  }
}

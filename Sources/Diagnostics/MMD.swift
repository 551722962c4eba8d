// Maximum mean discrepancy with a Gaussian kernel and the median heuristic (Gretton et al. 2012, JMLR 13).

import Foundation
import NumericCore

/// Squared pairwise Euclidean distances between rows of `a` and `b` as a [a.rows, b.rows] Double array.
func squaredDistances(_ a: Matrix, _ b: Matrix) -> [Double] {
  let d = a.cols
  var out = [Double](repeating: 0, count: a.rows * b.rows)
  for i in 0..<a.rows {
    for k in 0..<b.rows {
      var s = 0.0
      for j in 0..<d {
        let v = Double(a[i, j]) - Double(b[k, j])
        s += v * v
      }
      out[i * b.rows + k] = s
    }
  }
  return out
}

/// The median heuristic bandwidth: the median Euclidean distance between distinct rows of `x`.
public func medianHeuristicBandwidth(_ x: Matrix) -> Double {
  let d2 = squaredDistances(x, x)
  var v: [Double] = []
  for i in 0..<x.rows { for k in (i + 1)..<x.rows { v.append(d2[i * x.rows + k].squareRoot()) } }
  return v.isEmpty ? 1 : median(v)
}

/// Unbiased MMD² between samples x [n, D] and y [m, D] with k(a, b) = exp(−‖a − b‖² / (2h²)):
/// MMD² = Σ_{i≠i'} k(x_i, x_i')/(n(n−1)) + Σ_{j≠j'} k(y_j, y_j')/(m(m−1)) − 2 Σ_{i,j} k(x_i, y_j)/(nm).
/// The bandwidth h defaults to the median heuristic on x (sbibm's `mmd` with bandwidth from X).
public func mmdSquared(_ x: Matrix, _ y: Matrix, bandwidth: Double? = nil) throws(DiagnosticsError) -> Double {
  guard x.cols == y.cols else { throw .dimensionMismatch("x has \(x.cols) columns, y \(y.cols)") }
  guard x.rows >= 2, y.rows >= 2 else { throw .tooFewSamples("MMD needs at least 2 rows per sample") }
  let h = bandwidth ?? medianHeuristicBandwidth(x)
  let c = -1 / (2 * h * h)
  func meanKernel(_ a: Matrix, _ b: Matrix, excludeDiagonal: Bool) -> Double {
    let d2 = squaredDistances(a, b)
    var s = 0.0
    for i in 0..<a.rows {
      for k in 0..<b.rows where !(excludeDiagonal && i == k) { s += Foundation.exp(c * d2[i * b.rows + k]) }
    }
    let count = excludeDiagonal ? a.rows * (a.rows - 1) : a.rows * b.rows
    return s / Double(count)
  }
  return meanKernel(x, x, excludeDiagonal: true) + meanKernel(y, y, excludeDiagonal: true)
    - 2 * meanKernel(x, y, excludeDiagonal: false)
}

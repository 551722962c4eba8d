// The exact flow-matching velocity and score of a Gaussian target, the oracle for the flow-matching tests.

import Foundation
import NumericCore

/// For x₁ ~ N(μ, Σ), x₀ ~ N(0, I) independent and x_s = s x₁ + (1 − s) x₀: x_s ~ N(s μ, A), A = s² Σ + (1 − s)² I,
///
///     E[x₁ | x_s] = μ + s Σ A⁻¹ (x_s − s μ),   v = (E[x₁ | x_s] − x_s)/(1 − s),   score = −A⁻¹ (x_s − s μ).
struct GaussianFlow {
  let mean: [Double]
  let covariance: DMatrix
  var d: Int { mean.count }

  func marginal(_ s: Double) -> DMatrix {
    var a = covariance
    for i in 0..<(d * d) { a.values[i] *= s * s }
    for i in 0..<d { a[i, i] += (1 - s) * (1 - s) }
    return a
  }

  func velocity(_ x: Matrix, _ s: Double) -> Matrix {
    let ainv = try! marginal(s).inverseSPD()
    let gain = covariance * ainv
    var out = Matrix(rows: x.rows, cols: d)
    for r in 0..<x.rows {
      let c = (0..<d).map { Double(x[r, $0]) - s * mean[$0] }
      let g = gain.multiply(c)
      for j in 0..<d {
        let x1 = mean[j] + s * g[j]
        out[r, j] = Float((x1 - Double(x[r, j])) / (1 - s))
      }
    }
    return out
  }

  func score(_ x: Matrix, _ s: Double) -> Matrix {
    let ainv = try! marginal(s).inverseSPD()
    var out = Matrix(rows: x.rows, cols: d)
    for r in 0..<x.rows {
      let c = (0..<d).map { Double(x[r, $0]) - s * mean[$0] }
      let g = ainv.multiply(c)
      for j in 0..<d { out[r, j] = Float(-g[j]) }
    }
    return out
  }

  func logDensity(_ x: Matrix) -> [Double] {
    let l = try! covariance.cholesky()
    var logDet = 0.0
    for i in 0..<d { logDet += 2 * log(l[i, i]) }
    return (0..<x.rows).map { r in
      let y = l.solveLower((0..<d).map { Double(x[r, $0]) - mean[$0] })
      return -0.5 * y.reduce(0) { $0 + $1 * $1 } - 0.5 * logDet - 0.5 * Double(d) * log(2 * Double.pi)
    }
  }

  static let example = GaussianFlow(
    mean: [0.8, -0.5, 1.2],
    covariance: DMatrix(rows: 3, cols: 3, values: [1.5, 0.6, -0.3, 0.6, 0.8, 0.2, -0.3, 0.2, 0.5]))
}


// Shared oracles and statistics for the diffusion tests.

import Foundation
import NumericCore
import Diffusion

/// The schedules every test runs over, with readable names.
let allSchedules: [(name: String, schedule: any NoiseSchedule)] = [
  ("edm-vp", EDMSchedule(variance: .preserving)),
  ("edm-ve", EDMSchedule(variance: .exploding)),
  ("cosine", CosineSchedule()),
  ("cosine-ve-shift", CosineSchedule(variance: .exploding, shift: 1)),
  ("linear", LinearBetaSchedule(variance: .preserving)),
  ("sub-vp", LinearBetaSchedule(variance: .subPreserving)),
  ("rectified-flow", RectifiedFlowSchedule()),
]

/// The sampler-matrix schedules (the five families, EDM in both variance types).
let samplerSchedules: [(name: String, schedule: any NoiseSchedule)] = allSchedules.filter {
  $0.name != "cosine-ve-shift"
}

/// A correlated Gaussian: variances v_i = 0.5 + 1.5 i/(d−1), correlation ρ^{|i−j|}, mean 0.4·(−1)^i·(1 + i/d).
func correlatedGaussian(dimension d: Int, rho: Double = 0.7) -> (mean: [Double], covariance: DMatrix) {
  let v = (0..<d).map { d == 1 ? 1 : 0.5 + 1.5 * Double($0) / Double(d - 1) }
  var c = DMatrix(rows: d, cols: d)
  for i in 0..<d {
    for j in 0..<d { c[i, j] = pow(rho, Double(abs(i - j))) * (v[i] * v[j]).squareRoot() }
  }
  let m = (0..<d).map { 0.4 * ($0 % 2 == 0 ? 1.0 : -1.0) * (1 + Double($0) / Double(d)) }
  return (m, c)
}

/// The largest z-score of the sample mean and covariance entries against the truth, using the Gaussian standard
/// errors √(Σ_ii/N) and √((Σ_ii Σ_jj + Σ_ij²)/N).
func worstZScore(_ x: Matrix, mean: [Double], covariance: DMatrix) -> (mean: Double, covariance: Double) {
  let (n, d) = (x.rows, x.cols)
  var m = [Double](repeating: 0, count: d)
  for r in 0..<n { for j in 0..<d { m[j] += Double(x[r, j]) } }
  for j in 0..<d { m[j] /= Double(n) }
  var c = DMatrix(rows: d, cols: d)
  for r in 0..<n {
    for i in 0..<d {
      let a = Double(x[r, i]) - m[i]
      for j in 0...i { c[i, j] += a * (Double(x[r, j]) - m[j]) }
    }
  }
  var zm = 0.0, zc = 0.0
  for i in 0..<d {
    let s = covariance[i, i]
    if !m[i].isFinite { return (.infinity, .infinity) }
    zm = max(zm, abs(m[i] - mean[i]) / (s / Double(n)).squareRoot())
    for j in 0...i {
      let est = c[i, j] / Double(n - 1)
      let se = ((covariance[i, i] * covariance[j, j] + covariance[i, j] * covariance[i, j]) / Double(n)).squareRoot()
      zc = max(zc, abs(est - covariance[i, j]) / se)
    }
  }
  return (zm, zc)
}

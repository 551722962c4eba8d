// TARP: tests of accuracy with random points (Lemos et al. 2023, "Sampling-based accuracy testing of posterior
// estimators for general inference", ICML; BayesFlow's `tarp`, sbi's `run_tarp`).

import Foundation
import NumericCore

/// Reference points for TARP.
public enum TARPReferences: Sendable {
  /// Uniform in the min/max box of the targets (BayesFlow's and sbi's default).
  case uniformBox(seed: UInt64)
  /// The targets cyclically shifted by a random offset (the review's case study 2).
  case shiftedTargets(seed: UInt64)
  /// Given reference points [N, D].
  case given(Matrix)
}

/// The TARP result: the expected coverage probability curve `ecp` over credibility levels `alphas`
/// (`resolution + 1` points from 0 to 1) and ATC = Σ_{α ≥ ½} (ECP(α) − α)·Δα (0 calibrated, > 0 over-dispersed,
/// < 0 under-dispersed).
public struct TARPResult: Sendable {
  public let alphas: [Double]
  public let ecp: [Double]
  public let atc: Double
  /// Per data set: the fraction of draws closer to the reference than the truth.
  public let coverageValues: [Double]
}

/// TARP with parameters standardized to the targets' min/max box and Euclidean distance: for data set n,
/// f_n = #{s : ‖θ̂_ns − r_n‖ < ‖θ_n − r_n‖}/S; ECP is the histogram CDF of f over [0, 1] in `resolution` bins.
public func tarp(
  estimates: [Matrix], targets: Matrix, references: TARPReferences = .uniformBox(seed: 0), resolution: Int = 20
) throws(DiagnosticsError) -> TARPResult {
  try checkShapes(estimates, targets)
  let n = targets.rows, d = targets.cols
  let lo = (0..<d).map { j in (0..<n).map { Double(targets[$0, j]) }.min()! }
  let hi = (0..<d).map { j in (0..<n).map { Double(targets[$0, j]) }.max()! }
  let scale = zip(lo, hi).map { $1 - $0 > 0 ? $1 - $0 : 1 }
  var refs = Matrix(rows: n, cols: d)
  switch references {
  case .uniformBox(let seed):
    var rng = Xoshiro(seed: seed)
    for i in 0..<n { for j in 0..<d { refs[i, j] = Float(lo[j] + (hi[j] - lo[j]) * rng.nextDouble()) } }
  case .shiftedTargets(let seed):
    var rng = Xoshiro(seed: seed)
    let shift = n > 1 ? 1 + rng.nextInt(below: n - 1) : 0
    for i in 0..<n { for j in 0..<d { refs[i, j] = targets[(i + shift) % n, j] } }
  case .given(let m):
    guard m.rows == n, m.cols == d else { throw .dimensionMismatch("references must be \(n)×\(d)") }
    refs = m
  }
  func dist(_ a: (Int) -> Double, _ r: Int) -> Double {
    var s = 0.0
    for j in 0..<d {
      let v = (a(j) - Double(refs[r, j])) / scale[j]
      s += v * v
    }
    return s.squareRoot()
  }
  var f = [Double](repeating: 0, count: n)
  for i in 0..<n {
    let truth = dist({ Double(targets[i, $0]) }, i)
    let e = estimates[i]
    var closer = 0
    for s in 0..<e.rows where dist({ Double(e[s, $0]) }, i) < truth { closer += 1 }
    f[i] = Double(closer) / Double(e.rows)
  }
  var hist = [Double](repeating: 0, count: resolution)
  for v in f { hist[min(Int(v * Double(resolution)), resolution - 1)] += 1 }
  var ecp = [0.0]
  var acc = 0.0
  for h in hist {
    acc += h
    ecp.append(acc / Double(n))
  }
  let alphas = (0...resolution).map { Double($0) / Double(resolution) }
  let mid = alphas.count / 2
  let dAlpha = 1 / Double(resolution)
  var atc = 0.0
  for k in mid..<alphas.count { atc += (ecp[k] - alphas[k]) * dAlpha }
  return TARPResult(alphas: alphas, ecp: ecp, atc: atc, coverageValues: f)
}

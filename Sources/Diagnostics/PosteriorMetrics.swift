// Per-variable posterior metrics over many data sets: NRMSE, calibration error, contraction, z-scores, coverage.
// Inputs: `estimates[n]` holds the posterior draws [S, D] for data set n, `targets` the true θ [N, D].
// Definitions follow BayesFlow 2.x `bayesflow/diagnostics/metrics/` (Documentation/Methods.md §12.5).

import Foundation
import NumericCore

/// How NRMSE is normalized.
public enum RMSENormalization: Sendable, Equatable {
  /// Plain RMSE.
  case none
  /// Divided by max − min of the targets.
  case range
  /// Divided by the population standard deviation of the targets.
  case standardDeviation
  /// Divided by the RMSE of "prior predictions": other data sets' true θ used as estimates, whose mean square
  /// error over all ordered pairs n ≠ m is 2·N/(N−1)·Var(θ). 0 is perfect, 1 is no better than the prior.
  case prior
}

func checkShapes(_ estimates: [Matrix], _ targets: Matrix) throws(DiagnosticsError) {
  guard estimates.count == targets.rows, estimates.count > 0 else {
    throw .dimensionMismatch("\(estimates.count) posterior draw sets for \(targets.rows) targets")
  }
  for e in estimates where e.cols != targets.cols || e.rows == 0 {
    throw .dimensionMismatch("posterior draws have \(e.cols) columns, targets \(targets.cols)")
  }
}

/// Median of a non-empty array (mean of the two middle values for even counts).
public func median(_ v: [Double]) -> Double {
  let s = v.sorted()
  let n = s.count
  return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2])
}

/// Quantile with linear interpolation between order statistics (NumPy's default, type 7) of sorted values.
public func quantileSorted(_ s: [Double], _ q: Double) -> Double {
  let h = Double(s.count - 1) * q
  let lo = Int(h.rounded(.down))
  let hi = min(lo + 1, s.count - 1)
  return s[lo] + (h - Double(lo)) * (s[hi] - s[lo])
}

/// (Normalized) RMSE per variable, BayesFlow's definition: for each draw index s,
/// RMSE_s = √(mean_n (θ̂_ns − θ_n)²) over data sets, then the median over s, divided by the normalizer.
public func normalizedRMSE(
  estimates: [Matrix], targets: Matrix, normalization: RMSENormalization = .prior
) throws(DiagnosticsError) -> [Double] {
  try checkShapes(estimates, targets)
  let n = targets.rows, d = targets.cols
  let s = estimates.map(\.rows).min()!
  var out = [Double](repeating: 0, count: d)
  for j in 0..<d {
    var perDraw = [Double](repeating: 0, count: s)
    for k in 0..<s {
      var acc = 0.0
      for i in 0..<n {
        let e = Double(estimates[i][k, j]) - Double(targets[i, j])
        acc += e * e
      }
      perDraw[k] = (acc / Double(n)).squareRoot()
    }
    let col = (0..<n).map { Double(targets[$0, j]) }
    let mean = col.reduce(0, +) / Double(n)
    let variance = col.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
    let normalizer: Double
    switch normalization {
    case .none: normalizer = 1
    case .range: normalizer = col.max()! - col.min()!
    case .standardDeviation: normalizer = variance.squareRoot()
    case .prior: normalizer = (2 * Double(n) / Double(max(n - 1, 1)) * variance).squareRoot()
    }
    out[j] = median(perDraw) / normalizer
  }
  return out
}

/// Calibration error per variable: for α on linspace(0.005, 0.995, resolution), the central interval of mass α
/// (draw quantiles (1−α)/2 and (1+α)/2) covers the truth for a fraction c_α of the data sets; the error is
/// median_α |c_α − α|.
public func calibrationError(
  estimates: [Matrix], targets: Matrix, resolution: Int = 20
) throws(DiagnosticsError) -> [Double] {
  try checkShapes(estimates, targets)
  let alphas = (0..<resolution).map { 0.005 + 0.99 * Double($0) / Double(max(resolution - 1, 1)) }
  let n = targets.rows, d = targets.cols
  var out = [Double](repeating: 0, count: d)
  for j in 0..<d {
    var covered = [Int](repeating: 0, count: resolution)
    for i in 0..<n {
      let sorted = estimates[i].column(j).map(Double.init).sorted()
      let t = Double(targets[i, j])
      for (a, alpha) in alphas.enumerated() {
        let lo = quantileSorted(sorted, (1 - alpha) / 2), hi = quantileSorted(sorted, 1 - (1 - alpha) / 2)
        if lo <= t && t <= hi { covered[a] += 1 }
      }
    }
    out[j] = median(alphas.indices.map { abs(Double(covered[$0]) / Double(n) - alphas[$0]) })
  }
  return out
}

/// Posterior contraction per data set and variable: clip(1 − Var_post / Var_prior, 0, 1), with Var_prior the
/// variance of the targets, [N, D]; `columnMedians` aggregates over data sets.
public func posteriorContraction(estimates: [Matrix], targets: Matrix) throws(DiagnosticsError) -> Matrix {
  try checkShapes(estimates, targets)
  let (_, priorVar) = targets.columnMeanVariance()
  var out = Matrix(rows: targets.rows, cols: targets.cols)
  for i in 0..<targets.rows {
    let (_, postVar) = estimates[i].columnMeanVariance()
    for j in 0..<targets.cols { out[i, j] = Float(min(max(1 - postVar[j] / priorVar[j], 0), 1)) }
  }
  return out
}

/// Posterior z-scores (Schad et al. 2021): (posterior mean − truth) / posterior standard deviation, [N, D].
public func posteriorZScores(estimates: [Matrix], targets: Matrix) throws(DiagnosticsError) -> Matrix {
  try checkShapes(estimates, targets)
  var out = Matrix(rows: targets.rows, cols: targets.cols)
  for i in 0..<targets.rows {
    let (mean, variance) = estimates[i].columnMeanVariance()
    let s = Double(estimates[i].rows)
    for j in 0..<targets.cols {
      let sd = (variance[j] * s / max(s - 1, 1)).squareRoot()
      out[i, j] = Float((mean[j] - Double(targets[i, j])) / sd)
    }
  }
  return out
}

/// Column-wise medians of a matrix (aggregation over data sets).
public func columnMedians(_ m: Matrix) -> [Double] {
  (0..<m.cols).map { j in median(m.column(j).map(Double.init)) }
}

/// Expected coverage of highest-density regions (Deistler et al. 2022; sbi's `run_sbc` with `reduce_fns =
/// log_prob`): the truth lies in the level-α HPD region when fewer than a fraction α of the draws have a higher
/// density. Returns, for each level, the fraction of data sets covered; a calibrated posterior gives the diagonal.
/// `logDensityOfTruth[n]` = log q(θ_n | x_n); `logDensityOfDraws[n]` = log q(θ̂_ns | x_n) for the draws.
public func expectedCoverage(
  logDensityOfTruth: [Double], logDensityOfDraws: [[Double]], levels: [Double]
) throws(DiagnosticsError) -> [Double] {
  guard logDensityOfTruth.count == logDensityOfDraws.count, !logDensityOfTruth.isEmpty else {
    throw .dimensionMismatch("\(logDensityOfTruth.count) truths, \(logDensityOfDraws.count) draw sets")
  }
  let fractions = zip(logDensityOfTruth, logDensityOfDraws).map { t, draws in
    Double(draws.filter { $0 > t }.count) / Double(max(draws.count, 1))
  }
  return levels.map { a in Double(fractions.filter { $0 < a }.count) / Double(fractions.count) }
}

/// Sample-based coverage of central intervals per variable (no density needed): for each level α, the fraction of
/// data sets whose truth lies inside the central α-interval of the draws, [levels, D].
public func centralIntervalCoverage(
  estimates: [Matrix], targets: Matrix, levels: [Double]
) throws(DiagnosticsError) -> Matrix {
  try checkShapes(estimates, targets)
  var out = Matrix(rows: levels.count, cols: targets.cols)
  for j in 0..<targets.cols {
    for i in 0..<targets.rows {
      let sorted = estimates[i].column(j).map(Double.init).sorted()
      let t = Double(targets[i, j])
      for (a, alpha) in levels.enumerated() {
        if quantileSorted(sorted, (1 - alpha) / 2) <= t && t <= quantileSorted(sorted, (1 + alpha) / 2) {
          out[a, j] += 1 / Float(targets.rows)
        }
      }
    }
  }
  return out
}

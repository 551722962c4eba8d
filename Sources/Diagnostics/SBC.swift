// Simulation-based calibration: rank statistics (Talts et al. 2018), simultaneous ECDF confidence bands
// (Säilynoja, Bürkner & Vehtari 2022) and the log-gamma statistic (Modrák et al. 2025; BayesFlow's
// `calibration_log_gamma`).

import Foundation
import NumericCore

/// SBC ranks [N, D]: rank_nj = #{s : θ̂_nsj < θ_nj} ∈ {0, …, S}.
public func sbcRanks(estimates: [Matrix], targets: Matrix) throws(DiagnosticsError) -> [[Int]] {
  try checkShapes(estimates, targets)
  return (0..<targets.rows).map { i in
    (0..<targets.cols).map { j in
      let t = targets[i, j]
      var r = 0
      for s in 0..<estimates[i].rows where estimates[i][s, j] < t { r += 1 }
      return r
    }
  }
}

/// Binomial CDF table: cdf[k] = P(X ≤ k) for X ~ Binomial(n, p), k = 0…n (pmf by a stable recurrence from the mode).
func binomialCDFTable(n: Int, p: Double) -> [Double] {
  if p <= 0 { return [Double](repeating: 1, count: n + 1) }
  if p >= 1 { return (0...n).map { $0 == n ? 1 : 0 } }
  let logP = Foundation.log(p), logQ = Foundation.log1p(-p)
  var logPmf = [Double](repeating: 0, count: n + 1)
  for k in 0...n {
    logPmf[k] = Special.lgamma(Double(n + 1)) - Special.lgamma(Double(k + 1)) - Special.lgamma(Double(n - k + 1))
      + Double(k) * logP + Double(n - k) * logQ
  }
  var cdf = [Double](repeating: 0, count: n + 1)
  var acc = 0.0
  for k in 0...n {
    acc += Foundation.exp(logPmf[k])
    cdf[k] = min(acc, 1)
  }
  return cdf
}

/// The gamma discrepancy of ranks (Modrák et al. 2025, eq. 7): with z_i = i/(S+1), i = 1…S+1, and R_i the number
/// of ranks below i, γ = 2 · min_i min(F_Bin(R_i; N, z_i), 1 − F_Bin(R_i − 1; N, z_i)).
/// Small γ means the rank ECDF strays far from uniform.
public func gammaDiscrepancy(ranks: [Int], posteriorDraws s: Int) -> Double {
  let tables = (1...(s + 1)).map { binomialCDFTable(n: ranks.count, p: Double($0) / Double(s + 1)) }
  return gammaDiscrepancy(ranks: ranks, posteriorDraws: s, tables: tables)
}

func gammaDiscrepancy(ranks: [Int], posteriorDraws s: Int, tables: [[Double]]) -> Double {
  var histogram = [Int](repeating: 0, count: s + 2)
  for r in ranks { histogram[min(max(r, 0), s + 1)] += 1 }
  var below = 0
  var g = Double.infinity
  for i in 1...(s + 1) {
    below += histogram[i - 1]
    let t = tables[i - 1]
    let upper = t[below]
    let lower = 1 - (below > 0 ? t[below - 1] : 0)
    g = min(g, min(upper, lower))
  }
  return 2 * g
}

/// Draws of the gamma discrepancy under uniform ranks (uniform fractional ranks of N data sets), for thresholds.
public func gammaNullDistribution(dataSets n: Int, posteriorDraws s: Int, draws: Int = 1000, seed: UInt64 = 0)
  -> [Double]
{
  let tables = (1...(s + 1)).map { binomialCDFTable(n: n, p: Double($0) / Double(s + 1)) }
  var rng = Xoshiro(seed: seed)
  return (0..<draws).map { _ in
    // A uniform u falls below z_i = i/(S+1) exactly when its rank-equivalent ⌊u(S+1)⌋ is below i.
    let ranks = (0..<n).map { _ in Int(rng.nextDouble() * Double(s + 1)) }
    return gammaDiscrepancy(ranks: ranks, posteriorDraws: s, tables: tables)
  }
}

/// The log-gamma calibration statistic per variable: log(γ / q₀.₀₅), q₀.₀₅ the 5% quantile of the null distribution.
/// Values below 0 reject uniformity of the ranks at the 5% level.
public func calibrationLogGamma(
  estimates: [Matrix], targets: Matrix, quantile: Double = 0.05, nullDraws: Int = 1000, seed: UInt64 = 0
) throws(DiagnosticsError) -> [Double] {
  let ranks = try sbcRanks(estimates: estimates, targets: targets)
  let s = estimates.map(\.rows).min()!
  let null = gammaNullDistribution(dataSets: targets.rows, posteriorDraws: s, draws: nullDraws, seed: seed).sorted()
  let threshold = quantileSorted(null, quantile)
  let tables = (1...(s + 1)).map { binomialCDFTable(n: targets.rows, p: Double($0) / Double(s + 1)) }
  return (0..<targets.cols).map { j in
    Foundation.log(gammaDiscrepancy(ranks: ranks.map { $0[j] }, posteriorDraws: s, tables: tables) / threshold)
  }
}

/// Simultaneous confidence bands for the ECDF of N uniform fractional ranks at `points` evaluation points
/// z_k = k/points (Säilynoja et al. 2022, the simulation method): γ is the `1 − confidence` quantile of the
/// simulated gamma statistic min_k 2·min(F_Bin(N·F̂(z_k); N, z_k), 1 − F_Bin(N·F̂(z_k) − 1; N, z_k)), and the band
/// is [F_Bin⁻¹(γ/2; N, z)/N, F_Bin⁻¹(1 − γ/2; N, z)/N].
public func ecdfSimultaneousBands(
  dataSets n: Int, points: Int = 100, confidence: Double = 0.95, simulations: Int = 1000, seed: UInt64 = 0
) -> (z: [Double], lower: [Double], upper: [Double]) {
  let z = (1...points).map { Double($0) / Double(points) }
  let tables = z.map { binomialCDFTable(n: n, p: $0) }
  var rng = Xoshiro(seed: seed)
  var gammas: [Double] = []
  for _ in 0..<simulations {
    let u = (0..<n).map { _ in rng.nextDouble() }.sorted()
    var g = Double.infinity
    var count = 0
    for (k, zk) in z.enumerated() {
      while count < n && u[count] <= zk { count += 1 }
      let t = tables[k]
      g = min(g, 2 * min(t[count], 1 - (count > 0 ? t[count - 1] : 0)))
    }
    gammas.append(g)
  }
  let gamma = quantileSorted(gammas.sorted(), 1 - confidence)
  func inverse(_ t: [Double], _ q: Double) -> Double {
    Double(t.firstIndex { $0 >= q } ?? n) / Double(n)
  }
  return (z, tables.map { inverse($0, gamma / 2) }, tables.map { inverse($0, 1 - gamma / 2) })
}

/// The ECDF of fractional ranks r/S evaluated at `z`.
public func rankECDF(ranks: [Int], posteriorDraws s: Int, at z: [Double]) -> [Double] {
  let f = ranks.map { Double($0) / Double(s) }.sorted()
  return z.map { zk in Double(f.filter { $0 <= zk }.count) / Double(f.count) }
}

// Model misspecification check: is the observed data set one the simulator could have produced? Maximum mean
// discrepancy between the observation(s) and reference simulations, with a bootstrap null distribution
// (Schmitt et al. 2023, "Detecting model misspecification in amortized Bayesian inference with neural networks",
// GCPR; Documentation/Methods.md §12.2).

import Foundation
import NumericCore

/// The result of `misspecificationTest`.
public struct MisspecificationResult: Sendable {
  /// Biased MMD² between the K observations and the reference simulations.
  public var mmd: Double
  /// Fraction of bootstrap MMD² values at least as large (with the +1 correction): small values flag data the
  /// simulator does not produce.
  public var pValue: Double
  /// The bootstrap MMD² values: K reference rows drawn without replacement against the other reference rows.
  public var null: [Double]
  public var bandwidth: Double
}

/// Biased MMD² (V-statistic, diagonal terms included, so one observation suffices) with a Gaussian kernel of
/// bandwidth h: mean k(X, X) + mean k(Y, Y) − 2 mean k(X, Y).
public func biasedMMDSquared(_ x: Matrix, _ y: Matrix, bandwidth h: Double) -> Double {
  let c = -1 / (2 * h * h)
  func mean(_ a: Matrix, _ b: Matrix) -> Double {
    squaredDistances(a, b).reduce(0) { $0 + Foundation.exp(c * $1) } / Double(a.rows * b.rows)
  }
  return mean(x, x) + mean(y, y) - 2 * mean(x, y)
}

/// Tests whether `observed` [K, D] (K ≥ 1 observations, in the space the comparison should happen in: the learned
/// summary, or the standardized data) looks like `reference` [M, D] simulations. The statistic is the biased MMD²
/// between the two with the median-heuristic bandwidth of the reference; its null distribution comes from
/// `bootstrap` draws of K reference rows (without replacement) compared with the remaining M − K rows (the
/// observation is compared with all M; the difference is negligible for M ≫ K), so the test has about the right
/// size for any K. p = (1 + #{null ≥ MMD²}) / (1 + bootstrap).
public func misspecificationTest(
  observed: Matrix, reference: Matrix, bootstrap: Int = 500, seed: UInt64 = 0
) throws(DiagnosticsError) -> MisspecificationResult {
  guard observed.cols == reference.cols else {
    throw .dimensionMismatch("observations have \(observed.cols) columns, simulations \(reference.cols)")
  }
  guard observed.rows >= 1, reference.rows >= observed.rows + 2 else {
    throw .tooFewSamples("the check needs at least K + 2 reference simulations for K observations")
  }
  guard bootstrap >= 1 else { throw .tooFewSamples("the check needs at least one bootstrap draw") }
  let h = max(medianHeuristicBandwidth(reference), 1e-12)
  let k = observed.rows
  let statistic = biasedMMDSquared(observed, reference, bandwidth: h)
  // The reference kernel matrix once; each draw then costs O(K²): with S the K drawn rows and R the others,
  // ΣK(R,R) = ΣK(all) − 2 ΣK(S,all) + ΣK(S,S) and ΣK(S,R) = ΣK(S,all) − ΣK(S,S).
  let m = reference.rows
  let c = -1 / (2 * h * h)
  let kernel = squaredDistances(reference, reference).map { Foundation.exp(c * $0) }
  let rowSums = (0..<m).map { i in (0..<m).reduce(0.0) { $0 + kernel[i * m + $1] } }
  let total = rowSums.reduce(0, +)
  let r = Double(m - k)
  var rng = Xoshiro(seed: seed, stream: 0x4D4D_4421)
  var null: [Double] = []
  null.reserveCapacity(bootstrap)
  for _ in 0..<bootstrap {
    let drawn = Array(rng.permutation(m)[..<k])
    var ss = 0.0, sa = 0.0
    for i in drawn {
      sa += rowSums[i]
      for j in drawn { ss += kernel[i * m + j] }
    }
    let kk = Double(k)
    null.append(ss / (kk * kk) + (total - 2 * sa + ss) / (r * r) - 2 * (sa - ss) / (kk * r))
  }
  let exceed = null.filter { $0 >= statistic }.count
  return MisspecificationResult(
    mmd: statistic, pValue: Double(1 + exceed) / Double(1 + bootstrap), null: null, bandwidth: h)
}

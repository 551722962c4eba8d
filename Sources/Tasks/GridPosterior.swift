// Reference posteriors by quadrature on a grid over a 3-D box, for tasks whose likelihood is exact and cheap but
// whose posterior has no closed form (ornstein_uhlenbeck; Documentation/Methods.md §11.3).

import Foundation
import NumericCore

/// A density on a 3-D box, known up to a constant, tabulated by the midpoint rule; draws pick a cell with
/// probability ∝ its mass and a uniform point inside it.
///
/// Two passes. (1) The log density l at the centres of a coarse grid (`coarse` cells per axis) over the box; the
/// cells with l > max − `logDensityDrop` give an index bounding box, widened by one cell on each side and clipped to
/// the box. (2) `fine` cells per axis over that box, cell mass w_c ∝ exp(l(centre_c) − max), accumulated in Double.
/// The draws follow the piecewise-uniform density w_c/(W·|cell|) exactly; `mean` and `standardDeviation` are its
/// moments (mean_j = Σ w_c c_j / W, var_j = Σ w_c (c_j − mean_j)² / W + h_j²/12 with h_j the fine cell width).
/// As with any quadrature, a mode narrower than a coarse cell and away from the others can be missed.
public struct GridPosterior: Sendable {
  /// The fine grid's box (a sub-box of the input box).
  public let lower: [Double]
  public let upper: [Double]
  /// Cells per axis of the fine grid.
  public let points: Int
  /// The largest log density on the fine grid (−∞ when the density is nowhere positive on the coarse grid).
  public let maximumLogDensity: Double
  /// Cumulative cell masses in row-major order (axis 0 slowest), unnormalized.
  let cumulative: [Double]

  /// Tabulates `logDensity(θ₁, θ₂, θ₃)` over the box [lower, upper]; `logDensity` is called concurrently.
  public init(
    lower boxLower: [Double], upper boxUpper: [Double], coarse: Int = 48, fine: Int = 128,
    logDensityDrop: Double = 30, logDensity: (Double, Double, Double) -> Double
  ) {
    precondition(boxLower.count == 3 && boxUpper.count == 3 && coarse >= 1 && fine >= 1, "a 3-D box and grid sizes")
    let coarseValues = GridPosterior.tabulate(lower: boxLower, upper: boxUpper, points: coarse, logDensity)
    let coarseMax = GridPosterior.largest(coarseValues)
    var lo = [Double](boxLower), hi = [Double](boxUpper)
    if coarseMax.isFinite {
      var first = [coarse, coarse, coarse], last = [-1, -1, -1]
      for (c, l) in coarseValues.enumerated() where l > coarseMax - logDensityDrop {
        let index = [c / (coarse * coarse), (c / coarse) % coarse, c % coarse]
        for j in 0..<3 {
          first[j] = min(first[j], index[j])
          last[j] = max(last[j], index[j])
        }
      }
      for j in 0..<3 {
        let h = (boxUpper[j] - boxLower[j]) / Double(coarse)
        lo[j] = boxLower[j] + Double(max(first[j] - 1, 0)) * h
        hi[j] = last[j] + 2 >= coarse ? boxUpper[j] : boxLower[j] + Double(last[j] + 2) * h
      }
    }
    var values = GridPosterior.tabulate(lower: lo, upper: hi, points: fine, logDensity)
    let maximum = GridPosterior.largest(values)
    if maximum.isFinite {
      values.withUnsafeMutableBufferPointer { buffer in
        let ptr = UnsafeSendablePointer(buffer.baseAddress!)
        parallelFor(count: fine) { _, range in
          for i in (range.lowerBound * fine * fine)..<(range.upperBound * fine * fine) {
            let l = ptr.base[i]
            ptr.base[i] = l.isNaN ? 0 : Foundation.exp(l - maximum)
          }
        }
      }
      var total = 0.0
      for i in values.indices {
        total += values[i]
        values[i] = total
      }
    } else {
      values = []
    }
    lower = lo
    upper = hi
    points = fine
    maximumLogDensity = maximum
    cumulative = values
  }

  /// l at the centres of `points`³ cells over [lower, upper], row-major, in parallel over slices of axis 0.
  static func tabulate(
    lower: [Double], upper: [Double], points n: Int, _ logDensity: (Double, Double, Double) -> Double
  ) -> [Double] {
    var out = [Double](repeating: 0, count: n * n * n)
    let h = (0..<3).map { (upper[$0] - lower[$0]) / Double(n) }
    out.withUnsafeMutableBufferPointer { buffer in
      let ptr = UnsafeSendablePointer(buffer.baseAddress!)
      parallelFor(count: n) { _, range in
        for i in range {
          let a = lower[0] + (Double(i) + 0.5) * h[0]
          for j in 0..<n {
            let b = lower[1] + (Double(j) + 0.5) * h[1]
            let row = ptr.base + (i * n + j) * n
            for k in 0..<n { row[k] = logDensity(a, b, lower[2] + (Double(k) + 0.5) * h[2]) }
          }
        }
      }
    }
    return out
  }

  /// The largest value, ignoring NaN (−∞ when there is none).
  static func largest(_ values: [Double]) -> Double {
    values.reduce(-Double.infinity) { $1 > $0 ? $1 : $0 }
  }

  /// Fine cell widths per axis.
  var cellWidth: [Double] { (0..<3).map { (upper[$0] - lower[$0]) / Double(points) } }

  /// `count` draws, [count, 3]; reproducible from `seed` and independent of the thread count. Rows are NaN when
  /// the density is nowhere positive on the grid (a non-finite observation).
  public func sample(count: Int, seed: UInt64) -> Matrix {
    let h = cellWidth
    let total = cumulative.last ?? 0
    return cumulative.withUnsafeBufferPointer { cdf in
      blockedRowMap(rows: count, outputColumns: 3, seed: seed, blockSize: 256) { rng, _, out in
        guard total > 0 else {
          for j in 0..<3 { out[j] = .nan }
          return
        }
        // The first cell whose cumulative mass exceeds u (cells of zero mass are never picked).
        let u = rng.nextDouble() * total
        var a = 0, b = cdf.count - 1
        while a < b {
          let m = (a + b) / 2
          if cdf[m] > u { b = m } else { a = m + 1 }
        }
        let index = (a / (points * points), (a / points) % points, a % points)
        out[0] = Float(lower[0] + (Double(index.0) + rng.nextDouble()) * h[0])
        out[1] = Float(lower[1] + (Double(index.1) + rng.nextDouble()) * h[1])
        out[2] = Float(lower[2] + (Double(index.2) + rng.nextDouble()) * h[2])
      }
    }
  }

  /// Mean and standard deviation per coordinate of the tabulated (piecewise-uniform) density.
  public var moments: (mean: [Double], standardDeviation: [Double]) {
    guard let total = cumulative.last, total > 0 else { return ([.nan, .nan, .nan], [.nan, .nan, .nan]) }
    let n = points, h = cellWidth
    // Marginal masses per axis, then the moments of each marginal.
    var marginals = [[Double]](repeating: [Double](repeating: 0, count: n), count: 3)
    var previous = 0.0
    for c in cumulative.indices {
      let w = cumulative[c] - previous
      previous = cumulative[c]
      marginals[0][c / (n * n)] += w
      marginals[1][(c / n) % n] += w
      marginals[2][c % n] += w
    }
    var mean = [0.0, 0.0, 0.0], sd = [0.0, 0.0, 0.0]
    for j in 0..<3 {
      let centres = (0..<n).map { lower[j] + (Double($0) + 0.5) * h[j] }
      mean[j] = zip(marginals[j], centres).reduce(0) { $0 + $1.0 * $1.1 } / total
      let v = zip(marginals[j], centres).reduce(0) { $0 + $1.0 * ($1.1 - mean[j]) * ($1.1 - mean[j]) } / total
      sd[j] = (v + h[j] * h[j] / 12).squareRoot()
    }
    return (mean, sd)
  }
}

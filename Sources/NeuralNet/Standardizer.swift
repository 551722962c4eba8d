// Running z-standardization of parameters and data.

import NumericCore

/// Items of `width` features each at the start of a row (a set of `items` elements or a series of `items` steps).
public struct ChannelGroups: Sendable, Codable, Equatable {
  public var items: Int
  public var width: Int
  public init(items: Int, width: Int) {
    self.items = items
    self.width = width
  }
}

/// An elementwise map applied to data before their statistics and before standardization (part of the network's
/// input transform, stored with the condition standardizer in the model file).
///
/// - `log1p`: x ↦ log(1 + x), for non-negative data spanning orders of magnitude (the beer2014 task's clipped
///   concentrations, as the review's `log1p` adapter step). NaN padding stays NaN.
public enum ElementTransform: String, Sendable, Codable, Equatable, CaseIterable {
  case identity
  case log1p

  /// The number of finite entries of `m` outside the transform's domain (log1p: x ≤ −1, which would become NaN or
  /// −∞ and read as padding or break training).
  public func countOutsideDomain(_ m: Matrix) -> Int {
    guard self == .log1p else { return 0 }
    return m.storage.reduce(0) { $0 + ($1.isFinite && $1 <= -1 ? 1 : 0) }
  }

  /// The map applied to every element of `m`.
  public func apply(_ m: Matrix) -> Matrix {
    switch self {
    case .identity: return m
    case .log1p:
      var out = m
      out.withUnsafeMutableBufferPointer { p in for k in p.indices { p[k] = Foundation.log1p(p[k]) } }
      return out
    }
  }
}

/// Per-feature running mean and standard deviation (Welford 1962; batches merged by Chan et al. 1979):
///
///     n_ab = n_a + n_b,  δ = μ_b − μ_a,  μ_ab = μ_a + δ·n_b/n_ab,  M2_ab = M2_a + M2_b + δ²·n_a·n_b/n_ab
///
/// `std = √(M2/n)` (population), replaced by 1 where it is 0 or undefined, as BayesFlow's `Standardization`.
/// Forward `z = (x − μ)/std`, inverse `x = μ + std·z`. Statistics are Double; stored with the model.
/// With an element transform g (`transform`), the statistics are those of g(x) and forward is `(g(x) − μ)/std`;
/// `destandardize` returns g(x), not x (g is only ever applied to data, which are never mapped back).
///
/// With `channels`, the first `items × width` columns are items (set elements, time steps) of `width` features:
/// the statistics of feature k are those of all items' k-th values together (standardization per feature channel,
/// so that permuting the items of a set commutes with standardization), stored repeated for every item.
public struct Standardizer: Sendable, Codable, Equatable {
  /// Number of finite values seen per feature.
  public private(set) var counts: [Double]
  public private(set) var mean: [Double]
  public private(set) var m2: [Double]
  /// Item structure of the leading columns whose statistics are tied per feature channel (nil: per column).
  public private(set) var channels: ChannelGroups?
  /// The element transform applied before the statistics and the standardization (nil: none; model files written
  /// before it existed load with nil).
  public private(set) var transform: ElementTransform?

  public init(dimension: Int, channels: ChannelGroups? = nil, transform: ElementTransform? = nil) {
    precondition(channels.map { $0.items * $0.width <= dimension } ?? true, "channel groups exceed the dimension")
    mean = [Double](repeating: 0, count: dimension)
    m2 = mean
    counts = mean
    self.channels = channels
    self.transform = transform == .identity ? nil : transform
  }

  /// Restores saved statistics.
  public init(
    counts: [Double], mean: [Double], m2: [Double], channels: ChannelGroups? = nil, transform: ElementTransform? = nil
  ) {
    precondition(mean.count == m2.count && counts.count == mean.count)
    self.counts = counts
    self.mean = mean
    self.m2 = m2
    self.channels = channels
    self.transform = transform == .identity ? nil : transform
  }

  public var dimension: Int { mean.count }

  /// Standard deviations (1 where undefined or zero).
  public var std: [Double] {
    zip(m2, counts).map { $1 > 0 && $0 > 0 ? ($0 / $1).squareRoot() : 1 }
  }

  /// Folds a batch (rows are samples) into the running statistics. Non-finite values (NaN padding of sets or
  /// sequences, failed simulations) are skipped feature by feature.
  public mutating func update(_ raw: Matrix) {
    precondition(raw.cols == dimension, "standardizer has dimension \(dimension), batch has \(raw.cols)")
    let batch = transform?.apply(raw) ?? raw
    let tied = channels.map { $0.items * $0.width } ?? 0
    if let g = channels {
      for k in 0..<g.width { merge(batch, columns: Array(stride(from: k, to: tied, by: g.width))) }
    }
    for j in tied..<dimension { merge(batch, columns: [j]) }
  }

  /// Folds the finite values of `columns` (one channel: statistics equal across them) into their statistics.
  private mutating func merge(_ batch: Matrix, columns: [Int]) {
    guard let first = columns.first else { return }
    var nb = 0.0, mb = 0.0
    for r in 0..<batch.rows {
      for j in columns where batch[r, j].isFinite {
        nb += 1
        mb += Double(batch[r, j])
      }
    }
    guard nb > 0 else { return }
    mb /= nb
    var m2b = 0.0
    for r in 0..<batch.rows {
      for j in columns where batch[r, j].isFinite {
        let d = Double(batch[r, j]) - mb
        m2b += d * d
      }
    }
    let na = counts[first], n = na + nb
    let delta = mb - mean[first]
    let newMean = mean[first] + delta * nb / n, newM2 = m2[first] + m2b + delta * delta * na * nb / n
    for j in columns {
      mean[j] = newMean
      m2[j] = newM2
      counts[j] = n
    }
  }

  /// `(g(x) − μ)/std` row by row (g the element transform, if any).
  public func standardize(_ x: Matrix) -> Matrix {
    precondition(x.cols == dimension)
    let s = std
    let scale = s.map { Float(1 / $0) }
    let shift = zip(mean, s).map { Float(-$0 / $1) }
    var out = transform?.apply(x) ?? x
    out.multiplyRowVector(scale)
    out.addRowVector(shift)
    return out
  }

  /// `μ + std·z` row by row.
  public func destandardize(_ z: Matrix) -> Matrix {
    precondition(z.cols == dimension)
    var out = z
    out.multiplyRowVector(std.map { Float($0) })
    out.addRowVector(mean.map { Float($0) })
    return out
  }

}

import Foundation

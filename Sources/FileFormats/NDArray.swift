// An n-dimensional array of Float read from or written to a data file.

import NumericCore

/// An n-dimensional array with `Float` elements in row-major (C) order, as read from `.npy`, `.npz` and
/// safetensors files. `data.count == shape.reduce(1, *)`; a 0-dimensional array (scalar) has shape `[]` and one
/// element.
public struct NDArray: Sendable, Equatable {
  public let shape: [Int]
  public let data: [Float]

  /// An array of the given shape over row-major `data`. Throws if the element count does not match the shape.
  public init(shape: [Int], data: [Float]) throws {
    guard shape.allSatisfy({ $0 >= 0 }), let count = NDArray.elementCount(shape), count == data.count else {
      throw FileFormatError.invalidArgument(
        path: "<memory>", reason: "shape \(shape) does not hold \(data.count) elements")
    }
    self.shape = shape
    self.data = data
  }

  init(unchecked shape: [Int], data: [Float]) {
    self.shape = shape
    self.data = data
  }

  /// A 2-D array holding a matrix.
  public init(_ matrix: Matrix) {
    self.init(unchecked: [matrix.rows, matrix.cols], data: matrix.storage)
  }

  /// A 1-D array holding a vector.
  public init(vector: [Float]) {
    self.init(unchecked: [vector.count], data: vector)
  }

  /// The number of dimensions.
  public var rank: Int { shape.count }

  /// The product of the dimensions, or nil on overflow.
  static func elementCount(_ shape: [Int]) -> Int? {
    if shape.contains(0) { return shape.allSatisfy { $0 >= 0 } ? 0 : nil }
    var n = 1
    for d in shape {
      guard d >= 0 else { return nil }
      let (p, o) = n.multipliedReportingOverflow(by: d)
      if o { return nil }
      n = p
    }
    return n
  }

  /// The array as a matrix: a 2-D array as is, a 1-D array of length n as an n×1 column (n samples of a
  /// scalar), a 0-D array as 1×1. Higher ranks throw.
  public func matrix(source: String = "<memory>") throws -> Matrix {
    switch shape.count {
    case 0: return Matrix(rows: 1, cols: 1, storage: data)
    case 1: return Matrix(rows: shape[0], cols: 1, storage: data)
    case 2: return Matrix(rows: shape[0], cols: shape[1], storage: data)
    default:
      throw FileFormatError.unsupported(
        path: source, format: .npy, feature: "a \(shape.count)-D array \(shape) where a matrix was expected")
    }
  }

  /// The number of non-finite (NaN or ±Inf) elements.
  public var nonFiniteCount: Int { data.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
}

/// Rows with NaN or Inf in simulation data: counting them and dropping them consistently across paired
/// matrices (e.g. θ and x, where a row is dropped when either matrix has a non-finite value in it).
public enum NonFiniteRows {
  /// Indices of the rows of `m` that contain a NaN or ±Inf.
  public static func indices(in m: Matrix) -> [Int] {
    var out: [Int] = []
    m.withUnsafeBufferPointer { p in
      for i in 0..<m.rows {
        var finite = true
        for j in 0..<m.cols where !p[i * m.cols + j].isFinite {
          finite = false
          break
        }
        if !finite { out.append(i) }
      }
    }
    return out
  }

  /// Indices of the rows of `m` that are not valid padded structured data: its first `items × width` columns are
  /// items (set elements, time steps) of `width` features, where an item whose features are all NaN is padding.
  /// A row is invalid when it holds ±Inf, an item that is partly NaN, no present item at all, or a NaN in the
  /// columns after the items.
  public static func indices(in m: Matrix, items: Int, width: Int) -> [Int] {
    precondition(items * width <= m.cols && width > 0)
    var out: [Int] = []
    m.withUnsafeBufferPointer { p in
      for i in 0..<m.rows {
        let row = p.baseAddress! + i * m.cols
        var valid = true, present = 0
        for k in 0..<items {
          var nan = 0
          for j in 0..<width {
            let v = row[k * width + j]
            if v.isNaN { nan += 1 } else if !v.isFinite { valid = false }
          }
          if nan == 0 { present += 1 } else if nan != width { valid = false }
        }
        for j in (items * width)..<m.cols where !row[j].isFinite { valid = false }
        if !valid || present == 0 { out.append(i) }
      }
    }
    return out
  }

  /// The number of rows of `m` that contain a NaN or ±Inf.
  public static func count(in m: Matrix) -> Int { indices(in: m).count }

  /// Drops every row index that is non-finite in any of `matrices` (which must have equal row counts), and
  /// returns the filtered matrices and the number of dropped rows.
  ///
  /// `items[k]` = (N, D) declares the leading N·D columns of matrix k as padded items (see
  /// `indices(in:items:width:)`): all-NaN items are padding, not bad data.
  public static func drop(_ matrices: [Matrix], items: [(count: Int, width: Int)?] = []) throws
    -> (kept: [Matrix], dropped: Int)
  {
    guard let rows = matrices.first?.rows else { return ([], 0) }
    guard matrices.allSatisfy({ $0.rows == rows }) else {
      throw FileFormatError.invalidArgument(
        path: "<memory>", reason: "row counts differ: \(matrices.map(\.rows))")
    }
    var bad = [Bool](repeating: false, count: rows)
    for (k, m) in matrices.enumerated() {
      let invalid = k < items.count ? items[k].map { indices(in: m, items: $0.count, width: $0.width) } : nil
      for i in invalid ?? indices(in: m) { bad[i] = true }
    }
    let keep = (0..<rows).filter { !bad[$0] }
    if keep.count == rows { return (matrices, 0) }
    return (matrices.map { $0.gatherRows(keep) }, rows - keep.count)
  }
}

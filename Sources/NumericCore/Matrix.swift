// A dense row-major Float32 matrix with value semantics.

/// A dense, row-major, contiguous matrix of `Float` with value semantics (copy on write through `Array`).
///
/// Element `(i, j)` lives at `storage[i * cols + j]`. A batch of vectors is a matrix with one vector per row,
/// shape `[batch, dim]`.
public struct Matrix: Sendable, Equatable, CustomStringConvertible {
  public private(set) var rows: Int
  public private(set) var cols: Int
  /// Row-major elements; `count == rows * cols`.
  public var storage: [Float] {
    didSet { precondition(storage.count == rows * cols, "Matrix storage size changed") }
  }

  /// A `rows × cols` matrix filled with `value`.
  public init(rows: Int, cols: Int, repeating value: Float = 0) {
    precondition(rows >= 0 && cols >= 0, "negative matrix dimension")
    self.rows = rows
    self.cols = cols
    self.storage = [Float](repeating: value, count: rows * cols)
  }

  /// A `rows × cols` matrix over the given row-major elements.
  public init(rows: Int, cols: Int, storage: [Float]) {
    precondition(rows >= 0 && cols >= 0 && storage.count == rows * cols,
                 "storage has \(storage.count) elements, expected \(rows)×\(cols)")
    self.rows = rows
    self.cols = cols
    self.storage = storage
  }

  /// A matrix from nested rows; all rows must have the same length.
  public init(_ nested: [[Float]]) {
    let r = nested.count
    let c = nested.first?.count ?? 0
    precondition(nested.allSatisfy { $0.count == c }, "ragged rows")
    self.init(rows: r, cols: c, storage: nested.flatMap { $0 })
  }

  /// A matrix from Double rows (converted to Float).
  public init(rows: Int, cols: Int, doubles: [Double]) {
    self.init(rows: rows, cols: cols, storage: doubles.map { Float($0) })
  }

  public static func zeros(_ rows: Int, _ cols: Int) -> Matrix { Matrix(rows: rows, cols: cols) }

  /// The identity matrix of size `n`.
  public static func identity(_ n: Int) -> Matrix {
    var m = Matrix(rows: n, cols: n)
    for i in 0..<n { m.storage[i * n + i] = 1 }
    return m
  }

  public var count: Int { rows * cols }
  public var shape: (rows: Int, cols: Int) { (rows, cols) }

  @inlinable
  public subscript(i: Int, j: Int) -> Float {
    get { storage[i * cols + j] }
    set { storage[i * cols + j] = newValue }
  }

  /// Row `i` as an array.
  public func row(_ i: Int) -> [Float] { Array(storage[(i * cols)..<((i + 1) * cols)]) }

  /// Column `j` as an array.
  public func column(_ j: Int) -> [Float] { (0..<rows).map { storage[$0 * cols + j] } }

  /// Rows `range` as a new matrix.
  public func rows(_ range: Range<Int>) -> Matrix {
    Matrix(rows: range.count, cols: cols, storage: Array(storage[(range.lowerBound * cols)..<(range.upperBound * cols)]))
  }

  /// The rows at `indices`, in order.
  public func gatherRows(_ indices: [Int]) -> Matrix {
    var out = Matrix(rows: indices.count, cols: cols)
    storage.withUnsafeBufferPointer { src in
      out.storage.withUnsafeMutableBufferPointer { dst in
        for (r, i) in indices.enumerated() {
          precondition(i >= 0 && i < rows, "row index \(i) out of range 0..<\(rows)")
          (dst.baseAddress! + r * cols).update(from: src.baseAddress! + i * cols, count: cols)
        }
      }
    }
    return out
  }

  /// Columns `range` as a new matrix.
  public func columns(_ range: Range<Int>) -> Matrix {
    var out = Matrix(rows: rows, cols: range.count)
    for i in 0..<rows {
      for (jj, j) in range.enumerated() { out.storage[i * range.count + jj] = storage[i * cols + j] }
    }
    return out
  }

  /// The transpose.
  public var transposed: Matrix {
    var out = Matrix(rows: cols, cols: rows)
    storage.withUnsafeBufferPointer { s in
      out.storage.withUnsafeMutableBufferPointer { d in
        // Blocked transpose for cache friendliness.
        let bs = 32
        var i0 = 0
        while i0 < rows {
          var j0 = 0
          while j0 < cols {
            for i in i0..<min(i0 + bs, rows) {
              for j in j0..<min(j0 + bs, cols) { d[j * rows + i] = s[i * cols + j] }
            }
            j0 += bs
          }
          i0 += bs
        }
      }
    }
    return out
  }

  /// Stacks matrices vertically (all must have the same column count).
  public static func vstack(_ parts: [Matrix]) -> Matrix {
    guard let c = parts.first?.cols else { return Matrix(rows: 0, cols: 0) }
    precondition(parts.allSatisfy { $0.cols == c }, "vstack: column counts differ")
    var s = [Float]()
    s.reserveCapacity(parts.reduce(0) { $0 + $1.count })
    for p in parts { s.append(contentsOf: p.storage) }
    return Matrix(rows: parts.reduce(0) { $0 + $1.rows }, cols: c, storage: s)
  }

  /// Concatenates matrices horizontally (all must have the same row count).
  public static func hstack(_ parts: [Matrix]) -> Matrix {
    guard let r = parts.first?.rows else { return Matrix(rows: 0, cols: 0) }
    precondition(parts.allSatisfy { $0.rows == r }, "hstack: row counts differ")
    let c = parts.reduce(0) { $0 + $1.cols }
    var out = Matrix(rows: r, cols: c)
    var off = 0
    for p in parts {
      for i in 0..<r {
        for j in 0..<p.cols { out.storage[i * c + off + j] = p.storage[i * p.cols + j] }
      }
      off += p.cols
    }
    return out
  }

  /// Element access through a read-only pointer.
  @inlinable
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try storage.withUnsafeBufferPointer(body)
  }

  /// Element access through a mutable pointer (triggers copy-on-write once if shared).
  @inlinable
  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    try storage.withUnsafeMutableBufferPointer(body)
  }

  /// True when every element is finite.
  public var allFinite: Bool { storage.allSatisfy { $0.isFinite } }

  /// Elements as Double, row-major.
  public var doubles: [Double] { storage.map(Double.init) }

  public var description: String {
    let shown = min(rows, 6)
    var s = "Matrix(\(rows)×\(cols))"
    for i in 0..<shown {
      s += "\n  [" + (0..<min(cols, 8)).map { String(format: "%.4g", self[i, $0]) }.joined(separator: ", ")
      s += cols > 8 ? ", …]" : "]"
    }
    if rows > shown { s += "\n  …" }
    return s
  }
}

import Foundation

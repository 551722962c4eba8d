// GEMM wrappers, broadcasts, reductions and elementwise arithmetic on Matrix.

extension Matrix {
  /// `C = alpha · op(A) · op(B) + beta · C` (all four transpose combinations), through the system BLAS.
  ///
  /// Shapes: `op(A)` is `m×k`, `op(B)` is `k×n`, `C` is `m×n`. With `beta == 0`, `C` only needs the right shape
  /// and its old contents are ignored.
  @inlinable
  public static func gemm(
    _ a: Matrix, transposeA: Bool = false, _ b: Matrix, transposeB: Bool = false,
    alpha: Float = 1, beta: Float = 0, into c: inout Matrix
  ) {
    let m = transposeA ? a.cols : a.rows
    let k = transposeA ? a.rows : a.cols
    let kb = transposeB ? b.cols : b.rows
    let n = transposeB ? b.rows : b.cols
    precondition(k == kb, "gemm: inner dimensions \(k) and \(kb) differ")
    precondition(c.rows == m && c.cols == n, "gemm: C is \(c.rows)×\(c.cols), expected \(m)×\(n)")
    a.storage.withUnsafeBufferPointer { pa in
      b.storage.withUnsafeBufferPointer { pb in
        c.storage.withUnsafeMutableBufferPointer { pc in
          BLAS.sgemm(
            transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: alpha,
            a: pa.baseAddress!, lda: a.cols, b: pb.baseAddress!, ldb: b.cols,
            beta: beta, c: pc.baseAddress!, ldc: n)
        }
      }
    }
  }

  /// `op(A) · op(B)` as a new matrix.
  @inlinable
  public static func matmul(
    _ a: Matrix, transposeA: Bool = false, _ b: Matrix, transposeB: Bool = false, alpha: Float = 1
  ) -> Matrix {
    var c = Matrix(rows: transposeA ? a.cols : a.rows, cols: transposeB ? b.rows : b.cols)
    gemm(a, transposeA: transposeA, b, transposeB: transposeB, alpha: alpha, beta: 0, into: &c)
    return c
  }

  // MARK: Broadcasts

  /// Adds `v` (length `cols`) to every row.
  public mutating func addRowVector(_ v: [Float], scale: Float = 1) {
    precondition(v.count == cols, "row vector has \(v.count) elements, expected \(cols)")
    let c = cols, r = rows
    v.withUnsafeBufferPointer { pv in
      storage.withUnsafeMutableBufferPointer { p in
        for i in 0..<r { Kernels.axpy(count: c, alpha: scale, x: pv.baseAddress!, y: p.baseAddress! + i * c) }
      }
    }
  }

  /// Multiplies every row elementwise by `v` (length `cols`).
  public mutating func multiplyRowVector(_ v: [Float]) {
    precondition(v.count == cols)
    let c = cols, r = rows
    v.withUnsafeBufferPointer { pv in
      storage.withUnsafeMutableBufferPointer { p in
        for i in 0..<r { Kernels.mul(count: c, p.baseAddress! + i * c, pv.baseAddress!, into: p.baseAddress! + i * c) }
      }
    }
  }

  /// Multiplies row `i` by `v[i]`.
  public mutating func scaleRows(_ v: [Float]) {
    precondition(v.count == rows)
    let c = cols, r = rows
    storage.withUnsafeMutableBufferPointer { p in
      for i in 0..<r { Kernels.scale(count: c, p.baseAddress! + i * c, by: v[i]) }
    }
  }

  // MARK: Reductions

  /// Sum over rows: a vector of length `cols` (the bias gradient of a Dense layer).
  public func columnSums() -> [Float] {
    var out = [Float](repeating: 0, count: cols)
    let c = cols
    storage.withUnsafeBufferPointer { p in
      out.withUnsafeMutableBufferPointer { o in
        for i in 0..<rows { Kernels.add(count: c, o.baseAddress!, p.baseAddress! + i * c, into: o.baseAddress!) }
      }
    }
    return out
  }

  /// Sum over columns: a vector of length `rows`.
  public func rowSums() -> [Float] {
    let c = cols
    return storage.withUnsafeBufferPointer { p in
      (0..<rows).map { Kernels.sum(count: c, p.baseAddress! + $0 * c) }
    }
  }

  /// Column means and (population) variances, accumulated in Double.
  public func columnMeanVariance() -> (mean: [Double], variance: [Double]) {
    var mean = [Double](repeating: 0, count: cols)
    var m2 = [Double](repeating: 0, count: cols)
    guard rows > 0 else { return (mean, m2) }
    for i in 0..<rows {
      let n = Double(i + 1)
      for j in 0..<cols {
        let x = Double(storage[i * cols + j])
        let d = x - mean[j]
        mean[j] += d / n
        m2[j] += d * (x - mean[j])
      }
    }
    return (mean, m2.map { $0 / Double(rows) })
  }

  /// Sum of all elements (accumulated in Double).
  public func sum() -> Double { storage.reduce(0.0) { $0 + Double($1) } }

  /// Frobenius norm squared (accumulated in Double).
  public func squaredNorm() -> Double { storage.reduce(0.0) { $0 + Double($1) * Double($1) } }

  // MARK: Elementwise

  public static func + (a: Matrix, b: Matrix) -> Matrix {
    precondition(a.rows == b.rows && a.cols == b.cols, "shape mismatch")
    var c = a
    c.add(b)
    return c
  }

  public static func - (a: Matrix, b: Matrix) -> Matrix {
    precondition(a.rows == b.rows && a.cols == b.cols, "shape mismatch")
    var c = a
    c.add(b, scale: -1)
    return c
  }

  public static func * (s: Float, a: Matrix) -> Matrix {
    var c = a
    c.scale(by: s)
    return c
  }

  /// `self += scale · other`.
  public mutating func add(_ other: Matrix, scale: Float = 1) {
    precondition(rows == other.rows && cols == other.cols, "shape mismatch")
    let n = count
    other.storage.withUnsafeBufferPointer { x in
      storage.withUnsafeMutableBufferPointer { y in
        Kernels.axpy(count: n, alpha: scale, x: x.baseAddress!, y: y.baseAddress!)
      }
    }
  }

  /// `self *= other` elementwise.
  public mutating func multiply(_ other: Matrix) {
    precondition(rows == other.rows && cols == other.cols, "shape mismatch")
    let n = count
    other.storage.withUnsafeBufferPointer { x in
      storage.withUnsafeMutableBufferPointer { y in
        Kernels.mul(count: n, y.baseAddress!, x.baseAddress!, into: y.baseAddress!)
      }
    }
  }

  public mutating func scale(by s: Float) {
    let n = count
    storage.withUnsafeMutableBufferPointer { Kernels.scale(count: n, $0.baseAddress!, by: s) }
  }

  /// Applies `f` to every element (not for hot paths; use `Kernels`/`VectorMath` there).
  public func map(_ f: (Float) -> Float) -> Matrix { Matrix(rows: rows, cols: cols, storage: storage.map(f)) }
}

import Testing
import NumericCore

/// GEMM through the system BLAS against a naive Double triple loop, at odd shapes and all transposes.
@Suite struct GEMMTests {
  static let sizes = [1, 3, 17, 129, 257]

  func naive(_ a: Matrix, _ ta: Bool, _ b: Matrix, _ tb: Bool, alpha: Double, beta: Double, c: Matrix) -> [Double] {
    let m = ta ? a.cols : a.rows
    let k = ta ? a.rows : a.cols
    let n = tb ? b.rows : b.cols
    var out = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k {
          let av = Double(ta ? a[p, i] : a[i, p])
          let bv = Double(tb ? b[j, p] : b[p, j])
          s += av * bv
        }
        out[i * n + j] = alpha * s + beta * Double(c[i, j])
      }
    }
    return out
  }

  @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
  func allTransposesAtOddShapes(ta: Bool, tb: Bool) {
    var rng = Xoshiro(seed: 7)
    for m in Self.sizes {
      for (n, k) in [(Self.sizes[(m * 7) % 5], Self.sizes[(m * 3) % 5]), (m, 17), (3, m)] {
        let a = ta ? rng.normalMatrix(rows: k, cols: m) : rng.normalMatrix(rows: m, cols: k)
        let b = tb ? rng.normalMatrix(rows: n, cols: k) : rng.normalMatrix(rows: k, cols: n)
        var c = rng.normalMatrix(rows: m, cols: n)
        let expected = naive(a, ta, b, tb, alpha: 0.7, beta: 0.3, c: c)
        Matrix.gemm(a, transposeA: ta, b, transposeB: tb, alpha: 0.7, beta: 0.3, into: &c)
        var maxErr = 0.0
        for i in 0..<expected.count {
          let tol = 1e-5 * Double(k).squareRoot() * 4 + 1e-5
          maxErr = max(maxErr, abs(Double(c.storage[i]) - expected[i]) / tol)
        }
        #expect(maxErr <= 1, "m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb)")
      }
    }
  }

  @Test func betaZeroIgnoresGarbageInC() {
    var rng = Xoshiro(seed: 1)
    let a = rng.normalMatrix(rows: 5, cols: 4)
    let b = rng.normalMatrix(rows: 4, cols: 6)
    var c = Matrix(rows: 5, cols: 6, repeating: .nan)
    Matrix.gemm(a, b, into: &c)
    #expect(c.allFinite)
  }

  @Test func matmulMatchesIdentity() {
    var rng = Xoshiro(seed: 2)
    let a = rng.normalMatrix(rows: 9, cols: 9)
    #expect(Matrix.matmul(a, Matrix.identity(9)) == a)
    #expect(Matrix.matmul(a, transposeA: true, Matrix.identity(9)) == a.transposed)
  }

  @Test func broadcastsAndReductions() {
    var m = Matrix([[1, 2, 3], [4, 5, 6]])
    m.addRowVector([1, 1, 1])
    #expect(m == Matrix([[2, 3, 4], [5, 6, 7]]))
    #expect(m.columnSums() == [7, 9, 11])
    #expect(m.rowSums() == [9, 18])
    m.scaleRows([1, 2])
    #expect(m == Matrix([[2, 3, 4], [10, 12, 14]]))
    m.multiplyRowVector([1, 0, 2])
    #expect(m == Matrix([[2, 0, 8], [10, 0, 28]]))
    let (mean, variance) = Matrix([[1, 2], [3, 6]]).columnMeanVariance()
    #expect(mean == [2, 4])
    #expect(variance == [1, 4])
    #expect(Matrix([[1, 2], [3, 4]]).transposed == Matrix([[1, 3], [2, 4]]))
    #expect(Matrix.hstack([Matrix([[1], [2]]), Matrix([[3], [4]])]) == Matrix([[1, 3], [2, 4]]))
    #expect(Matrix.vstack([Matrix([[1, 2]]), Matrix([[3, 4]])]) == Matrix([[1, 2], [3, 4]]))
    #expect(Matrix([[1, 2], [3, 4], [5, 6]]).gatherRows([2, 0]) == Matrix([[5, 6], [1, 2]]))
  }

  @Test func elementwiseKernelsMatchScalarLoops() {
    var rng = Xoshiro(seed: 3)
    for n in [0, 1, 7, 8, 9, 100] {
      let x = (0..<n).map { _ in Float(rng.nextNormal()) }
      let y = (0..<n).map { _ in Float(rng.nextNormal()) }
      var z = [Float](repeating: 0, count: n)
      x.withUnsafeBufferPointer { px in
        y.withUnsafeBufferPointer { py in
          z.withUnsafeMutableBufferPointer { pz in
            guard n > 0 else { return }
            Kernels.add(count: n, px.baseAddress!, py.baseAddress!, into: pz.baseAddress!)
          }
        }
      }
      #expect(z == zip(x, y).map { $0 + $1 })
      var w = y
      w.withUnsafeMutableBufferPointer { pw in
        x.withUnsafeBufferPointer { px in
          guard n > 0 else { return }
          Kernels.axpy(count: n, alpha: 2, x: px.baseAddress!, y: pw.baseAddress!)
          Kernels.clamp(count: n, UnsafePointer(pw.baseAddress!), lower: -1, upper: 1, into: pw.baseAddress!)
        }
      }
      #expect(w == zip(x, y).map { min(max($1 + 2 * $0, -1), 1) })
      let s = x.withUnsafeBufferPointer { n > 0 ? Kernels.sum(count: n, $0.baseAddress!) : 0 }
      #expect(abs(Double(s) - x.reduce(0.0) { $0 + Double($1) }) < 1e-4)
    }
  }
}

/// The OpenBLAS core type chosen for an unrecognized CPU from its flags (`BLAS.preferredCoreType`).
@Suite struct CoreTypeChoiceTests {
  @Test func widestKernelsTheFlagsAllow() {
    let avx2: Set<String> = ["sse4_2", "avx", "avx2", "fma"]
    #expect(BLAS.preferredCoreType(flags: avx2) == "Haswell")
    #expect(BLAS.preferredCoreType(flags: avx2.union(["avx512f", "avx512dq", "avx512bw", "avx512vl"])) == "SkylakeX")
    // AVX-512 F alone (Knights Landing) lacks the subsets the SkylakeX kernels use.
    #expect(BLAS.preferredCoreType(flags: avx2.union(["avx512f"])) == "Haswell")
    #expect(BLAS.preferredCoreType(flags: ["sse4_2", "avx"]) == nil)
  }
}

/// The unpacked small-product kernels (`BLAS.isSmallProduct`, Sources/CKernels/SmallGEMM.c) against the reference
/// triple loop at every row count they take, with row, column and depth tails, strides wider than the rows, α ≠ 1
/// and β ∈ {0, 1, 0.5} (β = 0 must ignore NaN in C). Where the processor lacks AVX-512 the same products go to
/// the BLAS, which is then what this checks.
@Suite struct SmallProductTests {
  @Test(arguments: [false, true])
  func matchesTheReferenceAtEveryRowCount(transB: Bool) {
    var rng = Xoshiro(seed: 23)
    for m in [1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 31, 32] {
      for (n, k) in [(256, 256), (70, 33), (5, 300), (17, 16), (64, 1), (1, 64)] {
        #expect(BLAS.isSmallProduct(transA: false, transB: transB, m: m, n: n, k: k))
        let lda = k + 3, ldb = (transB ? k : n) + 5, ldc = n + 2
        let a = (0..<(m * lda)).map { _ in Float(rng.nextNormal()) }
        let b = (0..<((transB ? n : k) * ldb)).map { _ in Float(rng.nextNormal()) }
        let c0 = (0..<(m * ldc)).map { _ in Float(rng.nextNormal()) }
        for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (0.7, 0.5)] {
          var c = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : c0
          var expected = c0
          a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
              c.withUnsafeMutableBufferPointer { cp in
                BLAS.sgemm(transA: false, transB: transB, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!,
                           lda: lda, b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: ldc)
              }
              expected.withUnsafeMutableBufferPointer { ep in
                BLAS.referenceSgemm(transA: false, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                    a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb, beta: beta,
                                    c: ep.baseAddress!, ldc: ldc)
              }
            }
          }
          var worst: Float = 0
          for i in 0..<m {
            for j in 0..<n {
              worst = max(worst, abs(c[i * ldc + j] - expected[i * ldc + j]) / (1e-5 * Float(k).squareRoot() * 4 + 1e-5))
            }
            // The padding between rows is never written.
            for j in n..<ldc where beta != 0 { #expect(c[i * ldc + j] == c0[i * ldc + j]) }
          }
          #expect(worst <= 1, "m \(m) n \(n) k \(k) transB \(transB) alpha \(alpha) beta \(beta)")
        }
      }
    }
  }

  @Test func largerProductsStayWithTheBLAS() {
    #expect(!BLAS.isSmallProduct(transA: false, transB: false, m: 33, n: 256, k: 256))
    #expect(!BLAS.isSmallProduct(transA: true, transB: false, m: 16, n: 256, k: 16))
    #expect(!BLAS.isSmallProduct(transA: false, transB: true, m: 16, n: 2048, k: 1024))
  }

  @Test func turningTheKernelsOffGivesTheSameProduct() {
    var rng = Xoshiro(seed: 5)
    let a = rng.normalMatrix(rows: 16, cols: 256), b = rng.normalMatrix(rows: 256, cols: 256)
    var fast = Matrix(rows: 16, cols: 256), blas = Matrix(rows: 16, cols: 256)
    Matrix.gemm(a, b, into: &fast)
    BLAS.useSmallProductKernels = false
    defer { BLAS.useSmallProductKernels = true }
    Matrix.gemm(a, b, into: &blas)
    var worst: Float = 0
    for i in 0..<fast.storage.count { worst = max(worst, abs(fast.storage[i] - blas.storage[i])) }
    #expect(worst < 1e-4)
  }
}

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

// The one file that talks to the system BLAS: OpenBLAS on Linux, Accelerate on Apple platforms.
//
// Everything else in the package multiplies matrices through `BLAS.sgemm` (or the `Matrix` wrappers built on
// it), so swapping the backend touches only this file.

#if canImport(Accelerate)
  import Accelerate
#elseif canImport(COpenBLAS)
  import COpenBLAS
#endif
import Foundation

/// Single-precision GEMM and thread control over the system BLAS.
public enum BLAS {
  /// Row-major `C = alpha · op(A) · op(B) + beta · C`, where `op(A)` is `m×k` and `op(B)` is `k×n`.
  ///
  /// `lda`, `ldb`, `ldc` are the row strides of the matrices *as stored* (so for a transposed `A` stored as
  /// `k×m`, `lda ≥ m`). Pointers must not alias `c`.
  @inlinable
  public static func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    if m == 0 || n == 0 { return }
    if k == 0 {
      // BLAS leaves C untouched when k == 0 except for the beta scaling; do it ourselves for clarity.
      for i in 0..<m {
        let row = c + i * ldc
        if beta == 0 { row.update(repeating: 0, count: n) } else if beta != 1 {
          for j in 0..<n { row[j] *= beta }
        }
      }
      return
    }
    _sgemm(
      transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
      beta: beta, c: c, ldc: ldc)
  }

  @usableFromInline
  static func _sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    #if canImport(Accelerate) || canImport(COpenBLAS)
      cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    #else
      referenceSgemm(
        transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
        beta: beta, c: c, ldc: ldc)
    #endif
  }

  /// `y = alpha · x + y` over `n` contiguous floats (BLAS saxpy).
  public static func saxpy(n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    #if canImport(Accelerate) || canImport(COpenBLAS)
      cblas_saxpy(blasInt(n), alpha, x, 1, y, 1)
    #else
      for i in 0..<n { y[i] += alpha * x[i] }
    #endif
  }

  #if canImport(Accelerate)
    @usableFromInline typealias BLASInt = Int32
  #elseif canImport(COpenBLAS)
    @usableFromInline typealias BLASInt = Int32
  #else
    @usableFromInline typealias BLASInt = Int
  #endif

  @usableFromInline @inline(__always)
  static func blasInt(_ v: Int) -> BLASInt {
    precondition(v <= Int(Int32.max), "BLAS dimension \(v) exceeds 32-bit range")
    return BLASInt(v)
  }

  /// Number of threads the BLAS uses for one call. Setting it is cheap and can be done at any time.
  ///
  /// On Apple platforms Accelerate manages its own threads and this is a no-op returning the core count.
  public static var threads: Int {
    get {
      #if canImport(COpenBLAS) && !canImport(Accelerate)
        return Int(openblas_get_num_threads())
      #else
        return ProcessInfo.processInfo.activeProcessorCount
      #endif
    }
    set {
      #if canImport(COpenBLAS) && !canImport(Accelerate)
        openblas_set_num_threads(Int32(max(1, newValue)))
      #endif
    }
  }

  /// Makes sure OpenBLAS runs its AVX2/FMA kernels where the CPU has them: OpenBLAS chooses its kernels from the
  /// CPU model when the library loads, and on models it does not know (common in virtual machines) it falls back
  /// to its SSE3 "Prescott" kernels, which run the network's matrix products 2–3× slower. When that happened on a
  /// CPU with AVX2 and FMA and `OPENBLAS_CORETYPE` is not set, this re-executes the program with
  /// `OPENBLAS_CORETYPE=Haswell` (same arguments and environment otherwise) and does not return; in every other
  /// case (including a failed re-execution) it returns and nothing changes. Call it first thing in `main`.
  public static func ensureFastKernels() {
    #if os(Linux) && canImport(COpenBLAS)
      guard getenv("OPENBLAS_CORETYPE") == nil, let name = openblas_get_corename(),
            String(cString: name).lowercased() == "prescott",
            let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
      else { return }
      let set = Set(flags.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }))
      guard set.contains("avx2"), set.contains("fma") else { return }
      setenv("OPENBLAS_CORETYPE", "Haswell", 1)
      execv("/proc/self/exe", CommandLine.unsafeArgv)
      unsetenv("OPENBLAS_CORETYPE")  // only reached when execv failed
    #endif
  }

  /// A short description of the backend, for benchmark and `--version` output.
  public static var backendDescription: String {
    #if canImport(Accelerate)
      return "Accelerate"
    #elseif canImport(COpenBLAS)
      if let cfg = openblas_get_config() { return String(cString: cfg) }
      return "OpenBLAS"
    #else
      return "reference (no BLAS)"
    #endif
  }

  /// Straightforward triple loop used when no BLAS is available and as a cross-check in tests.
  public static func referenceSgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    for i in 0..<m {
      for j in 0..<n {
        var s: Double = 0
        for p in 0..<k {
          let av = transA ? a[p * lda + i] : a[i * lda + p]
          let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
          s += Double(av) * Double(bv)
        }
        let old = beta == 0 ? 0 : beta * c[i * ldc + j]
        c[i * ldc + j] = alpha * Float(s) + old
      }
    }
  }
}

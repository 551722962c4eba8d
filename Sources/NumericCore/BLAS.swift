// The one file that talks to the system BLAS: OpenBLAS on Linux, Accelerate on Apple platforms.
//
// Everything else in the package multiplies matrices through `BLAS.sgemm` (or the `Matrix` wrappers built on
// it), so swapping the backend touches only this file.

#if canImport(Accelerate)
  import Accelerate
#elseif canImport(COpenBLAS)
  import COpenBLAS
#endif
import CKernels
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
    if useSmallProductKernels, isSmallProduct(transA: transA, transB: transB, m: m, n: n, k: k),
       dsk_small_sgemm(transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) != 0 {
      return
    }
    _sgemm(
      transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
      beta: beta, c: c, ldc: ldc)
  }

  /// Whether products with few rows go to the unpacked AVX-512 kernels (Sources/CKernels/SmallGEMM.c) where the
  /// processor has AVX-512 (default true; false sends every product to the system BLAS, for comparisons).
  nonisolated(unsafe) public static var useSmallProductKernels = true

  /// The most rows (m) a product sent to the small-product kernels has. Measured on the AVX-512 benchmark machine
  /// against OpenBLAS's SkylakeX kernels, 256×256 weights, one thread, weights in and out of cache
  /// (Documentation/Numerics.md §2): 16 rows, `A·B` 19–27 against 27–34 µs, `A·Bᵀ` 26–32 against 38–42 µs; 32 rows
  /// about equal for `A·B` and 40 against 54 µs for `A·Bᵀ`; 64 rows slower than OpenBLAS. `Aᵀ·B` (the weight
  /// gradient, whose packed operands are the small ones) stays with OpenBLAS, which was faster there.
  public static let smallProductRows = 32

  /// The products `sgemm` sends to the small-product kernels: `A` not transposed, at most `smallProductRows` rows,
  /// and `op(B)` at most 2²⁰ elements (it stays in cache while the row tiles stream over it).
  @inlinable
  public static func isSmallProduct(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> Bool {
    !transA && m <= smallProductRows && n * k <= 1 << 20
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

  /// Makes sure OpenBLAS runs the widest kernels the CPU has: OpenBLAS chooses its kernels from the CPU model when
  /// the library loads, and on models it does not know (common in virtual machines) it falls back to its SSE3
  /// "Prescott" kernels, which run the network's matrix products 2–5× slower. When that happened and
  /// `OPENBLAS_CORETYPE` is not set, this re-executes the program with `OPENBLAS_CORETYPE` set to
  /// `preferredCoreType(flags:)` of the CPU's /proc/cpuinfo flags (same arguments and environment otherwise) and
  /// does not return; in every other case (including a failed re-execution, or a CPU without AVX2 and FMA) it
  /// returns and nothing changes. Call it first thing in `main`.
  public static func ensureFastKernels() {
    #if os(Linux) && canImport(COpenBLAS)
      guard getenv("OPENBLAS_CORETYPE") == nil, let name = openblas_get_corename(),
            String(cString: name).lowercased() == "prescott",
            let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
      else { return }
      let set = Set(flags.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
      guard let core = preferredCoreType(flags: set) else { return }
      setenv("OPENBLAS_CORETYPE", core, 1)
      execv("/proc/self/exe", CommandLine.unsafeArgv)
      unsetenv("OPENBLAS_CORETYPE")  // only reached when execv failed
    #endif
  }

  /// The OpenBLAS core type for a CPU with these /proc/cpuinfo flags: "SkylakeX" (AVX-512 kernels) when it has
  /// AVX-512 F, DQ, BW and VL, "Haswell" (AVX2 kernels) when it has AVX2 and FMA, nil otherwise. On the
  /// 2026-12 benchmark machine's AVX-512 Xeon the SkylakeX kernels multiply at about 150 GFLOP/s on one core against
  /// about 80 for the Haswell ones (Documentation/Numerics.md §2).
  public static func preferredCoreType(flags: Set<String>) -> String? {
    guard flags.contains("avx2"), flags.contains("fma") else { return nil }
    if ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
    return "Haswell"
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

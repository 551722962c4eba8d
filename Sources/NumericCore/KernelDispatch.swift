// Which variant of the C kernels (Sources/CKernels) runs: the AVX2+FMA one, chosen at run time on processors
// that have AVX2 and FMA, or the portable one compiled for the baseline target.

import CKernels

/// The run-time choice between the AVX2+FMA kernels and the portable ones (Documentation/Numerics.md §6).
///
/// The choice is made at the first kernel call: AVX2+FMA where the processor and the operating system support
/// them, unless the environment variable `DIFFSBI_PORTABLE_KERNELS` is set (to anything but `0`). Both variants
/// give the same results; forcing the portable one is for tests and comparisons.
public enum KernelDispatch {
  /// Whether the AVX2+FMA kernels run now.
  public static var usesAVX2: Bool { dsk_uses_avx2() != 0 }

  /// Whether this processor could run the AVX2+FMA kernels.
  public static var avx2Available: Bool { dsk_avx2_available() != 0 }
  /// Whether the processor has the AVX-512 subsets of the small-product GEMM kernels (`BLAS.isSmallProduct`).
  public static var avx512Available: Bool { dsk_avx512_available() != 0 }

  /// Forces the portable kernels for the whole process (`true`), or returns to the automatic choice (`false`).
  /// Not meant to be flipped while other threads run kernels: a pass may then mix the two (equal) variants.
  public static func forcePortable(_ on: Bool) { dsk_set_portable(on ? 1 : 0) }
}

// The one file that talks to an FFT library: FFTW 3 in single precision on Linux (CFFTW), vDSP on Apple
// platforms. The Gaussian random field simulator (GaussianRandomField.swift) is its only caller, through `FFT2D`.
//
// The Linux path is the tested one. The Apple path (vDSP's 2-D split-complex FFT, power-of-two sizes only) is
// written against Accelerate's documented interface but is not built or tested by this project's CI.

#if canImport(Accelerate)
  import Accelerate
#elseif canImport(CFFTW)
  import CFFTW
#endif
import Foundation

/// Square 2-D discrete Fourier transforms of n × n complex arrays, row-major, interleaved (re, im) Float pairs,
/// unnormalized:
///
///     forward:  Z[u, v] = Σ_{x,y} z[x, y] · exp(−2πi (u·x + v·y)/n)
///     inverse:  z[x, y] = Σ_{u,v} Z[u, v] · exp(+2πi (u·x + v·y)/n)
///
/// so that `inverse(forward(z)) = n²·z` (numpy's `ifft2` is `inverse` divided by n²). Transforms run in place and
/// may be called from several threads at once: plans are created once per size and direction under a lock (FFTW's
/// planner is not thread-safe), and executing a plan on other arrays is.
enum FFT2D {
  /// In-place forward transform of `data` (2n² floats).
  static func forward(n: Int, _ data: UnsafeMutablePointer<Float>) { transform(n: n, data, inverse: false) }

  /// In-place inverse transform (without the 1/n² factor) of `data` (2n² floats).
  static func inverse(n: Int, _ data: UnsafeMutablePointer<Float>) { transform(n: n, data, inverse: true) }

  /// Whether the backend can transform n × n arrays (FFTW: every n ≥ 1; vDSP: powers of two).
  static func supports(_ n: Int) -> Bool {
    #if canImport(Accelerate)
      return n >= 1 && n & (n - 1) == 0
    #else
      return n >= 1
    #endif
  }

  private static let lock = NSLock()

  #if canImport(Accelerate)
    /// vDSP FFT setups by log₂ n; a setup serves every size up to its own and may be shared across threads.
    nonisolated(unsafe) private static var setups: [Int: FFTSetup] = [:]

    private static func setup(log2n: Int) -> FFTSetup {
      lock.lock()
      defer { lock.unlock() }
      if let s = setups[log2n] { return s }
      guard let s = vDSP_create_fftsetup(vDSP_Length(log2n), FFTRadix(kFFTRadix2)) else {
        fatalError("vDSP_create_fftsetup failed for n = 2^\(log2n)")
      }
      setups[log2n] = s
      return s
    }

    private static func transform(n: Int, _ data: UnsafeMutablePointer<Float>, inverse: Bool) {
      precondition(supports(n), "vDSP's 2-D FFT needs a power-of-two size, got \(n)")
      let log2n = n.trailingZeroBitCount, count = n * n
      let re = UnsafeMutablePointer<Float>.allocate(capacity: count), im = UnsafeMutablePointer<Float>.allocate(capacity: count)
      defer {
        re.deallocate()
        im.deallocate()
      }
      var split = DSPSplitComplex(realp: re, imagp: im)
      data.withMemoryRebound(to: DSPComplex.self, capacity: count) { c in
        vDSP_ctoz(c, 2, &split, 1, vDSP_Length(count))
        vDSP_fft2d_zip(
          setup(log2n: log2n), &split, 1, 0, vDSP_Length(log2n), vDSP_Length(log2n),
          FFTDirection(inverse ? FFT_INVERSE : FFT_FORWARD))
        vDSP_ztoc(&split, 1, c, 2, vDSP_Length(count))
      }
    }
  #elseif canImport(CFFTW)
    /// FFTW plans by (n, direction), kept for the life of the process.
    nonisolated(unsafe) private static var plans: [Int: OpaquePointer] = [:]

    private static func plan(n: Int, inverse: Bool) -> OpaquePointer {
      lock.lock()
      defer { lock.unlock() }
      let key = 2 * n + (inverse ? 1 : 0)
      if let p = plans[key] { return p }
      // FFTW_ESTIMATE plans without running transforms; FFTW_UNALIGNED lets the plan run on arrays of any
      // alignment (the callers' buffers come from Swift's allocator, not fftwf_malloc).
      let scratch = UnsafeMutablePointer<fftwf_complex>.allocate(capacity: n * n)
      defer { scratch.deallocate() }
      guard
        let p = fftwf_plan_dft_2d(
          Int32(n), Int32(n), scratch, scratch, inverse ? FFTW_BACKWARD : FFTW_FORWARD,
          UInt32(FFTW_ESTIMATE) | UInt32(FFTW_UNALIGNED))
      else { fatalError("FFTW could not plan an \(n) × \(n) transform") }
      plans[key] = p
      return p
    }

    private static func transform(n: Int, _ data: UnsafeMutablePointer<Float>, inverse: Bool) {
      precondition(n >= 1, "FFT size must be positive")
      let p = plan(n: n, inverse: inverse)
      data.withMemoryRebound(to: fftwf_complex.self, capacity: n * n) { c in fftwf_execute_dft(p, c, c) }
    }
  #else
    private static func transform(n: Int, _ data: UnsafeMutablePointer<Float>, inverse: Bool) {
      fatalError("no FFT library: install FFTW 3 (Debian: libfftw3-dev, see scripts/install-deps.sh)")
    }
  #endif
}

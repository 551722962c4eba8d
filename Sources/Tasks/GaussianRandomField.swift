// The review's Gaussian random field tasks grf_8 … grf_256 (Documentation/Methods.md §11.5): a field with a
// power-law spectrum drawn by one inverse 2-D FFT of white noise (FFT.swift), θ = (log_std, α).

import Foundation
import NumericCore

/// Gaussian random fields on an S × S grid (S even), the algorithm of the FyeldGenerator package used by the
/// review's third case study. With d = 1/(|α| + 10⁻⁷) and numpy's FFT frequency order
/// m ∈ (0, 1, …, S/2 − 1, −S/2, …, −1), f_m = m/(S·d):
///
///     |k|[u, v] = √(f_u² + f_v²),   A[u, v] = e^{log_std}·|k|^{−α/2}  (A[0, 0] = 0)
///     ξ = a + i·b,  a, b ~ N(0, 1) iid on the full S × S grid (a drawn first, then b; no Hermitian symmetry)
///     F[x, y] = Re( (1/S²) Σ_{u,v} ξ[u, v]·A[u, v]·exp(+2πi (u·x + v·y)/S) )
///
/// Every field has spatial mean 0 (the DC amplitude is 0), and the ensemble pixel variance is
/// Var F = (1/S⁴) Σ_{(u,v)≠0} A[u, v]² (`pixelVariance`). θ = (log_std, α) with log_std ~ N(0, 0.3²) and
/// α ~ N(3, 0.5²), independent and unconstrained. x is the field, row-major, `dataShape` [S, S].
///
/// The amplitudes are computed in Double, the transform in Float (FFTW on Linux, vDSP on Apple platforms).
public struct GaussianRandomFieldTask: SimulationTask {
  /// S, the side of the square grid.
  public let size: Int
  public var name: String { "grf_\(size)" }
  public let parameterDimension = 2
  public var dataDimension: Int { size * size }
  public var dataShape: [Int] { [size, size] }
  /// (log_std, α) ~ N((0, 3), diag(0.3², 0.5²)).
  public let gaussianPrior = GaussianPrior(mean: [0, 3], standardDeviation: [0.3, 0.5])
  public var prior: any Prior { gaussianPrior }

  /// The registered sizes.
  public static let sizes = [8, 16, 32, 64, 128, 256]

  /// A task on an S × S grid; S must be even and positive (and a power of two on Apple platforms).
  public init(size: Int) {
    precondition(size >= 2 && size % 2 == 0, "the grid side must be even and positive, got \(size)")
    precondition(FFT2D.supports(size), "the FFT backend cannot transform \(size) × \(size) grids")
    self.size = size
  }

  /// The 1-D frequencies f_m in numpy's `fftfreq` order for a given α.
  public func frequencies(alpha: Double) -> [Double] {
    let s = size, unit = 1 / (abs(alpha) + 1e-7)
    let step = 1 / (Double(s) * unit)
    return (0..<s).map { i in Double(i < s / 2 ? i : i - s) * step }
  }

  /// The amplitude A[u, v] = e^{log_std}·|k|^{−α/2} on the full grid, row-major, with A[0, 0] = 0.
  public func amplitude(logStd: Double, alpha: Double) -> [Double] {
    let f = frequencies(alpha: alpha), scale = Foundation.exp(logStd), s = size
    var a = [Double](repeating: 0, count: s * s)
    for u in 0..<s {
      for v in 0..<s where u != 0 || v != 0 {
        let k = (f[u] * f[u] + f[v] * f[v]).squareRoot()
        a[u * s + v] = scale * Foundation.pow(k, -alpha / 2)
      }
    }
    return a
  }

  /// The ensemble pixel variance (1/S⁴) Σ_{(u,v)≠0} A[u, v]².
  public func pixelVariance(logStd: Double, alpha: Double) -> Double {
    let s2 = Double(size * size)
    return amplitude(logStd: logStd, alpha: alpha).reduce(0) { $0 + $1 * $1 } / (s2 * s2)
  }

  /// The field for given white noise ξ = a + i·b (`noiseReal` = a, `noiseImaginary` = b, each S × S row-major).
  public func field(logStd: Double, alpha: Double, noiseReal: [Double], noiseImaginary: [Double]) -> [Float] {
    precondition(noiseReal.count == dataDimension && noiseImaginary.count == dataDimension, "noise must be S × S")
    var out = [Float](repeating: 0, count: dataDimension)
    var work = [Float](repeating: 0, count: 2 * dataDimension)
    out.withUnsafeMutableBufferPointer { o in
      work.withUnsafeMutableBufferPointer { w in
        synthesize(
          amplitude: amplitude(logStd: logStd, alpha: alpha), real: { noiseReal[$0] }, imaginary: { noiseImaginary[$0] },
          work: w.baseAddress!, into: o.baseAddress!)
      }
    }
    return out
  }

  /// Fills `work` (2S² floats, interleaved) with ξ ⊙ A, transforms it and writes Re(·)/S² to `out` (S² floats).
  private func synthesize(
    amplitude a: [Double], real: (Int) -> Double, imaginary: (Int) -> Double, work: UnsafeMutablePointer<Float>,
    into out: UnsafeMutablePointer<Float>
  ) {
    let count = dataDimension
    for i in 0..<count {
      work[2 * i] = Float(real(i) * a[i])
      work[2 * i + 1] = Float(imaginary(i) * a[i])
    }
    FFT2D.inverse(n: size, work)
    let norm = 1 / Float(count)
    for i in 0..<count { out[i] = work[2 * i] * norm }
  }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    let count = dataDimension
    // Blocks of 16 rows: a 256 × 256 field takes milliseconds, so smaller blocks than the default keep both
    // threads busy on small batches; the output depends only on the seed and this block size.
    return blockedRowMap(rows: parameters.rows, outputColumns: count, seed: seed, blockSize: 16) { rng, r, out in
      let a = amplitude(logStd: Double(parameters[r, 0]), alpha: Double(parameters[r, 1]))
      var noise = [Double](repeating: 0, count: 2 * count)
      for i in 0..<(2 * count) { noise[i] = rng.nextNormal() }
      var work = [Float](repeating: 0, count: 2 * count)
      work.withUnsafeMutableBufferPointer { w in
        synthesize(
          amplitude: a, real: { noise[$0] }, imaginary: { noise[count + $0] }, work: w.baseAddress!,
          into: out.baseAddress!)
      }
    }
  }
}

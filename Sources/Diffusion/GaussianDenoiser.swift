// The exact denoiser of a Gaussian target, the closed-form oracle for schedules, losses and samplers.

import Foundation
import NumericCore

/// For θ ~ N(μ, Σ) and z_t = α θ + σ ε, the posterior mean is
///
///     x̂(z, t) = E[θ | z_t] = μ + α Σ (α² Σ + σ² I)⁻¹ (z − α μ),
///
/// so the score of the marginal N(α μ, α² Σ + σ² I) is s = (α x̂ − z)/σ². Exact at every t.
public struct GaussianDenoiser: Sendable {
  public let mean: [Double]
  public let covariance: DMatrix
  public let schedule: any NoiseSchedule

  public init(mean: [Double], covariance: DMatrix, schedule: any NoiseSchedule) throws {
    guard covariance.rows == mean.count, covariance.cols == mean.count else {
      throw DiffusionError.shapeMismatch("mean has \(mean.count) entries, covariance is \(covariance.rows)×\(covariance.cols)")
    }
    _ = try covariance.cholesky()
    self.mean = mean
    self.covariance = covariance
    self.schedule = schedule
  }

  /// The gain M = α Σ (α² Σ + σ² I)⁻¹ at (α, σ).
  func gain(alpha: Double, sigma: Double) -> Matrix {
    let d = mean.count
    var s = covariance
    for i in 0..<d * d { s.values[i] *= alpha * alpha }
    for i in 0..<d { s[i, i] += sigma * sigma }
    let inv = (try? s.inverseSPD()) ?? DMatrix.identity(d, scale: 1 / (sigma * sigma))
    let m = covariance * inv
    return Matrix(rows: d, cols: d, doubles: m.values.map { $0 * alpha })
  }

  /// x̂ for a batch z [B, d] at time t (a direct loop: for d ≤ ~32 it is faster than a GEMM with k = n = d).
  public func denoise(_ z: Matrix, _ t: Double) -> Matrix {
    let (a, s) = schedule.alphaSigma(t)
    let m = gain(alpha: a, sigma: s)
    let d = mean.count
    precondition(z.cols == d, "denoiser of dimension \(d) called with \(z.cols) columns")
    let mu = mean.map(Float.init)
    let shift = mean.map { Float(a * $0) }
    var out = Matrix(rows: z.rows, cols: d)
    let rows = z.rows
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 3 * d)
    defer { buffer.deallocate() }
    let (centred, pmu, pshift) = (buffer, buffer + d, buffer + 2 * d)
    for k in 0..<d {
      pmu[k] = mu[k]
      pshift[k] = shift[k]
    }
    z.withUnsafeBufferPointer { zb in
      m.withUnsafeBufferPointer { mb in
        out.withUnsafeMutableBufferPointer { ob in
          let (pz, pm, po) = (zb.baseAddress!, mb.baseAddress!, ob.baseAddress!)
          for r in 0..<rows {
            for k in 0..<d { centred[k] = pz[r * d + k] - pshift[k] }
            for j in 0..<d {
              var acc = pmu[j]
              for k in 0..<d { acc += pm[j * d + k] * centred[k] }
              po[r * d + j] = acc
            }
          }
        }
      }
    }
    return out
  }

  /// The denoiser as a closure.
  public var denoiser: Denoiser { { z, t in self.denoise(z, t) } }

  /// log N(x; μ, Σ) per row.
  public func logDensity(_ x: Matrix) throws -> [Double] {
    let l = try covariance.cholesky()
    let d = mean.count
    var logDet = 0.0
    for i in 0..<d { logDet += 2 * log(l[i, i]) }
    return (0..<x.rows).map { r in
      let diff = (0..<d).map { Double(x[r, $0]) - mean[$0] }
      let y = l.solveLower(diff)
      return -0.5 * y.reduce(0) { $0 + $1 * $1 } - 0.5 * logDet - 0.5 * Double(d) * log(2 * Double.pi)
    }
  }
}

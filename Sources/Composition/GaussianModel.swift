// The conjugate Gaussian model with i.i.d. observations: the exact oracle for composition, guidance and prior
// adaptation tests and for the composition ablation.

import Foundation
import NumericCore
import Diffusion

/// θ ~ N(μ₀, Σ₀), y_j | θ ~ N(θ, Σ_y) i.i.d., j = 1…J (all d-dimensional).
///
/// Single-observation posterior: Λ₁ = Σ₀⁻¹ + Σ_y⁻¹, m_j = Λ₁⁻¹(Σ₀⁻¹μ₀ + Σ_y⁻¹y_j).
/// Full posterior: Λ_J = Σ₀⁻¹ + JΣ_y⁻¹, m = Λ_J⁻¹(Σ₀⁻¹μ₀ + Σ_y⁻¹Σ_j y_j).
public struct GaussianIIDModel: Sendable {
  public let priorMean: [Double]
  public let priorCovariance: DMatrix
  public let noiseCovariance: DMatrix
  let priorPrecision: DMatrix
  let noisePrecision: DMatrix

  public init(priorMean: [Double], priorCovariance: DMatrix, noiseCovariance: DMatrix) throws {
    guard let pp = try? priorCovariance.inverseSPD(), let np = try? noiseCovariance.inverseSPD() else {
      throw CompositionError.notPositiveDefinite("Gaussian model covariances")
    }
    self.priorMean = priorMean
    self.priorCovariance = priorCovariance
    self.noiseCovariance = noiseCovariance
    priorPrecision = pp
    noisePrecision = np
  }

  public var dimension: Int { priorMean.count }

  /// J observations y_j = θ + ε_j.
  public func simulate(theta: [Double], count: Int, rng: inout Xoshiro) -> Matrix {
    let l = try! noiseCovariance.cholesky()
    var y = Matrix(rows: count, cols: dimension)
    for r in 0..<count {
      let e = rng.nextMultivariateNormal(mean: theta, choleskyFactor: l)
      for c in 0..<dimension { y[r, c] = Float(e[c]) }
    }
    return y
  }

  /// The exact posterior given the rows of `observations` (all J of them).
  public func posterior(_ observations: Matrix) -> (mean: [Double], covariance: DMatrix) {
    let d = dimension
    var lam = priorPrecision
    for i in 0..<d * d { lam.values[i] += Double(observations.rows) * noisePrecision.values[i] }
    var sum = [Double](repeating: 0, count: d)
    for r in 0..<observations.rows { for c in 0..<d { sum[c] += Double(observations[r, c]) } }
    let cov = try! lam.inverseSPD()
    let b = zip(priorPrecision.multiply(priorMean), noisePrecision.multiply(sum)).map { $0 + $1 }
    return (cov.multiply(b), cov)
  }

  /// The exact per-observation denoiser in the standardized space u = (θ − shift)/scale: row r of z is
  /// denoised under the single-observation posterior of observation `observation[r]`.
  public func pairedDenoiser(observations y: Matrix, schedule: any NoiseSchedule, space: ParameterSpace? = nil)
    -> PairedDenoiser
  {
    let d = dimension
    let sp = space ?? ParameterSpace.identity(d)
    let means: [[Double]] = (0..<y.rows).map { j in
      let m = posterior(y.rows(j..<(j + 1))).mean
      return (0..<d).map { (m[$0] - sp.shift[$0]) / sp.scale[$0] }
    }
    var lam1 = priorPrecision
    for i in 0..<d * d { lam1.values[i] += noisePrecision.values[i] }
    var cov = try! lam1.inverseSPD()
    for i in 0..<d { for k in 0..<d { cov[i, k] /= sp.scale[i] * sp.scale[k] } }
    let covariance = cov
    return { z, obs, t in
      let (a, s) = schedule.alphaSigma(t)
      // gain G = α C (α² C + σ² I)⁻¹
      var m = covariance
      for i in 0..<d * d { m.values[i] *= a * a }
      for i in 0..<d { m[i, i] += s * s }
      let g = covariance * ((try? m.inverseSPD()) ?? DMatrix.identity(d))
      var out = Matrix(rows: z.rows, cols: d)
      var centred = [Double](repeating: 0, count: d)
      for r in 0..<z.rows {
        let mu = means[obs[r]]
        for k in 0..<d { centred[k] = Double(z[r, k]) - a * mu[k] }
        for i in 0..<d {
          var acc = mu[i]
          for k in 0..<d { acc += a * g.values[i * d + k] * centred[k] }
          out[r, i] = Float(acc)
        }
      }
      return out
    }
  }

  /// The single-observation posterior precision in the standardized space.
  public func singleObservationPrecision(space: ParameterSpace? = nil) -> DMatrix {
    let d = dimension
    let sp = space ?? ParameterSpace.identity(d)
    var lam1 = priorPrecision
    for i in 0..<d * d { lam1.values[i] += noisePrecision.values[i] }
    for i in 0..<d { for k in 0..<d { lam1[i, k] *= sp.scale[i] * sp.scale[k] } }
    return lam1
  }
}

/// Sample mean and covariance of the rows.
public func sampleMoments(_ x: Matrix) -> (mean: [Double], covariance: DMatrix) {
  let (n, d) = (x.rows, x.cols)
  var mean = [Double](repeating: 0, count: d)
  for r in 0..<n { for c in 0..<d { mean[c] += Double(x[r, c]) } }
  for c in 0..<d { mean[c] /= Double(max(n, 1)) }
  return (mean, sampleCovariance(x))
}

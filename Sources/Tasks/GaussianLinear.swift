// sbibm's gaussian_linear and gaussian_linear_uniform (Lueckmann et al. 2021, `sbibm/tasks/gaussian_linear*/task.py`),
// and the same model in 50 and 100 dimensions.

import Foundation
import NumericCore

/// Gaussian linear: θ ~ N(0, 0.1·I_d), x | θ ~ N(θ, 0.1·I_d) (0.1 is a variance in sbibm:
/// `precision_matrix = inv(0.1·I)`). Posterior: N(Σ_post Λ_x x, Σ_post), Σ_post = (Λ_θ + Λ_x)⁻¹ = 0.05·I, mean x/2.
public struct GaussianLinearTask: SimulationTask {
  public let name: String
  public let parameterDimension: Int
  public var dataDimension: Int { parameterDimension }
  /// Prior variance per coordinate (sbibm: 0.1).
  public let priorVariance: Double
  /// Simulator noise variance per coordinate (sbibm: 0.1).
  public let noiseVariance: Double
  public let prior: any Prior
  public var sbibmDataName: String? { parameterDimension == 10 ? "gaussian_linear" : nil }
  public var hasExactPosterior: Bool { true }

  /// The sbibm task for `dimension == 10`; other dimensions give `gaussian_linear_<dimension>`.
  public init(dimension: Int = 10, priorVariance: Double = 0.1, noiseVariance: Double = 0.1) {
    name = dimension == 10 ? "gaussian_linear" : "gaussian_linear_\(dimension)"
    parameterDimension = dimension
    self.priorVariance = priorVariance
    self.noiseVariance = noiseVariance
    prior = GaussianPrior(mean: [Double](repeating: 0, count: dimension),
                          standardDeviation: [Double](repeating: priorVariance.squareRoot(), count: dimension))
  }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    let s = noiseVariance.squareRoot()
    return blockedRowMap(rows: parameters.rows, outputColumns: dataDimension, seed: seed) { rng, r, out in
      for j in 0..<parameterDimension { out[j] = Float(Double(parameters[r, j]) + s * rng.nextNormal()) }
    }
  }

  /// Posterior mean and variance per coordinate: v = 1/(1/σ²_θ + 1/σ²_x), m = v·x/σ²_x.
  public func posteriorMoments(observation x: [Float]) -> (mean: [Double], variance: Double) {
    let v = 1 / (1 / priorVariance + 1 / noiseVariance)
    return (x.map { v * Double($0) / noiseVariance }, v)
  }

  public func samplePosterior(observation: [Float], count: Int, seed: UInt64) -> Matrix? {
    let (m, v) = posteriorMoments(observation: observation)
    let s = v.squareRoot()
    return blockedRowMap(rows: count, outputColumns: parameterDimension, seed: seed) { rng, _, out in
      for j in 0..<m.count { out[j] = Float(m[j] + s * rng.nextNormal()) }
    }
  }
}

/// Gaussian linear uniform: θ ~ U(−1, 1)^10, x | θ ~ N(θ, 0.1·I). The posterior is N(x, 0.1·I) truncated to the
/// box; its coordinates are independent truncated normals, drawn here by inverse-CDF sampling.
public struct GaussianLinearUniformTask: SimulationTask {
  public let name = "gaussian_linear_uniform"
  public let parameterDimension: Int
  public var dataDimension: Int { parameterDimension }
  public let noiseVariance: Double
  public let bound: Double
  public let prior: any Prior
  public var sbibmDataName: String? { name }
  public var hasExactPosterior: Bool { true }

  public init(dimension: Int = 10, bound: Double = 1, noiseVariance: Double = 0.1) {
    parameterDimension = dimension
    self.bound = bound
    self.noiseVariance = noiseVariance
    prior = BoxUniformPrior(dimension: dimension, bound: bound)
  }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    let s = noiseVariance.squareRoot()
    return blockedRowMap(rows: parameters.rows, outputColumns: dataDimension, seed: seed) { rng, r, out in
      for j in 0..<parameterDimension { out[j] = Float(Double(parameters[r, j]) + s * rng.nextNormal()) }
    }
  }

  public func samplePosterior(observation: [Float], count: Int, seed: UInt64) -> Matrix? {
    let s = noiseVariance.squareRoot()
    return blockedRowMap(rows: count, outputColumns: parameterDimension, seed: seed) { rng, _, out in
      for j in 0..<parameterDimension {
        let m = Double(observation[j])
        out[j] = Float(truncatedNormal(mean: m, std: s, lower: -bound, upper: bound, rng: &rng))
      }
    }
  }
}

/// A draw from N(mean, std²) truncated to [lower, upper], by inversion of the CDF on the side of the mean where the
/// tail probabilities keep their relative precision.
public func truncatedNormal(mean: Double, std: Double, lower: Double, upper: Double, rng: inout Xoshiro) -> Double {
  var a = (lower - mean) / std
  var b = (upper - mean) / std
  // Work in the lower tail (a, b ≤ something) by mirroring, so that Φ values are small and precise.
  let mirrored = a > 0
  if mirrored { (a, b) = (-b, -a) }
  let pa = Special.normalCDF(a), pb = Special.normalCDF(b)
  let u = pa + (pb - pa) * rng.nextOpenDouble()
  var z = Special.normalQuantile(min(max(u, Double.leastNormalMagnitude), 1 - 1e-16))
  z = min(max(z, a), b)
  if mirrored { z = -z }
  return mean + std * z
}

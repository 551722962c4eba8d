// A two-level Gaussian model with a closed-form posterior (conjugate linear-Gaussian model).

import Foundation
import NumericCore

/// Hierarchical Gaussian: global mean μ ~ N(0, τ₀²); group means m_g ~ N(μ, τ²), g = 1…G; observations
/// y_gi ~ N(m_g, σ²), i = 1…n. θ = (μ, m₁…m_G), x = (y₁₁…y₁ₙ, …, y_G1…y_Gn).
///
/// θ ~ N(0, Σ_θ) with Σ_θ = τ₀² 11ᵀ + τ² diag(0, 1, …, 1), x = Aθ + ε, so the posterior is Gaussian with precision
/// Λ = Σ_θ⁻¹ + AᵀA/σ² (diagonal n/σ² on the group means) and mean Λ⁻¹ Aᵀx/σ² (group sums over σ²).
public struct HierarchicalGaussianTask: SimulationTask {
  public let name = "hierarchical_gaussian"
  public let groups: Int
  public let observationsPerGroup: Int
  public let globalScale: Double
  public let groupScale: Double
  public let noiseScale: Double
  public let prior: any Prior
  public var parameterDimension: Int { groups + 1 }
  public var dataDimension: Int { groups * observationsPerGroup }
  public var hasExactPosterior: Bool { true }

  public init(groups: Int = 5, observationsPerGroup: Int = 10, globalScale: Double = 1, groupScale: Double = 0.5,
              noiseScale: Double = 1) {
    self.groups = groups
    self.observationsPerGroup = observationsPerGroup
    self.globalScale = globalScale
    self.groupScale = groupScale
    self.noiseScale = noiseScale
    let d = groups + 1
    var cov = DMatrix(rows: d, cols: d, repeating: globalScale * globalScale)
    for g in 1..<d { cov[g, g] += groupScale * groupScale }
    prior = GaussianPrior(mean: [Double](repeating: 0, count: d), covariance: cov)
  }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    blockedRowMap(rows: parameters.rows, outputColumns: dataDimension, seed: seed) { rng, r, out in
      for g in 0..<groups {
        let m = Double(parameters[r, g + 1])
        for i in 0..<observationsPerGroup {
          out[g * observationsPerGroup + i] = Float(m + noiseScale * rng.nextNormal())
        }
      }
    }
  }

  /// The exact posterior N(mean, covariance) for an observation.
  public func posterior(observation x: [Float]) -> (mean: [Double], covariance: DMatrix) {
    let gp = prior as! GaussianPrior
    var lambda = gp.precision
    var b = [Double](repeating: 0, count: parameterDimension)
    let s2 = noiseScale * noiseScale
    for g in 0..<groups {
      lambda[g + 1, g + 1] += Double(observationsPerGroup) / s2
      var sum = 0.0
      for i in 0..<observationsPerGroup { sum += Double(x[g * observationsPerGroup + i]) }
      b[g + 1] = sum / s2
    }
    let cov = try! lambda.inverseSPD()
    return (cov.multiply(b), cov)
  }

  public func samplePosterior(observation: [Float], count: Int, seed: UInt64) -> Matrix? {
    let (m, c) = posterior(observation: observation)
    return GaussianPrior(mean: m, covariance: c).sample(count: count, seed: seed)
  }
}

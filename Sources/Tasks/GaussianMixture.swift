// sbibm's gaussian_mixture (Sisson et al. 2007; Lueckmann et al. 2021, `sbibm/tasks/gaussian_mixture/task.py`).

import Foundation
import NumericCore

/// Gaussian mixture: θ ~ U(−10, 10)², x | θ ~ ½ N(θ, I) + ½ N(θ, 0.1²·I).
///
/// Posterior: the same mixture centred at x, truncated to the box (component drawn first, then rejection of draws
/// outside the box, as sbibm does; this is exactly the truncated mixture).
public struct GaussianMixtureTask: SimulationTask {
  public let name = "gaussian_mixture"
  public let parameterDimension = 2
  public let dataDimension = 2
  public let prior: any Prior = BoxUniformPrior(dimension: 2, bound: 10)
  public var sbibmDataName: String? { name }
  public var hasExactPosterior: Bool { true }
  /// Component standard deviations.
  public static let scales = [1.0, 0.1]

  public init() {}

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    blockedRowMap(rows: parameters.rows, outputColumns: 2, seed: seed) { rng, r, out in
      let s = GaussianMixtureTask.scales[rng.nextDouble() < 0.5 ? 0 : 1]
      for j in 0..<2 { out[j] = Float(Double(parameters[r, j]) + s * rng.nextNormal()) }
    }
  }

  public func samplePosterior(observation: [Float], count: Int, seed: UInt64) -> Matrix? {
    blockedRowMap(rows: count, outputColumns: 2, seed: seed) { rng, _, out in
      for _ in 0..<1_000_000 {
        let s = GaussianMixtureTask.scales[rng.nextDouble() < 0.5 ? 0 : 1]
        let t0 = Double(observation[0]) + s * rng.nextNormal()
        let t1 = Double(observation[1]) + s * rng.nextNormal()
        if abs(t0) <= 10 && abs(t1) <= 10 {
          out[0] = Float(t0)
          out[1] = Float(t1)
          return
        }
      }
      out[0] = .nan
      out[1] = .nan
    }
  }
}

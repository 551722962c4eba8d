// The review's introductory example: inverse kinematics of a planar arm on a rail (Kruse et al. 2021,
// "Benchmarking invertible architectures on inverse problems"); Documentation/Methods.md §11.1.

import Foundation
import NumericCore

/// Inverse kinematics: θ = (h, a₁, a₂, a₃) ~ N(0, diag(0.25, 0.5, 0.5, 0.5)²), segment lengths (0.5, 0.5, 1.0);
/// x₁ = h + 0.5 sin a₁ + 0.5 sin(a₁ + a₂) + sin(a₁ + a₂ + a₃), x₂ = 0.5 cos a₁ + 0.5 cos(a₁ + a₂) + cos(a₁ + a₂ + a₃).
/// The forward map is noise-free, so the posterior lives near a 2-D manifold and is bimodal at x = (0, 1.5).
public struct InverseKinematicsTask: SimulationTask {
  public let name = "inverse_kinematics"
  public let parameterDimension = 4
  public let dataDimension = 2
  public let prior: any Prior = GaussianPrior(mean: [0, 0, 0, 0], standardDeviation: [0.25, 0.5, 0.5, 0.5])
  /// Segment lengths.
  public static let lengths = [0.5, 0.5, 1.0]
  /// The observation of the review's figure.
  public static let defaultObservation: [Float] = [0, 1.5]

  public init() {}

  /// The end point of the arm.
  public static func forward(_ t: [Double]) -> (Double, Double) {
    let a1 = t[1], a12 = t[1] + t[2], a123 = t[1] + t[2] + t[3]
    let x1 = t[0] + lengths[0] * Foundation.sin(a1) + lengths[1] * Foundation.sin(a12) + lengths[2] * Foundation.sin(a123)
    let x2 = lengths[0] * Foundation.cos(a1) + lengths[1] * Foundation.cos(a12) + lengths[2] * Foundation.cos(a123)
    return (x1, x2)
  }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    blockedRowMap(rows: parameters.rows, outputColumns: 2, seed: seed) { _, r, out in
      let x = InverseKinematicsTask.forward((0..<4).map { Double(parameters[r, $0]) })
      out[0] = Float(x.0)
      out[1] = Float(x.1)
    }
  }

  /// A sampled reference posterior by rejection ABC: prior draws whose end point lies within `tolerance` of the
  /// observation (‖f(θ) − x‖ < ε). As ε → 0 this converges to the exact (manifold) posterior; the review used
  /// ABC-SMC down to ε = 0.002. Rows that find no accepted draw within `maxTries` are NaN.
  public func rejectionPosterior(
    observation x: [Float], count: Int, tolerance: Double = 0.01, seed: UInt64, maxTries: Int = 10_000_000
  ) -> Matrix {
    let gp = prior as! GaussianPrior
    let sd = gp.standardDeviation
    let x0 = Double(x[0]), x1 = Double(x[1])
    let eps2 = tolerance * tolerance
    return blockedRowMap(rows: count, outputColumns: 4, seed: seed, blockSize: 1) { rng, _, out in
      var t = [0.0, 0, 0, 0]
      for _ in 0..<maxTries {
        for j in 0..<4 { t[j] = sd[j] * rng.nextNormal() }
        let f = InverseKinematicsTask.forward(t)
        let d0 = f.0 - x0, d1 = f.1 - x1
        if d0 * d0 + d1 * d1 < eps2 {
          for j in 0..<4 { out[j] = Float(t[j]) }
          return
        }
      }
      for j in 0..<4 { out[j] = .nan }
    }
  }
}

// sbibm's two_moons (Greenberg et al. 2019; Lueckmann et al. 2021, `sbibm/tasks/two_moons/task.py`).

import Foundation
import NumericCore

/// Two moons: θ ~ U(−1, 1)², a ~ U(−π/2, π/2), r ~ N(0.1, 0.01²), p = (r cos a + 0.25, r sin a),
/// x = p + (−|θ₁ + θ₂|/√2, (−θ₁ + θ₂)/√2).
///
/// Exact posterior (sbibm's sampler): draw p from the simulator at θ = 0, set q = (p₁ − x₁, x₂ − p₂), flip the
/// sign of q₁ with probability ½, rotate back θ = ((q₁ − q₂)/√2, (q₁ + q₂)/√2), reject outside the prior box.
public struct TwoMoonsTask: SimulationTask {
  public let name = "two_moons"
  public let parameterDimension = 2
  public let dataDimension = 2
  public let prior: any Prior = BoxUniformPrior(dimension: 2, bound: 1)
  public var sbibmDataName: String? { name }
  public var hasExactPosterior: Bool { true }

  public init() {}

  /// The crescent point p = (r cos a + 0.25, r sin a).
  static func crescent(_ rng: inout Xoshiro) -> (Double, Double) {
    let a = -Double.pi / 2 + Double.pi * rng.nextDouble()
    let r = 0.1 + 0.01 * rng.nextNormal()
    return (r * Foundation.cos(a) + 0.25, r * Foundation.sin(a))
  }

  /// The deterministic map x = p + (−|z₀|, z₁), z = R(−π/4) θ.
  public static func map(theta: (Double, Double), p: (Double, Double)) -> (Double, Double) {
    let c = Foundation.cos(-Double.pi / 4), s = Foundation.sin(-Double.pi / 4)
    let z0 = c * theta.0 - s * theta.1
    let z1 = s * theta.0 + c * theta.1
    return (p.0 - abs(z0), p.1 + z1)
  }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    blockedRowMap(rows: parameters.rows, outputColumns: 2, seed: seed) { rng, r, out in
      let p = TwoMoonsTask.crescent(&rng)
      let x = TwoMoonsTask.map(theta: (Double(parameters[r, 0]), Double(parameters[r, 1])), p: p)
      out[0] = Float(x.0)
      out[1] = Float(x.1)
    }
  }

  public func samplePosterior(observation: [Float], count: Int, seed: UInt64) -> Matrix? {
    let x0 = Double(observation[0]), x1 = Double(observation[1])
    let c = Foundation.cos(Double.pi / 4), s = Foundation.sin(Double.pi / 4)
    return blockedRowMap(rows: count, outputColumns: 2, seed: seed) { rng, _, out in
      for _ in 0..<1_000_000 {
        let p = TwoMoonsTask.crescent(&rng)
        var q0 = p.0 - x0
        let q1 = x1 - p.1
        if rng.nextDouble() < 0.5 { q0 = -q0 }
        let t0 = c * q0 - s * q1, t1 = s * q0 + c * q1
        if abs(t0) <= 1 && abs(t1) <= 1 {
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

// Conversions between denoisers and scores, and the batched per-observation evaluator that composition uses.
//
// With z_t = α θ + σ ε (Documentation/Methods.md §2.2), Tweedie's formula links the denoised estimate and the score:
//
//     s(z, t) = (α x̂ − z)/σ²,        x̂ = (z + σ² s)/α.
//
// Composition, guidance and prior adaptation below are all linear in s, so they work on the *scaled score*
// D = σ² s = α x̂ − z, which stays O(1) as t → 0 where s itself blows up like 1/σ².

import Foundation
import NumericCore
import Diffusion

/// A score function ∇_z log p_t(z) for a batch z [B, d] at one shared time t.
public typealias ScoreFunction = (_ z: Matrix, _ t: Double) -> Matrix

/// A per-observation denoiser evaluated on (state, observation) pairs: row r of `z` [N, d] is paired with
/// observation `observation[r]` (an index into the caller's list of observations or groups), and the result is
/// x̂ [N, d] with row r the denoised estimate of z_r given observation r. One call covers all
/// J observations × B samples, so a network evaluates them in a single batched pass (gather the condition rows
/// by index, then one forward pass).
public typealias PairedDenoiser = (_ z: Matrix, _ observation: [Int], _ t: Double) -> Matrix

/// Errors of the composition layer.
public enum CompositionError: Error, Equatable, CustomStringConvertible {
  case invalidOption(String)
  case shapeMismatch(String)
  case notPositiveDefinite(String)

  public var description: String {
    switch self {
    case .invalidOption(let s): return "invalid composition option: \(s)"
    case .shapeMismatch(let s): return "shape mismatch: \(s)"
    case .notPositiveDefinite(let s): return "matrix not positive definite: \(s)"
    }
  }
}

/// Score ↔ denoiser conversions at one schedule point.
public enum Tweedie {
  /// s = (α x̂ − z)/σ².
  public static func score(denoised x: Matrix, z: Matrix, alpha: Double, sigma: Double) -> Matrix {
    var s = scaledScore(denoised: x, z: z, alpha: alpha)
    s.scale(by: Float(1 / (sigma * sigma)))
    return s
  }

  /// x̂ = (z + σ² s)/α.
  public static func denoised(score s: Matrix, z: Matrix, alpha: Double, sigma: Double) -> Matrix {
    var x = s
    x.scale(by: Float(sigma * sigma / alpha))
    x.add(z, scale: Float(1 / alpha))
    return x
  }

  /// The scaled score D = σ² s = α x̂ − z.
  public static func scaledScore(denoised x: Matrix, z: Matrix, alpha: Double) -> Matrix {
    var d = x
    d.scale(by: Float(alpha))
    d.add(z, scale: -1)
    return d
  }

  /// x̂ = (z + D)/α from a scaled score D = σ² s.
  public static func denoised(scaledScore d: Matrix, z: Matrix, alpha: Double) -> Matrix {
    var x = d
    x.add(z)
    x.scale(by: Float(1 / alpha))
    return x
  }

  /// A score function from a denoiser: s = (α D(z, t) − z)/σ².
  public static func scoreFunction(_ denoiser: @escaping Denoiser, schedule: any NoiseSchedule) -> ScoreFunction {
    { z, t in
      let (a, s) = schedule.alphaSigma(t)
      return score(denoised: denoiser(z, t), z: z, alpha: a, sigma: s)
    }
  }

  /// A denoiser from a score function: x̂ = (z + σ² s(z, t))/α.
  public static func denoiser(_ score: @escaping ScoreFunction, schedule: any NoiseSchedule) -> Denoiser {
    { z, t in
      let (a, s) = schedule.alphaSigma(t)
      return denoised(score: score(z, t), z: z, alpha: a, sigma: s)
    }
  }
}

/// Clips every entry of x̂ to [lower, upper] (BayesFlow's `clip=(−3, 3)` on the standardized denoised estimate).
@inlinable
func clip(_ m: inout Matrix, lower: Float, upper: Float) {
  m.withUnsafeMutableBufferPointer { p in
    for i in 0..<p.count {
      let v = p[i]
      p[i] = v < lower ? lower : (v > upper ? upper : v)
    }
  }
}

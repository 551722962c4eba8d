// Network output parameterizations, all converted through the denoised estimate x̂ (Documentation/Methods.md §3.1).

import Foundation
import NumericCore

/// A denoiser: the estimate x̂ of clean (standardized) θ for a batch of noisy states z [B, d] at one shared
/// diffusion time t. Conditions are bound inside the closure by the caller.
public typealias Denoiser = (_ z: Matrix, _ t: Double) -> Matrix

/// A raw network: output [B, d] for the scaled input c_in·z [B, d] at one shared time input τ.
public typealias NetworkFunction = (_ input: Matrix, _ timeInput: Float) -> Matrix

/// What the network predicts. Every choice is affine in the output: x̂ = a·z + b·output, and the training target
/// is affine in (θ, ε): target = p·θ + q·ε (so that x̂ = θ exactly when output = target).
///
/// | prediction | x̂ | target |
/// |---|---|---|
/// | `eps` | (z − σ ε̂)/α | ε |
/// | `v` (v = α ε − σ θ) | (α z − σ v̂)/(α² + σ²) | α ε − σ θ |
/// | `F` (EDM) | c_skip z/α + c_out F̂ | (θ − c_skip z/α)/c_out |
/// | `x` | x̂ | θ |
/// | `score` | (z + σ² ŝ)/α | −ε/σ |
///
/// EDM preconditioning (Karras et al. 2022, Table 1) with the VE-equivalent noise σ_e = σ/α = e^{−λ/2}:
/// c_skip = σ_d²/(σ_e² + σ_d²), c_out = σ_e σ_d/√(σ_e² + σ_d²), c_in = 1/√(σ_e² + σ_d²) (on z/α),
/// c_noise = ln(σ_e)/4. For variance exploding these are EDM's exactly; for variance preserving the skip term
/// c_skip·z/α is EDM's (the reference code uses α·c_skip·z instead, Documentation/Methods.md §3.1).
///
/// Every prediction type scales the network input by c_in = 1/√(α² σ_d² + σ²) (the marginal standard deviation
/// for data of variance σ_d²); this equals EDM's c_in for `F`, and is 1 for variance preserving with σ_d = 1.
/// The network's time input is τ (`NoiseSchedule.timeInput`), not c_noise.
public enum Prediction: String, Sendable, CaseIterable, Codable {
  case F
  case v
  case eps
  case x
  case score

  /// Coefficients at (α, σ) for data standard deviation σ_d.
  public func coefficients(alpha: Double, sigma: Double, sigmaData sd: Double = 1) -> PredictionCoefficients {
    let cIn = 1 / (alpha * alpha * sd * sd + sigma * sigma).squareRoot()
    switch self {
    case .eps:
      return PredictionCoefficients(a: 1 / alpha, b: -sigma / alpha, p: 0, q: 1, inputScale: cIn)
    case .x:
      return PredictionCoefficients(a: 0, b: 1, p: 1, q: 0, inputScale: cIn)
    case .v:
      let n = alpha * alpha + sigma * sigma
      return PredictionCoefficients(a: alpha / n, b: -sigma / n, p: -sigma, q: alpha, inputScale: cIn)
    case .F:
      let e = EDMPreconditioning(alpha: alpha, sigma: sigma, sigmaData: sd)
      let root = (e.sigmaVE * e.sigmaVE + sd * sd).squareRoot()
      return PredictionCoefficients(
        a: e.cSkip / alpha, b: e.cOut, p: e.sigmaVE / (sd * root), q: -sd / root, inputScale: cIn)
    case .score:
      return PredictionCoefficients(a: 1 / alpha, b: sigma * sigma / alpha, p: 0, q: -1 / sigma, inputScale: cIn)
    }
  }

  /// Wraps a raw network into a denoiser: x̂(z, t) = a z + b·network(c_in z, τ(λ(t))).
  public func denoiser(schedule: any NoiseSchedule, network: @escaping NetworkFunction) -> Denoiser {
    { z, t in
      let p = schedule.point(t)
      let c = self.coefficients(alpha: p.alpha, sigma: p.sigma, sigmaData: schedule.sigmaData)
      var input = z
      input.scale(by: Float(c.inputScale))
      var out = network(input, Float(schedule.timeInput(logSNR: p.logSNR)))
      out.scale(by: Float(c.b))
      out.add(z, scale: Float(c.a))
      return out
    }
  }
}

/// The affine maps of one prediction type at one (α, σ): x̂ = a·z + b·output, target = p·θ + q·ε, network input
/// c_in·z.
public struct PredictionCoefficients: Sendable, Equatable {
  public var a: Double
  public var b: Double
  public var p: Double
  public var q: Double
  public var inputScale: Double

  /// x̂ from a network output.
  public func denoised(output: Matrix, z: Matrix) -> Matrix {
    var x = output
    x.scale(by: Float(b))
    x.add(z, scale: Float(a))
    return x
  }

  /// The network output that yields x̂: (x̂ − a z)/b.
  public func output(denoised x: Matrix, z: Matrix) -> Matrix {
    var o = x
    o.add(z, scale: Float(-a))
    o.scale(by: Float(1 / b))
    return o
  }
}

/// EDM's preconditioning coefficients (Karras et al. 2022, Table 1, "Ours") at VE-equivalent noise σ_e = σ/α.
public struct EDMPreconditioning: Sendable, Equatable {
  public var sigmaVE: Double
  public var cSkip: Double
  public var cOut: Double
  /// Input scale on the VE-scaled state z/α.
  public var cIn: Double
  /// ln(σ_e)/4 (EDM's network noise input; this project feeds τ instead).
  public var cNoise: Double

  public init(alpha: Double, sigma: Double, sigmaData sd: Double) {
    let s = sigma / alpha
    let d = s * s + sd * sd
    sigmaVE = s
    cSkip = sd * sd / d
    cOut = s * sd / d.squareRoot()
    cIn = 1 / d.squareRoot()
    cNoise = log(s) / 4
  }
}

// Noise schedules over the log signal-to-noise ratio λ(t) = log(α_t² / σ_t²), with t = 0 data and t = 1 noise.
//
// The forward process is z_t = α_t θ + σ_t ε, ε ~ N(0, I) (Documentation/Methods.md §1). λ is the master variable: each
// schedule maps diffusion time to λ (and back), and the variance type maps λ to (α, σ). The forward SDE
// dz = f(t) z dt + g(t) dW that has these marginals follows for every variance type (Kingma et al. 2021, VDM):
//
//     f(t) = ½ d log α² / dt = ½ (d log α² / dλ) · λ̇,      g²(t) = dσ²/dt − 2 f σ² = −σ² λ̇.
//
// For variance preserving this is the VP SDE (f = −½β, g² = β); for variance exploding it is f = 0,
// g² = dσ²/dt, the correct VE SDE (Documentation/Methods.md §2.2: the reference implementation uses β instead).

import Foundation
import NumericCore

/// Errors from schedule construction, parameterizations and samplers.
public enum DiffusionError: Error, Equatable, CustomStringConvertible {
  case invalidOption(String)
  case shapeMismatch(String)

  public var description: String {
    switch self {
    case .invalidOption(let s): return "invalid diffusion option: \(s)"
    case .shapeMismatch(let s): return "shape mismatch: \(s)"
    }
  }
}

/// How the signal and noise scales α, σ follow from the log-SNR λ.
///
/// | type | α(λ) | σ(λ) | d log α² / dλ |
/// |---|---|---|---|
/// | `preserving` | √sigmoid(λ) | √sigmoid(−λ) | σ² |
/// | `exploding` | 1 | e^{−λ/2} | 0 |
/// | `subPreserving` (sub-VP, σ = 1 − α²) | √a, a = 2/((2+u) + √(4u+u²)), u = e^{−λ} | 1 − a | (1 − a)/(1 + a) |
/// | `rectifiedFlow` (α + σ = 1) | sigmoid(λ/2) | sigmoid(−λ/2) | σ |
public enum VarianceType: String, Sendable, CaseIterable, Codable {
  case preserving
  case exploding
  case subPreserving = "sub-vp"
  case rectifiedFlow = "rectified-flow"

  /// (α, σ) at log-SNR λ.
  @inlinable
  public func alphaSigma(logSNR l: Double) -> (alpha: Double, sigma: Double) {
    switch self {
    case .preserving:
      return (Special.sigmoid(l).squareRoot(), Special.sigmoid(-l).squareRoot())
    case .exploding:
      return (1, exp(-0.5 * l))
    case .subPreserving:
      let (a, s) = Self.subPreservingAlphaSquared(logSNR: l)
      return (a.squareRoot(), s)
    case .rectifiedFlow:
      return (Special.sigmoid(0.5 * l), Special.sigmoid(-0.5 * l))
    }
  }

  /// d log α² / dλ, used by the drift coefficient f.
  @inlinable
  public func dLogAlphaSquared(logSNR l: Double) -> Double {
    switch self {
    case .preserving: return Special.sigmoid(-l)
    case .exploding: return 0
    case .subPreserving:
      let (a, s) = Self.subPreservingAlphaSquared(logSNR: l)
      return s / (1 + a)
    case .rectifiedFlow: return Special.sigmoid(-0.5 * l)
    }
  }

  /// Sub-VP: solves e^λ = a / (1 − a)² for a = α² ∈ (0, 1); returns (a, 1 − a), both without cancellation.
  @inlinable
  static func subPreservingAlphaSquared(logSNR l: Double) -> (Double, Double) {
    if l > 0 {
      let u = exp(-l)
      let r = (4 * u + u * u).squareRoot()
      let den = 2 + u + r
      return (2 / den, (u + r) / den)
    } else {
      let e = exp(l)
      let a = 2 * e / ((2 * e + 1) + (4 * e + 1).squareRoot())
      return (a, 1 - a)
    }
  }
}

/// A noise schedule: the sampling map t ↦ λ(t) (decreasing, t ∈ [0, 1]), its inverse and derivative, an optional
/// separate training map, and the variance type that turns λ into (α, σ).
public protocol NoiseSchedule: Sendable, CustomStringConvertible {
  /// How α and σ follow from λ.
  var variance: VarianceType { get }
  /// Expected standard deviation of the (standardized) data, used by EDM preconditioning and weighting.
  var sigmaData: Double { get }
  /// λ(1), the smallest log-SNR of the sampling map.
  var logSNRMin: Double { get }
  /// λ(0), the largest log-SNR of the sampling map.
  var logSNRMax: Double { get }
  /// The sampling map λ(t).
  func logSNR(_ t: Double) -> Double
  /// The inverse of the sampling map, t(λ).
  func time(logSNR: Double) -> Double
  /// dλ/dt of the sampling map (negative).
  func dLogSNR(_ t: Double) -> Double
  /// The training map: λ for a uniform training time t (equal to `logSNR` unless the schedule has its own).
  func trainingLogSNR(_ t: Double) -> Double
}

extension NoiseSchedule {
  public var sigmaData: Double { 1 }
  public func trainingLogSNR(_ t: Double) -> Double { logSNR(t) }

  /// (α, σ) at diffusion time t.
  public func alphaSigma(_ t: Double) -> (alpha: Double, sigma: Double) { variance.alphaSigma(logSNR: logSNR(t)) }

  /// Drift coefficient f(t) of the forward SDE dz = f z dt + g dW: f = ½ (d log α²/dλ) λ̇.
  public func driftCoefficient(_ t: Double) -> Double {
    0.5 * variance.dLogAlphaSquared(logSNR: logSNR(t)) * dLogSNR(t)
  }

  /// Squared diffusion coefficient g²(t) = dσ²/dt − 2 f σ² = −σ² λ̇.
  public func diffusionSquared(_ t: Double) -> Double {
    let s = alphaSigma(t).sigma
    return -s * s * dLogSNR(t)
  }

  /// Network time input τ = 2 (λ − λ_min)/(λ_max − λ_min) − 1, over the sampling schedule's λ range.
  public func timeInput(logSNR l: Double) -> Double {
    2 * (l - logSNRMin) / (logSNRMax - logSNRMin) - 1
  }

  /// Standard deviation of the Gaussian the samplers start from at t = 1: √(α₁² σ_data² + σ₁²).
  ///
  /// This is 1 for variance preserving with σ_data = 1, and ≈ σ_max for variance exploding.
  public var priorStandardDeviation: Double {
    let (a, s) = alphaSigma(1)
    return (a * a * sigmaData * sigmaData + s * s).squareRoot()
  }

  /// All coefficients at time t in one value.
  public func point(_ t: Double) -> SchedulePoint {
    let l = logSNR(t)
    let (a, s) = variance.alphaSigma(logSNR: l)
    let dl = dLogSNR(t)
    return SchedulePoint(
      time: t, logSNR: l, alpha: a, sigma: s, dLogSNR: dl,
      drift: 0.5 * variance.dLogAlphaSquared(logSNR: l) * dl, diffusionSquared: -s * s * dl)
  }
}

/// The schedule's coefficients at one diffusion time.
public struct SchedulePoint: Sendable, Equatable {
  public var time: Double
  public var logSNR: Double
  public var alpha: Double
  public var sigma: Double
  /// dλ/dt.
  public var dLogSNR: Double
  /// Forward drift coefficient f (drift = f·z).
  public var drift: Double
  /// g².
  public var diffusionSquared: Double
}

/// Names of the schedule families, as the command line spells them.
public enum ScheduleKind: String, Sendable, CaseIterable, Codable {
  case edm
  case cosine
  case linear
  case subVP = "sub-vp"
  case rectifiedFlow = "rectified-flow"

  /// The schedule with its default constants. `variance` applies to `edm` and `cosine` (the other families fix
  /// their own variance type).
  public func make(variance: VarianceType = .preserving, sigmaData: Double = 1) throws -> any NoiseSchedule {
    switch self {
    case .edm:
      guard variance == .preserving || variance == .exploding else {
        throw DiffusionError.invalidOption("the edm schedule is preserving or exploding, not \(variance.rawValue)")
      }
      return EDMSchedule(variance: variance, sigmaData: sigmaData)
    case .cosine:
      guard variance == .preserving || variance == .exploding else {
        throw DiffusionError.invalidOption("the cosine schedule is preserving or exploding, not \(variance.rawValue)")
      }
      return CosineSchedule(variance: variance, sigmaData: sigmaData)
    case .linear: return LinearBetaSchedule(variance: .preserving, sigmaData: sigmaData)
    case .subVP: return LinearBetaSchedule(variance: .subPreserving, sigmaData: sigmaData)
    case .rectifiedFlow: return RectifiedFlowSchedule(sigmaData: sigmaData)
    }
  }
}

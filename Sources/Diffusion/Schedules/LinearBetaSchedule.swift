// Linear-β variance-preserving (DDPM, Ho et al. 2020; VP SDE, Song et al. 2021) and sub-VP schedules.

import Foundation
import NumericCore

/// Linear β(s) = β_min + (β_max − β_min) s on s = t̃ = ε + (1 − ε) t, with B(s) = ∫₀ˢ β = β_min s + ½Δβ s²:
/// - VP: α² = e^{−B}, σ² = 1 − e^{−B}, so λ = −B − log(1 − e^{−B}) and B(λ) = log(1 + e^{−λ});
/// - sub-VP (Song et al. 2021): α² = e^{−B}, σ = 1 − e^{−B}, so λ = −B − 2 log(1 − e^{−B}).
///
/// dλ/dt = (dλ/dB) β(s) (1 − ε) with dλ/dB = −1/(1 − e^{−B}) (VP) or −1 − 2e^{−B}/(1 − e^{−B}) (sub-VP).
/// The truncation ε keeps λ(0) finite: 1e-5 for VP (λ_max ≈ 13.8) and 1e-3 for sub-VP (λ_max ≈ 18.4).
public struct LinearBetaSchedule: NoiseSchedule {
  public var variance: VarianceType
  public var sigmaData: Double
  public var betaMin: Double
  public var betaMax: Double
  /// Smallest diffusion time of the underlying SDE (t = 0 maps to s = ε).
  public var epsilon: Double

  /// `variance` is `.preserving` (VP) or `.subPreserving` (sub-VP).
  public init(
    variance: VarianceType = .preserving, sigmaData: Double = 1, betaMin: Double = 0.1, betaMax: Double = 20,
    epsilon: Double? = nil
  ) {
    precondition(variance == .preserving || variance == .subPreserving, "linear-β schedule is VP or sub-VP")
    self.variance = variance
    self.sigmaData = sigmaData
    self.betaMin = betaMin
    self.betaMax = betaMax
    self.epsilon = epsilon ?? (variance == .preserving ? 1e-5 : 1e-3)
  }

  private func integratedBeta(_ t: Double) -> Double {
    let s = epsilon + (1 - epsilon) * t
    return betaMin * s + 0.5 * (betaMax - betaMin) * s * s
  }

  public var logSNRMin: Double { logSNR(1) }
  public var logSNRMax: Double { logSNR(0) }

  public func logSNR(_ t: Double) -> Double {
    let b = integratedBeta(t)
    let oneMinus = -expm1(-b)  // σ² for VP, σ for sub-VP
    return variance == .preserving ? -b - log(oneMinus) : -b - 2 * log(oneMinus)
  }

  public func time(logSNR l: Double) -> Double {
    let b: Double
    if variance == .preserving {
      b = Special.softplus(-l)
    } else {
      b = -log(VarianceType.subPreservingAlphaSquared(logSNR: l).0)
    }
    let db = betaMax - betaMin
    let s = 2 * b / (betaMin + (betaMin * betaMin + 2 * db * b).squareRoot())
    return (s - epsilon) / (1 - epsilon)
  }

  public func dLogSNR(_ t: Double) -> Double {
    let s = epsilon + (1 - epsilon) * t
    let b = integratedBeta(t)
    let oneMinus = -expm1(-b)
    let dldb = variance == .preserving ? -1 / oneMinus : -1 - 2 * exp(-b) / oneMinus
    return dldb * (betaMin + (betaMax - betaMin) * s) * (1 - epsilon)
  }

  public var description: String {
    "LinearBeta(\(variance.rawValue), β∈[\(betaMin), \(betaMax)], ε=\(epsilon))"
  }
}

// The rectified-flow / flow-matching path written as a diffusion schedule (Documentation/Methods.md §2.1).

import Foundation
import NumericCore

/// Rectified flow in diffusion notation: α = 1 − s, σ = s with s = t_min + (t_max − t_min) t, so
/// λ = 2 log((1 − s)/s) and s(λ) = sigmoid(−λ/2); dλ/dt = −2/(s(1 − s)) · (t_max − t_min).
///
/// The truncation is given in log-SNR (default λ ∈ [−15, 15], i.e. s ∈ [5.5e-4, 0.99945]). Its implied
/// ε-loss weight is (1 + e^{−λ/2})².
public struct RectifiedFlowSchedule: NoiseSchedule {
  public var variance: VarianceType { .rectifiedFlow }
  public var sigmaData: Double
  public var logSNRMin: Double
  public var logSNRMax: Double

  public init(sigmaData: Double = 1, logSNRMin: Double = -15, logSNRMax: Double = 15) {
    self.sigmaData = sigmaData
    self.logSNRMin = logSNRMin
    self.logSNRMax = logSNRMax
  }

  private var sMin: Double { Special.sigmoid(-0.5 * logSNRMax) }
  private var sMax: Double { Special.sigmoid(-0.5 * logSNRMin) }

  public func logSNR(_ t: Double) -> Double {
    let s = sMin + (sMax - sMin) * t
    return 2 * (log1p(-s) - log(s))
  }

  public func time(logSNR l: Double) -> Double { (Special.sigmoid(-0.5 * l) - sMin) / (sMax - sMin) }

  public func dLogSNR(_ t: Double) -> Double {
    let s = sMin + (sMax - sMin) * t
    return -2 / (s * (1 - s)) * (sMax - sMin)
  }

  public var description: String { "RectifiedFlow(λ∈[\(logSNRMin), \(logSNRMax)])" }
}

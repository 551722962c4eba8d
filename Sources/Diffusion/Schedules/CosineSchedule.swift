// Cosine schedule (Nichol & Dhariwal 2021) in log-SNR form, truncated and shifted (Hoogeboom et al. 2023).

import Foundation

/// Cosine schedule: λ(t) = −2 log tan(π t̃ / 2) + 2·shift with t̃ = t_min + (t_max − t_min) t, where
/// t_min = t̃(λ_max), t_max = t̃(λ_min) and t̃(λ) = (2/π) arctan(e^{(2·shift − λ)/2}) (Documentation/Methods.md §2.1).
///
/// dλ/dt = −2π / sin(π t̃) · (t_max − t_min). The same map is used for training and sampling.
public struct CosineSchedule: NoiseSchedule {
  public var variance: VarianceType
  public var sigmaData: Double
  public var logSNRMin: Double
  public var logSNRMax: Double
  /// Log-SNR shift (`log(base_resolution / d)` for images; 0 in the review's experiments).
  public var shift: Double

  public init(
    variance: VarianceType = .preserving, sigmaData: Double = 1, logSNRMin: Double = -15, logSNRMax: Double = 15,
    shift: Double = 0
  ) {
    self.variance = variance
    self.sigmaData = sigmaData
    self.logSNRMin = logSNRMin
    self.logSNRMax = logSNRMax
    self.shift = shift
  }

  private func rawTime(_ l: Double) -> Double { 2 / Double.pi * atan(exp((2 * shift - l) / 2)) }
  private var tMin: Double { rawTime(logSNRMax) }
  private var tMax: Double { rawTime(logSNRMin) }

  public func logSNR(_ t: Double) -> Double {
    let tt = tMin + (tMax - tMin) * t
    return -2 * log(tan(Double.pi * tt / 2)) + 2 * shift
  }

  public func time(logSNR l: Double) -> Double { (rawTime(l) - tMin) / (tMax - tMin) }

  public func dLogSNR(_ t: Double) -> Double {
    let tt = tMin + (tMax - tMin) * t
    return -2 * Double.pi / sin(Double.pi * tt) * (tMax - tMin)
  }

  public var description: String {
    "Cosine(\(variance.rawValue), λ∈[\(logSNRMin), \(logSNRMax)], shift=\(shift))"
  }
}

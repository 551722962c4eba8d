// EDM noise schedule (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models").

import Foundation
import NumericCore

/// The EDM schedule in log-SNR form, variance preserving or exploding (Documentation/Methods.md §2.1).
///
/// With the VE-equivalent noise level σ_e = e^{−λ/2}:
/// - sampling (ρ-schedule): λ(t) = −2ρ log(σ_max^{1/ρ} + (1 − t)(σ_min^{1/ρ} − σ_max^{1/ρ})), so
///   λ ∈ [−2 log σ_max, −2 log σ_min]; inverse t(λ) = 1 − (e^{−λ/(2ρ)} − σ_max^{1/ρ})/(σ_min^{1/ρ} − σ_max^{1/ρ});
/// - training (lognormal): log σ_e ~ N(P_mean, P_std²), i.e. λ = −2 P_mean + 2 P_std Φ⁻¹(1 − t), clipped to
///   [λ_min − 1, λ_max + 1].
public struct EDMSchedule: NoiseSchedule {
  public var variance: VarianceType
  /// Expected standard deviation of the data (σ_data).
  public var sigmaData: Double
  /// Smallest noise level σ_min (EDM uses 0.002; BayesFlow and this project 1e-4).
  public var sigmaMin: Double
  /// Largest noise level σ_max.
  public var sigmaMax: Double
  /// Time-discretization exponent ρ.
  public var rho: Double
  /// Mean of log σ_e during training (P_mean).
  public var trainingLogSigmaMean: Double
  /// Standard deviation of log σ_e during training (P_std).
  public var trainingLogSigmaStd: Double

  public init(
    variance: VarianceType = .preserving, sigmaData: Double = 1, sigmaMin: Double = 1e-4, sigmaMax: Double = 80,
    rho: Double = 7, trainingLogSigmaMean: Double = -1.2, trainingLogSigmaStd: Double = 1.2
  ) {
    self.variance = variance
    self.sigmaData = sigmaData
    self.sigmaMin = sigmaMin
    self.sigmaMax = sigmaMax
    self.rho = rho
    self.trainingLogSigmaMean = trainingLogSigmaMean
    self.trainingLogSigmaStd = trainingLogSigmaStd
  }

  public var logSNRMin: Double { -2 * log(sigmaMax) }
  public var logSNRMax: Double { -2 * log(sigmaMin) }

  private var rootMin: Double { pow(sigmaMin, 1 / rho) }
  private var rootMax: Double { pow(sigmaMax, 1 / rho) }

  public func logSNR(_ t: Double) -> Double {
    -2 * rho * log(rootMax + (1 - t) * (rootMin - rootMax))
  }

  public func time(logSNR l: Double) -> Double {
    1 - (exp(-l / (2 * rho)) - rootMax) / (rootMin - rootMax)
  }

  public func dLogSNR(_ t: Double) -> Double {
    2 * rho * (rootMin - rootMax) / (rootMax + (1 - t) * (rootMin - rootMax))
  }

  public func trainingLogSNR(_ t: Double) -> Double {
    let l = -2 * trainingLogSigmaMean + 2 * trainingLogSigmaStd * Special.normalQuantile(1 - t)
    return min(max(l, logSNRMin - 1), logSNRMax + 1)
  }

  public var description: String {
    "EDM(\(variance.rawValue), σ_data=\(sigmaData), σ_min=\(sigmaMin), σ_max=\(sigmaMax), ρ=\(rho))"
  }
}

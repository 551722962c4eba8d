// The named design choices of a diffusion model, as stored in a model's configuration.

import NumericCore

/// Schedule, variance type, prediction, weighting and sampler by name, with the review's recommendation as the
/// default (EDM schedule, variance preserving, F-prediction, ε-loss with EDM weighting) except for the sampler:
/// the EDM stochastic sampler with 25 steps (50 network evaluations) matched the review's two-step adaptive
/// sampler (about 230 evaluations) in mean C2ST over the ten sbibm tasks and had the smallest worst-task gap of
/// all samplers measured (BENCHMARKS.md "Samplers on the ten sbibm tasks"). The sampler is stored with a model, so
/// models trained before keep theirs; `--sampler two-step-adaptive` is the review's.
public struct DiffusionConfiguration: Sendable, Codable, Equatable {
  public var schedule: ScheduleKind
  public var variance: VarianceType
  public var prediction: Prediction
  public var weighting: LossWeighting
  public var sampler: SamplerKind
  /// σ_data of the standardized parameters (1 after z-scoring).
  public var sigmaData: Double

  public init(
    schedule: ScheduleKind = .edm, variance: VarianceType = .preserving, prediction: Prediction = .F,
    weighting: LossWeighting = .edm, sampler: SamplerKind = .edmStochastic, sigmaData: Double = 1
  ) {
    self.schedule = schedule
    self.variance = variance
    self.prediction = prediction
    self.weighting = weighting
    self.sampler = sampler
    self.sigmaData = sigmaData
  }

  /// The noise schedule with its default constants; throws for a variance type the family does not have.
  public func makeSchedule() throws -> any NoiseSchedule {
    try schedule.make(variance: variance, sigmaData: sigmaData)
  }
}

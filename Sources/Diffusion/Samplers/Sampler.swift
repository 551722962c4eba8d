// One entry point over all samplers, with the names the command line uses.

import NumericCore

/// The samplers, as the command line spells them.
public enum SamplerKind: String, Sendable, CaseIterable, Codable {
  case twoStepAdaptive = "two-step-adaptive"
  case eulerMaruyama = "euler-maruyama"
  case sea
  case shark
  case pc
  case langevin
  case odeEuler = "ode-euler"
  case heun
  case edmStochastic = "edm-stochastic"
  case rk45
  case tsit5
  case dpmSolver2M = "dpm-solver-2m"

  /// The default step control: adaptive for two-step-adaptive, rk45 and tsit5; 50 steps for DPM-Solver++(2M);
  /// 2000 levels for annealed Langevin; 500 fixed steps otherwise (the benchmark's setting).
  public var defaultSteps: StepControl {
    switch self {
    case .twoStepAdaptive: return .adaptive(.sde)
    case .rk45, .tsit5: return .adaptive(.ode)
    case .dpmSolver2M: return .fixed(50)
    case .langevin: return .fixed(2000)
    default: return .fixed(500)
    }
  }
}

/// Options for `sample`; each sampler reads the fields that apply to it.
public struct SamplerOptions: Sendable {
  /// Step control; `nil` means `SamplerKind.defaultSteps`. For `langevin`, `.fixed(n)` is the number of levels.
  public var steps: StepControl?
  /// Langevin corrector of `pc` (and its number of moves per step).
  public var corrector: CorrectorOptions
  /// Churn of `edm-stochastic`.
  public var churn: ChurnOptions
  /// Step-size factor r of annealed `langevin`.
  public var langevinStepSizeFactor: Double

  public init(
    steps: StepControl? = nil, corrector: CorrectorOptions = CorrectorOptions(),
    churn: ChurnOptions = ChurnOptions(), langevinStepSizeFactor: Double = 0.01
  ) {
    self.steps = steps
    self.corrector = corrector
    self.churn = churn
    self.langevinStepSizeFactor = langevinStepSizeFactor
  }
}

/// Samples by integrating from the initial state z₁ [B, d] at t = 1 to t = 0 with the chosen sampler.
///
/// `denoiser(z, t)` returns x̂ for the whole batch at one shared time; many observations × many samples are rows
/// of one batch (conditions bound inside the closure). Deterministic samplers ignore `rng`.
public func sample(
  _ kind: SamplerKind, denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule,
  options: SamplerOptions = SamplerOptions(), rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  let steps = options.steps ?? kind.defaultSteps
  switch kind {
  case .twoStepAdaptive:
    guard case .adaptive(let opt) = steps else {
      throw DiffusionError.invalidOption("two-step-adaptive needs adaptive steps")
    }
    return try sampleTwoStepAdaptive(
      denoiser: denoiser, initial: initial, schedule: schedule, options: opt, rng: &rng, callback: callback)
  case .eulerMaruyama:
    return try sampleEulerMaruyama(
      denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, rng: &rng, callback: callback)
  case .sea:
    return try sampleSEA(
      denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, rng: &rng, callback: callback)
  case .shark:
    return try sampleShARK(
      denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, rng: &rng, callback: callback)
  case .pc:
    return try samplePredictorCorrector(
      denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, corrector: options.corrector,
      rng: &rng, callback: callback)
  case .langevin:
    guard case .fixed(let n) = steps else {
      throw DiffusionError.invalidOption("langevin takes a fixed number of levels")
    }
    return try sampleAnnealedLangevin(
      denoiser: denoiser, initial: initial, schedule: schedule, steps: n,
      stepSizeFactor: options.langevinStepSizeFactor, rng: &rng, callback: callback)
  case .odeEuler:
    return try sampleODEEuler(
      denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, callback: callback)
  case .heun:
    return try sampleHeun(denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, callback: callback)
  case .edmStochastic:
    return try sampleEDMStochastic(
      denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, options: options.churn, rng: &rng,
      callback: callback)
  case .rk45:
    return try sampleRK45(denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, callback: callback)
  case .tsit5:
    return try sampleTsit5(denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, callback: callback)
  case .dpmSolver2M:
    return try sampleDPMSolver2M(
      denoiser: denoiser, initial: initial, schedule: schedule, steps: steps, callback: callback)
  }
}

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
  /// 25 steps (50 evaluations) for the EDM stochastic sampler, the default sampler of diffusion models, whose
  /// accuracy on the ten sbibm tasks matched the two-step adaptive sampler's with 229 (BENCHMARKS.md "Samplers on
  /// the ten sbibm tasks"); 2000 levels for annealed Langevin; 500 fixed steps otherwise.
  public var defaultSteps: StepControl {
    switch self {
    case .twoStepAdaptive: return .adaptive(.sde)
    case .rk45, .tsit5: return .adaptive(.ode)
    case .dpmSolver2M: return .fixed(50)
    case .edmStochastic: return .fixed(25)
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
  /// Error norm of the adaptive samplers (two-step-adaptive, rk45, tsit5); overrides the one in `steps`; nil:
  /// keep it.
  public var errorNorm: AdaptiveErrorNorm?
  /// Least number of steps of the adaptive samplers (defaults: 10 for rk45 and tsit5, 50 for two-step-adaptive);
  /// overrides the one in `steps`; nil: keep it.
  public var minimumSteps: Int?

  public init(
    steps: StepControl? = nil, corrector: CorrectorOptions = CorrectorOptions(),
    churn: ChurnOptions = ChurnOptions(), langevinStepSizeFactor: Double = 0.01, errorNorm: AdaptiveErrorNorm? = nil,
    minimumSteps: Int? = nil
  ) {
    self.errorNorm = errorNorm
    self.minimumSteps = minimumSteps
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
  var steps = options.steps ?? kind.defaultSteps
  if case .adaptive(var o) = steps {
    if let norm = options.errorNorm { o.errorNorm = norm }
    if let m = options.minimumSteps { o.minSteps = m }
    steps = .adaptive(o)
  }
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

/// A sampler with its step control, as benchmarks and sweeps name it: `NAME` (the sampler's default steps),
/// `NAME:N` (N fixed steps; for `langevin` N levels) or `NAME:rms` / `NAME:max` (an adaptive sampler with that
/// error norm, `AdaptiveErrorNorm`), optionally with its least number of steps, `NAME:rms:10`. A choice without
/// a kind is the estimator's default sampler.
public struct SamplerChoice: Sendable, Equatable, CustomStringConvertible {
  /// The sampler; nil: the estimator's default.
  public var kind: SamplerKind?
  /// Fixed steps; nil: the sampler's default step control.
  public var steps: Int?
  /// Error norm of an adaptive sampler; nil: its default.
  public var errorNorm: AdaptiveErrorNorm?
  /// Least number of steps of an adaptive sampler; nil: its default.
  public var minimumSteps: Int?

  public init(
    _ kind: SamplerKind? = nil, steps: Int? = nil, errorNorm: AdaptiveErrorNorm? = nil, minimumSteps: Int? = nil
  ) {
    self.kind = kind
    self.steps = steps
    self.errorNorm = errorNorm
    self.minimumSteps = minimumSteps
  }

  /// Parses `NAME`, `NAME:N` or `NAME:rms|max`; nil for anything else (an unknown sampler, N < 1, a norm for a
  /// fixed-step sampler).
  public init?(parsing text: String) {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard (1...3).contains(parts.count), let kind = SamplerKind(rawValue: parts[0]) else { return nil }
    self.init(kind)
    guard parts.count >= 2 else { return }
    if let n = Int(parts[1]) {
      guard n >= 1, parts.count == 2 else { return nil }
      steps = n
    } else if let norm = AdaptiveErrorNorm(rawValue: parts[1]) {
      guard case .adaptive = kind.defaultSteps else { return nil }
      errorNorm = norm
      if parts.count == 3 {
        guard let m = Int(parts[2]), m >= 1 else { return nil }
        minimumSteps = m
      }
    } else {
      return nil
    }
  }

  /// The options of `sample` for this choice.
  public var options: SamplerOptions {
    SamplerOptions(steps: steps.map { .fixed($0) }, errorNorm: errorNorm, minimumSteps: minimumSteps)
  }

  /// The sampler's name with its step control as parsed (`label(default:)` names the default sampler).
  public var description: String { label(default: nil) }

  /// `description`, with `defaultKind` standing for a choice without a kind.
  public func label(default defaultKind: SamplerKind?) -> String {
    let name = (kind ?? defaultKind)?.rawValue ?? "default"
    if let steps { return "\(name):\(steps)" }
    if let errorNorm { return "\(name):\(errorNorm.rawValue)" + (minimumSteps.map { ":\($0)" } ?? "") }
    return name
  }
}

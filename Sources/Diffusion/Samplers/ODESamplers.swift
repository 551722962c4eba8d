// Probability-flow ODE samplers: Euler, Heun (EDM Algorithm 1), the EDM stochastic sampler (Algorithm 2),
// Dormand–Prince 5(4) and Tsitouras 5(4). DPM-Solver++(2M) is in DPMSolver.swift.
//
// The probability-flow ODE dz/dt = f z − ½ g² s = (f − ½λ̇) z + ½ λ̇ α x̂ is integrated from t = 1 to 0. For
// variance exploding with the EDM schedule it is EDM's dz/dσ = (z − D)/σ and uniform steps in t are Karras's
// ρ-spaced σ steps, so `sampleHeun` with `.fixed(n)` is Algorithm 1 (with a correction on the last step too,
// since σ(0) = σ_min > 0).

import Foundation
import NumericCore

/// Euler on the probability-flow ODE: z ← z + h F(z, t). With `.adaptive`, the Heun–Euler error estimate reuses
/// the next step's first evaluation (no extra cost on accepted steps).
public func sampleODEEuler(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: StepControl = .fixed(500),
  callback: StepCallback? = nil
) throws -> SamplingResult {
  try integrateProbabilityFlow(
    tableau: .euler, name: "ode-euler", denoiser: denoiser, initial: initial, schedule: schedule, steps: steps,
    callback: callback)
}

/// Heun's second-order method (EDM Algorithm 1): k₁ = F(z, t), k₂ = F(z + h k₁, t + h), z ← z + ½h(k₁ + k₂).
/// Two evaluations per step; `.adaptive` uses the Euler solution as the embedded estimate.
public func sampleHeun(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: StepControl = .fixed(500),
  callback: StepCallback? = nil
) throws -> SamplingResult {
  try integrateProbabilityFlow(
    tableau: .heun, name: "heun", denoiser: denoiser, initial: initial, schedule: schedule, steps: steps,
    callback: callback)
}

/// Dormand–Prince 5(4) (RK45), six evaluations per step (FSAL when adaptive).
public func sampleRK45(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule,
  steps: StepControl = .adaptive(.ode), callback: StepCallback? = nil
) throws -> SamplingResult {
  try integrateProbabilityFlow(
    tableau: .dormandPrince, name: "rk45", denoiser: denoiser, initial: initial, schedule: schedule, steps: steps,
    callback: callback)
}

/// Tsitouras 5(4) (Tsit5), six evaluations per step (FSAL when adaptive).
public func sampleTsit5(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule,
  steps: StepControl = .adaptive(.ode), callback: StepCallback? = nil
) throws -> SamplingResult {
  try integrateProbabilityFlow(
    tableau: .tsit5, name: "tsit5", denoiser: denoiser, initial: initial, schedule: schedule, steps: steps,
    callback: callback)
}

/// Options of the EDM stochastic sampler (Karras et al. 2022, Algorithm 2), in VE-equivalent noise σ_e = σ/α.
public struct ChurnOptions: Sendable, Equatable {
  /// S_churn: total amount of added noise; per step γ = min(S_churn/N, √2 − 1).
  public var churn: Double
  /// Churn only while S_tmin ≤ σ_e ≤ S_tmax.
  public var minNoise: Double
  public var maxNoise: Double
  /// S_noise: scale of the added noise (values ≠ 1 bias the sample variance on purpose).
  public var noiseScale: Double

  public init(churn: Double = 40, minNoise: Double = 0, maxNoise: Double = .infinity, noiseScale: Double = 1) {
    self.churn = churn
    self.minNoise = minNoise
    self.maxNoise = maxNoise
    self.noiseScale = noiseScale
  }
}

/// EDM Algorithm 2: before each Heun step, raise the noise from σ_e to σ̂_e = (1 + γ)σ_e by adding
/// √(σ̂_e² − σ_e²) S_noise ξ to z/α (exact for the forward marginals of any variance type), then take the Heun
/// step from t̂ = t(λ̂), λ̂ = −2 log σ̂_e (clamped to λ_min), to the next grid time.
public func sampleEDMStochastic(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: StepControl = .fixed(500),
  options: ChurnOptions = ChurnOptions(), rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  let grid = try TimeGrid.resolve(steps, sampler: "edm-stochastic")
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  let f: (Matrix, Double) -> Matrix = { field.ode($0, $1) }
  let n = grid.count - 1
  let gamma = min(options.churn / Double(n), 2.0.squareRoot() - 1)
  var z = initial
  for i in 0..<n {
    var t = grid[i]
    let p = schedule.point(t)
    let sigmaE = p.sigma / p.alpha
    if gamma > 0, sigmaE >= options.minNoise, sigmaE <= options.maxNoise {
      let lHat = max(-2 * log(sigmaE * (1 + gamma)), schedule.logSNRMin)
      let tHat = min(1, schedule.time(logSNR: lHat))
      if tHat > t {
        let (aHat, sHat) = schedule.variance.alphaSigma(logSNR: lHat)
        let sigmaEHat = sHat / aHat
        let add = (max(0, sigmaEHat * sigmaEHat - sigmaE * sigmaE)).squareRoot() * options.noiseScale
        let xi = rng.normalMatrix(rows: z.rows, cols: z.cols)
        update(&z, scale: aHat / p.alpha, [(aHat * add, xi)])
        t = tHat
      }
    }
    z = RungeKuttaTableau.heun.step(field: f, z: z, t: t, h: grid[i + 1] - t, first: nil, withError: false).y
    callback?(SamplerStep(index: i, time: grid[i + 1], state: z))
  }
  return SamplingResult(samples: z, field: field, steps: n)
}

// DPM-Solver++(2M): a multistep exponential integrator of the probability-flow ODE in log-SNR.

import Foundation
import NumericCore

/// DPM-Solver++(2M) (Lu et al. 2022), multistep second order in half-log-SNR η = λ/2 with data prediction:
///
///     h = η_{i+1} − η_i,   D = (1 + 1/(2r)) x̂_i − 1/(2r) x̂_{i−1},  r = h_{i−1}/h   (D = x̂_0 on the first step),
///     z_{i+1} = (σ_{i+1}/σ_i) z_i − α_{i+1} expm1(−h) D.
///
/// One evaluation per step. Exact for the linear part of the probability-flow ODE of any variance type.
public func sampleDPMSolver2M(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule, steps: StepControl = .fixed(50),
  callback: StepCallback? = nil
) throws -> SamplingResult {
  let grid = try TimeGrid.resolve(steps, sampler: "dpm-solver-2m")
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  var z = initial
  var previous: Matrix? = nil
  var hPrevious = 0.0
  for i in 0..<(grid.count - 1) {
    let (p0, p1) = (schedule.point(grid[i]), schedule.point(grid[i + 1]))
    let x0 = field.denoise(z, grid[i])
    let h = 0.5 * (p1.logSNR - p0.logSNR)
    let c = -p1.alpha * expm1(-h)
    // z ← (σ₁/σ₀) z + c D with D = (1 + 1/(2r)) x̂ᵢ − 1/(2r) x̂ᵢ₋₁, in one pass.
    if let xp = previous {
      let r = hPrevious / h
      update(&z, scale: p1.sigma / p0.sigma, [(c * (1 + 1 / (2 * r)), x0), (-c / (2 * r), xp)])
    } else {
      update(&z, scale: p1.sigma / p0.sigma, [(c, x0)])
    }
    previous = x0
    hPrevious = h
    callback?(SamplerStep(index: i, time: grid[i + 1], state: z))
  }
  return SamplingResult(samples: z, field: field, steps: grid.count - 1)
}

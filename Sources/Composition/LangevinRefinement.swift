// Unadjusted Langevin refinement at a fixed small diffusion time, the corrector that the direct composition rule
// needs (Geffner et al. 2023 correct compositional samples with Langevin steps; Documentation/Methods.md §8.4).
//
// The direct rule s_p + Σ_j (s_j − s_p) is the exact posterior score only at t → 0; at intermediate t it is the
// score of a different density (for Gaussians it is too concentrated), and the reverse SDE does not spend enough
// time near t = 0 to relax. At a small t₀ the composed score is accurate, so
//
//     z ← z + ε s(z, t₀) + √(2ε) ξ,        ε = η · min_j Var(z_j)   (sample variances of the current batch),
//
// relaxes the samples to p_{t₀} ≈ the posterior. For a Gaussian target the stationary variance of this chain is
// inflated by 1/(1 − η/2) along the narrowest direction (η = 0.05: +1.3% in the standard deviation) and the
// contraction per step is (1 − η), so ~3/η steps suffice.

import Foundation
import NumericCore
import Diffusion

/// Refines samples z [B, d] with `steps` unadjusted Langevin moves on the denoiser's score at the time where the
/// schedule's log-SNR equals `logSNR` (default 2 ln 1000, σ/α = 10⁻³).
public func langevinRefine(
  _ z: Matrix, denoiser: Denoiser, schedule: any NoiseSchedule, logSNR: Double = 2 * log(1000.0), steps: Int = 150,
  stepFactor eta: Double = 0.05, rng: inout Xoshiro
) -> Matrix {
  let t = min(1, max(0, schedule.time(logSNR: logSNR)))
  let (a, s) = schedule.alphaSigma(t)
  var x = z
  x.scale(by: Float(a))  // samples at t = 0 → states at t₀ (the noise σ is negligible)
  for _ in 0..<steps {
    let v = x.columnMeanVariance().variance
    let eps = eta * max(v.min() ?? 1, 1e-12)
    let score = Tweedie.score(denoised: denoiser(x, t), z: x, alpha: a, sigma: s)
    x.add(score, scale: Float(eps))
    x.add(rng.normalMatrix(rows: x.rows, cols: x.cols), scale: Float((2 * eps).squareRoot()))
  }
  x.scale(by: Float(1 / a))
  return x
}

// The adaptive two-step reverse-SDE solver of Jolicoeur-Martineau et al. 2021, "Gotta Go Fast When Generating
// Data with Score-Based Models" (the review's default sampler; Documentation/Methods.md §5.2).

import Foundation
import NumericCore

/// Adaptive Euler–Maruyama / improved-Euler pair with a shared noise draw ξ:
///
///     z' = z + h F(z, t) + g(t)√|h| ξ,          z̃ = z + h F(z', t + h) + g(t + h)√|h| ξ,
///     z'' = ½(z' + z̃),                          δ = max(e_abs, e_rel · max(|z'|, |z'_prev|)),
///     E = max over the whole batch of |z'' − z'|/δ   (max-norm; the paper uses ℓ2/√n per sample; with
///         `AdaptiveErrorNorm.rms` the root-mean-square over all entries of the batch),
///
/// accept z ← z'' if E ≤ 1 (or |h| is at its minimum), then |h| ← clip(|h|·safety·E^{−exponent}, h_min,
/// min(h_max, remaining)). h_min = span/maxSteps, h_max = h_init = span/minSteps. Two evaluations per accepted
/// step and one per rejected trial (F(z, t) is kept when a trial is rejected).
/// Because E is a max over the batch, the step sizes depend on the batch composition.
public func sampleTwoStepAdaptive(
  denoiser: @escaping Denoiser, initial: Matrix, schedule: any NoiseSchedule,
  options: AdaptiveStepOptions = .sde, rng: inout Xoshiro, callback: StepCallback? = nil
) throws -> SamplingResult {
  guard options.minSteps >= 1, options.maxSteps >= options.minSteps else {
    throw DiffusionError.invalidOption("two-step-adaptive: need 1 ≤ minSteps ≤ maxSteps")
  }
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  let (hMin, hMax) = (1 / Double(options.maxSteps), 1 / Double(options.minSteps))
  let (eAbs, eRel) = (Float(options.absoluteTolerance), Float(options.relativeTolerance))
  var z = initial
  var previous = initial
  var t = 1.0
  var hAbs = hMax
  var (accepted, rejected, trials) = (0, 0, 0)
  let maxTrials = 4 * options.maxSteps
  var driftHere: Matrix? = nil  // F(z, t), kept across rejected trials
  var xi = Matrix(rows: initial.rows, cols: initial.cols)  // the step's noise, refilled in place
  while t > 1e-12 {
    hAbs = min(hAbs, t)
    let h = -hAbs
    let t1 = t - hAbs < 1e-12 ? 0 : t - hAbs
    rng.fillNormal(&xi, std: Float(hAbs.squareRoot()))
    let f0 = driftHere ?? field.sde(z, t)
    driftHere = f0
    let euler = combine(z, [(h, f0), (field.g(t), xi)])
    let f1 = field.sde(euler, t1)
    // z'' = ½(z' + z + h F(z', t + h) + g(t + h) ξ) in one pass.
    var proposal = f1
    update(&proposal, scale: 0.5 * h, [(0.5, euler), (0.5, z), (0.5 * field.g(t1), xi)])
    // E = max (or RMS) of |z'' − z'| / (max(e_abs, e_rel·max(|z'|, |z'_prev|)) + 1e-10)
    var err: Float = 0
    var squares: Double = 0
    proposal.withUnsafeBufferPointer { pp in
      euler.withUnsafeBufferPointer { pe in
        previous.withUnsafeBufferPointer { pv in
          for i in 0..<pp.count {
            let delta = Swift.max(eAbs, eRel * Swift.max(Swift.abs(pe[i]), Swift.abs(pv[i])))
            let r = Swift.abs(pp[i] - pe[i]) / (delta + 1e-10)
            err = Swift.max(err, r)
            squares += Double(r * r)
          }
        }
      }
    }
    trials += 1
    let e = options.errorNorm == .rms ? (squares / Double(max(proposal.storage.count, 1))).squareRoot() : Double(err)
    if e <= 1 || hAbs <= hMin * (1 + 1e-9) || trials >= maxTrials || !e.isFinite {
      z = proposal
      previous = euler
      driftHere = nil
      t = t1
      accepted += 1
      callback?(SamplerStep(index: accepted - 1, time: t, state: z))
    } else {
      rejected += 1
    }
    let factor = e > 0 && e.isFinite ? options.safety * pow(e, -options.exponent) : 5
    hAbs = min(max(hAbs * factor, hMin), hMax)
  }
  return SamplingResult(samples: z, field: field, steps: accepted, rejected: rejected)
}

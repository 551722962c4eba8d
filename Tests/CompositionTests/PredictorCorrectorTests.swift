import Foundation
import Testing
import NumericCore
import Diffusion
import Composition

/// The predictor–corrector sampler on composed scores (exact per-observation Gaussian scores).
@Suite struct PredictorCorrectorTests {
  let fx = GaussianFixture()

  func run(_ kind: SamplerKind, n: Int, method: CompositionMethod, corrector: CorrectorOptions = CorrectorOptions(),
           steps: Int = 200, options: CompositionOptions? = nil, rows: Int = 600)
    throws -> (mean: Double, std: Double, corr: Double, nonFinite: Int)
  {
    let y = fx.observations(n)
    var o = options ?? CompositionOptions(method: .direct, clip: nil)
    o.method = method
    let composer = try ScoreComposer(
      denoiser: fx.model.pairedDenoiser(observations: y, schedule: fx.schedule, space: fx.space), observations: n,
      prior: fx.prior, schedule: fx.schedule, options: o, seed: 11)
    var rng = Xoshiro(seed: 5)
    let z1 = priorSample(rows: rows, cols: 2, schedule: fx.schedule, rng: &rng)
    let r = try sample(kind, denoiser: composer.denoiser, initial: z1, schedule: fx.schedule,
                       options: SamplerOptions(steps: .fixed(steps), corrector: corrector), rng: &rng)
    let x = fx.space.toOriginal(r.samples)
    let truth = fx.model.posterior(y)
    let e = momentErrors(x, mean: truth.mean, covariance: truth.covariance)
    return (e.mean, e.std, e.corr, r.nonFiniteRows)
  }

  /// The corrector step ε = 2(r‖ξ‖/‖s‖)² scales with the inverse squared norm of the score it is given, so the
  /// J-fold sharper composed score gets a J²-fold smaller step and the move ε·s stays O(r²): no divergence
  /// (checked here up to J = 100, with mini-batches, clipping and r = 0.16).
  @Test func predictorCorrectorOnComposedScores() throws {
    let gauss = CompositionMethod.gauss(.shared(fx.model.singleObservationPrecision(space: fx.space)))
    for n in [10, 100] {
      let e = try run(.pc, n: n, method: gauss)
      print("pc gauss N=\(n): \(e)")
      #expect(e.nonFinite == 0 && e.mean < 0.08 && e.std < 0.08 && e.corr < 0.08)
    }
    let snr = try run(.pc, n: 100, method: gauss, corrector: CorrectorOptions(steps: 2, signalToNoise: 0.16),
                      steps: 200, options: CompositionOptions(method: .direct, clip: -3...3))
    print("pc gauss N=100, 2 moves, r = 0.16, clipped: \(snr)")
    #expect(snr.nonFinite == 0 && snr.mean < 0.3 && snr.std < 0.15)
    let mb = try run(.pc, n: 100, method: .direct, steps: 200, options: CompositionOptions(miniBatchSize: 10))
    print("pc direct N=100, M=10: \(mb)")
    #expect(mb.nonFinite == 0 && mb.mean < 0.15)
  }
}

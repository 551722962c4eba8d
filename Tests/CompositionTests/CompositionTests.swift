import Foundation
import Testing
import NumericCore
import Diffusion
import Composition

@Suite struct CompositionTests {
  let fx = GaussianFixture()

  func run(_ method: CompositionMethod, n: Int, miniBatch: Int? = nil, samples: Int = 2000,
           sampler: SamplerKind = .eulerMaruyama, steps: StepControl? = .fixed(400))
    throws -> (mean: Double, std: Double, corr: Double, evaluations: Int)
  {
    let y = fx.observations(n)
    let composer = try ScoreComposer(
      denoiser: fx.model.pairedDenoiser(observations: y, schedule: fx.schedule, space: fx.space), observations: n,
      prior: fx.prior, schedule: fx.schedule,
      options: CompositionOptions(method: method, miniBatchSize: miniBatch, clip: nil), seed: 11)
    var rng = Xoshiro(seed: 5)
    let z1 = priorSample(rows: samples, cols: 2, schedule: fx.schedule, rng: &rng)
    let r = try sample(sampler, denoiser: composer.denoiser, initial: z1, schedule: fx.schedule,
                       options: SamplerOptions(steps: steps), rng: &rng)
    let theta = fx.space.toOriginal(r.samples)
    let truth = fx.model.posterior(y)
    let e = momentErrors(theta, mean: truth.mean, covariance: truth.covariance)
    return (e.mean, e.std, e.corr, r.evaluations)
  }

  @Test(arguments: [1, 10, 100])
  func directMatchesAnalyticPosterior(n: Int) throws {
    let e = try run(.direct, n: n)
    print("direct N=\(n): \(e)")
    #expect(e.mean < 0.1 && e.std < 0.08 && e.corr < 0.06)
  }

  @Test(arguments: [1, 10, 100])
  func gaussExactPrecisionMatchesAnalyticPosterior(n: Int) throws {
    let e = try run(.gauss(.shared(fx.model.singleObservationPrecision(space: fx.space))), n: n)
    print("gauss N=\(n): \(e)")
    #expect(e.mean < 0.1 && e.std < 0.08 && e.corr < 0.06)
  }

  @Test(arguments: [1, 10, 100])
  func autoGaussMatchesAnalyticPosterior(n: Int) throws {
    let e = try run(.autoGauss(AutoGaussOptions(samplesPerObservation: 500)), n: n)
    print("auto-gauss N=\(n): \(e)")
    #expect(e.mean < 0.1 && e.std < 0.08 && e.corr < 0.06)
  }

  @Test(arguments: [1, 10, 100])
  func jacobianMatchesAnalyticPosterior(n: Int) throws {
    let e = try run(.jacobian(.finiteDifference(step: 0.05)), n: n, samples: 1000)
    print("jac N=\(n): \(e)")
    #expect(e.mean < 0.12 && e.std < 0.1 && e.corr < 0.08)
  }
}

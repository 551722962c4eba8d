import Foundation
import Testing
import NumericCore
import Diffusion
import Composition

/// A model trained under a wide prior N(0, 3²I), sampled under a narrow new prior N(μ̃, Σ̃) without retraining,
/// against the analytic posterior under the new prior.
@Suite struct PriorAdaptationTests {
  let schedule = EDMSchedule(variance: .preserving)
  let newMean = [0.5, -0.5]
  let newCov = DMatrix.diagonal([0.25, 0.5])
  let noise = DMatrix.identity(2)

  func setup() throws -> (posterior: GaussianDenoiser, truth: (mean: [Double], covariance: DMatrix)) {
    let train = try GaussianIIDModel(priorMean: [0, 0], priorCovariance: DMatrix.identity(2, scale: 9),
                                     noiseCovariance: noise)
    var rng = Xoshiro(seed: 12)
    let y = train.simulate(theta: [0.8, -1.2], count: 3, rng: &rng)
    let tp = train.posterior(y)
    let newModel = try GaussianIIDModel(priorMean: newMean, priorCovariance: newCov, noiseCovariance: noise)
    return (try GaussianDenoiser(mean: tp.mean, covariance: tp.covariance, schedule: schedule), newModel.posterior(y))
  }

  func check(_ d: @escaping Denoiser, truth: (mean: [Double], covariance: DMatrix), label: String,
             tolerance: Double, refine: Bool = false) throws {
    var rng = Xoshiro(seed: 21)
    let z1 = priorSample(rows: 2000, cols: 2, schedule: schedule, rng: &rng)
    var x = try sample(.eulerMaruyama, denoiser: d, initial: z1, schedule: schedule,
                       options: SamplerOptions(steps: .fixed(200)), rng: &rng).samples
    if refine { x = langevinRefine(x, denoiser: d, schedule: schedule, rng: &rng) }
    let e = momentErrors(x, mean: truth.mean, covariance: truth.covariance)
    print("\(label): \(e)")
    #expect(e.mean < tolerance && e.std < tolerance && e.corr < tolerance)
  }

  @Test func exactGaussianRatioWithTweedieKernel() throws {
    let (post, truth) = try setup()
    let r = try GaussianMixtureRatio.gaussianRatio(newMean: newMean, newCovariance: newCov, trainingMean: [0, 0],
                                                   trainingCovariance: DMatrix.identity(2, scale: 9))
    try check(priorGuided(post.denoiser, ratio: r, schedule: schedule, kernel: .tweedie(step: 0.05)), truth: truth,
              label: "prior-guide exact ratio", tolerance: 0.08)
  }

  @Test func fittedMixtureRatio() throws {
    let (post, truth) = try setup()
    var rng = Xoshiro(seed: 30)
    let l = try newCov.cholesky()
    var xs = Matrix(rows: 4000, cols: 2)
    var logW = [Double]()
    for r in 0..<4000 {
      let v = rng.nextMultivariateNormal(mean: newMean, choleskyFactor: l)
      xs[r, 0] = Float(v[0]); xs[r, 1] = Float(v[1])
      logW.append((v[0] * v[0] + v[1] * v[1]) / 18)  // −log N(v; 0, 9I) + const
    }
    let r = try GaussianMixtureRatio.fit(samples: xs, logWeights: logW, components: 2, iterations: 50)
    try check(priorGuided(post.denoiser, ratio: r, schedule: schedule, kernel: .tweedie(step: 0.05)), truth: truth,
              label: "prior-guide fitted K=2", tolerance: 0.1)
  }

  @Test func diffusedScoreDifferenceWithRefinement() throws {
    let (post, truth) = try setup()
    let d = priorAdapted(
      post.denoiser, newPrior: try GaussianCompositionPrior(mean: newMean, covariance: newCov),
      trainingPrior: try GaussianCompositionPrior(mean: [0, 0], covariance: DMatrix.identity(2, scale: 9)),
      schedule: schedule)
    try check(d, truth: truth, label: "diffused score difference", tolerance: 0.1, refine: true)
  }
}

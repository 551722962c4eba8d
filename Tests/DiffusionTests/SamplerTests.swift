import Foundation
import NumericCore
import Testing
import Diffusion

/// Step settings for the 3-d sampler matrix: fewer steps than the defaults where the discretization error stays
/// well below the statistical tolerance, and the annealed-Langevin setting that equilibrates (see its doc).
func matrixOptions(_ kind: SamplerKind) -> SamplerOptions {
  switch kind {
  case .twoStepAdaptive, .rk45, .tsit5: return SamplerOptions()
  case .langevin: return SamplerOptions(steps: .fixed(2000), langevinStepSizeFactor: 0.2)
  case .dpmSolver2M, .heun, .edmStochastic: return SamplerOptions(steps: .fixed(100))
  case .shark: return SamplerOptions(steps: .fixed(250))
  default: return SamplerOptions(steps: .fixed(500))
  }
}

func format(_ x: Double) -> String { String(format: "%.2f", x) }

@Suite("Samplers recover Gaussian targets through the exact denoiser")
struct SamplerTests {
  @Test("Every sampler × every schedule: correlated 3-d Gaussian, 4000 samples, mean and covariance within 5 SE",
        arguments: SamplerKind.allCases)
  func matrix(kind: SamplerKind) throws {
    let (mean, cov) = correlatedGaussian(dimension: 3)
    for (k, (name, s)) in samplerSchedules.enumerated() {
      let oracle = try GaussianDenoiser(mean: mean, covariance: cov, schedule: s)
      var rng = Xoshiro(seed: 100 + UInt64(k))
      let z1 = priorSample(rows: 4000, cols: 3, schedule: s, rng: &rng)
      let r = try sample(
        kind, denoiser: oracle.denoiser, initial: z1, schedule: s, options: matrixOptions(kind), rng: &rng)
      let (zm, zc) = worstZScore(r.samples, mean: mean, covariance: cov)
      print("matrix \(kind.rawValue) \(name): z_mean \(format(zm)) z_cov \(format(zc)) evaluations \(r.evaluations)")
      #expect(r.nonFiniteRows == 0)
      if kind == .langevin && (name == "sub-vp" || name == "rectified-flow") {
        // Known bias of one-move-per-level annealed Langevin when σ² vanishes quadratically (see its doc).
        #expect(zm < 25 && zc < 25, "langevin on \(name): \(zm), \(zc)")
      } else {
        #expect(zm < 5 && zc < 5, "\(kind.rawValue) on \(name): worst z-scores \(zm), \(zc)")
      }
    }
  }

  @Test("Every sampler with its defaults: correlated 10-d Gaussian, 20,000 samples, EDM-VP",
        arguments: SamplerKind.allCases)
  func tenDimensional(kind: SamplerKind) throws {
    let (mean, cov) = correlatedGaussian(dimension: 10)
    let s = EDMSchedule()
    let oracle = try GaussianDenoiser(mean: mean, covariance: cov, schedule: s)
    var rng = Xoshiro(seed: 7)
    // Annealed Langevin needs 2000 levels; its 20,000-sample run is the 3-d one below.
    let rows = kind == .langevin ? 5000 : 20_000
    let z1 = priorSample(rows: rows, cols: 10, schedule: s, rng: &rng)
    let options = kind == .langevin ? matrixOptions(.langevin) : SamplerOptions()
    let start = Date()
    let r = try sample(kind, denoiser: oracle.denoiser, initial: z1, schedule: s, options: options, rng: &rng)
    let (zm, zc) = worstZScore(r.samples, mean: mean, covariance: cov)
    print("10-d \(kind.rawValue): z_mean \(format(zm)) z_cov \(format(zc)) evaluations \(r.evaluations) steps \(r.steps) rejected \(r.rejectedSteps) seconds \(format(Date().timeIntervalSince(start)))")
    #expect(r.nonFiniteRows == 0)
    #expect(zm < 5 && zc < 5, "\(kind.rawValue): worst z-scores \(zm), \(zc)")
    if case .adaptive = kind.defaultSteps {
      #expect(r.evaluations < 500, "\(kind.rawValue) used \(r.evaluations) evaluations")
    }
  }

  @Test("Annealed Langevin: 20,000 samples of the correlated 3-d Gaussian, EDM-VP")
  func langevinLarge() throws {
    let (mean, cov) = correlatedGaussian(dimension: 3)
    let s = EDMSchedule()
    let oracle = try GaussianDenoiser(mean: mean, covariance: cov, schedule: s)
    var rng = Xoshiro(seed: 8)
    let z1 = priorSample(rows: 20_000, cols: 3, schedule: s, rng: &rng)
    let r = try sample(.langevin, denoiser: oracle.denoiser, initial: z1, schedule: s, options: matrixOptions(.langevin), rng: &rng)
    let (zm, zc) = worstZScore(r.samples, mean: mean, covariance: cov)
    print("langevin 20k: z_mean \(format(zm)) z_cov \(format(zc))")
    #expect(zm < 5 && zc < 5)
  }

  @Test("ODE solvers × fixed, scheduled and adaptive steps follow the exact Gaussian flow map pathwise")
  func exactFlowMap() throws {
    // For a diagonal Gaussian the probability-flow map is z₀ = α₀μ + √(m₀/m₁)(z₁ − α₁μ), m = α²v + σ².
    let v = [0.3, 1.0, 2.5]
    let mu = [0.5, -1.0, 0.2]
    for (name, s) in samplerSchedules {
      let oracle = try GaussianDenoiser(mean: mu, covariance: .diagonal(v), schedule: s)
      var rng = Xoshiro(seed: 11)
      let z1 = priorSample(rows: 200, cols: 3, schedule: s, rng: &rng)
      let (a0, s0) = s.alphaSigma(0), (a1, s1) = s.alphaSigma(1)
      var exact = z1
      for r in 0..<200 {
        for j in 0..<3 {
          let ratio = ((a0 * a0 * v[j] + s0 * s0) / (a1 * a1 * v[j] + s1 * s1)).squareRoot()
          exact[r, j] = Float(a0 * mu[j] + ratio * (Double(z1[r, j]) - a1 * mu[j]))
        }
      }
      let tolerance = AdaptiveStepOptions(absoluteTolerance: 1e-5, relativeTolerance: 1e-4)
      func run(_ solver: String, _ steps: StepControl) throws -> SamplingResult {
        let d = oracle.denoiser
        switch solver {
        case "ode-euler": return try sampleODEEuler(denoiser: d, initial: z1, schedule: s, steps: steps)
        case "heun": return try sampleHeun(denoiser: d, initial: z1, schedule: s, steps: steps)
        case "rk45": return try sampleRK45(denoiser: d, initial: z1, schedule: s, steps: steps)
        case "tsit5": return try sampleTsit5(denoiser: d, initial: z1, schedule: s, steps: steps)
        default: return try sampleDPMSolver2M(denoiser: d, initial: z1, schedule: s, steps: steps)
        }
      }
      let uniformL = { (n: Int) in StepControl.scheduled(TimeGrid.uniformLogSNR(steps: n, schedule: s)) }
      let cases: [(String, String, StepControl, Double)] = [
        ("ode-euler", "fixed", .fixed(500), 0.25), ("ode-euler", "scheduled", uniformL(500), 0.25),
        ("ode-euler", "adaptive", .adaptive(tolerance), 0.25),
        ("heun", "fixed", .fixed(100), 0.05), ("heun", "scheduled", uniformL(100), 0.05),
        ("heun", "adaptive", .adaptive(tolerance), 0.05),
        ("rk45", "fixed", .fixed(50), 2e-3), ("rk45", "scheduled", uniformL(50), 2e-3),
        ("rk45", "adaptive", .adaptive(.bayesFlowODE), 2e-3),
        ("tsit5", "fixed", .fixed(50), 2e-3), ("tsit5", "scheduled", uniformL(50), 2e-3),
        ("tsit5", "adaptive", .adaptive(.bayesFlowODE), 2e-3),
        ("rk45", "adaptive rms", .adaptive(.ode), 2e-3), ("tsit5", "adaptive rms", .adaptive(.ode), 2e-3),
        ("dpm-solver-2m", "fixed", .fixed(100), 0.05), ("dpm-solver-2m", "scheduled", uniformL(50), 0.05),
      ]
      for (solver, mode, steps, tol) in cases {
        let label = solver + " " + mode
        let r = try run(solver, steps)
        // Error relative to the data scale (VE states start at σ_max = 80).
        let err = zip(r.samples.storage, exact.storage).reduce(0.0) { max($0, Double(abs($1.0 - $1.1))) }
        print("flow \(name) \(label): max error \(String(format: "%.2e", err)) evaluations \(r.evaluations)")
        #expect(err < tol, "\(label) on \(name): max error \(err)")
      }
    }
  }

  @Test("Evaluation counts: n for Euler and DPM-Solver++, 2n for Heun, 6n for RK45/Tsit5, 2 per accepted and 1 per rejected two-step trial")
  func evaluationCounts() throws {
    let s = CosineSchedule()
    let oracle = try GaussianDenoiser(mean: [0], covariance: .identity(1), schedule: s)
    var rng = Xoshiro(seed: 1)
    let z1 = priorSample(rows: 10, cols: 1, schedule: s, rng: &rng)
    let d = oracle.denoiser
    #expect(try sampleODEEuler(denoiser: d, initial: z1, schedule: s, steps: .fixed(37)).evaluations == 37)
    #expect(try sampleHeun(denoiser: d, initial: z1, schedule: s, steps: .fixed(37)).evaluations == 74)
    #expect(try sampleRK45(denoiser: d, initial: z1, schedule: s, steps: .fixed(7)).evaluations == 42)
    #expect(try sampleTsit5(denoiser: d, initial: z1, schedule: s, steps: .fixed(7)).evaluations == 42)
    #expect(try sampleDPMSolver2M(denoiser: d, initial: z1, schedule: s, steps: .fixed(9)).evaluations == 9)
    #expect(try sampleShARK(denoiser: d, initial: z1, schedule: s, steps: .fixed(9), rng: &rng).evaluations == 18)
    let pc = try samplePredictorCorrector(
      denoiser: d, initial: z1, schedule: s, steps: .fixed(9), corrector: CorrectorOptions(steps: 2), rng: &rng)
    #expect(pc.evaluations == 27)
    let two = try sampleTwoStepAdaptive(denoiser: d, initial: z1, schedule: s, rng: &rng)
    #expect(two.evaluations == 2 * two.steps + two.rejectedSteps)
  }

  @Test("Callbacks, non-finite reporting and bad options")
  func plumbing() throws {
    let s = EDMSchedule()
    let oracle = try GaussianDenoiser(mean: [0, 0], covariance: .identity(2), schedule: s)
    var rng = Xoshiro(seed: 2)
    let z1 = priorSample(rows: 5, cols: 2, schedule: s, rng: &rng)
    nonisolated(unsafe) var times: [Double] = []
    _ = try sample(.heun, denoiser: oracle.denoiser, initial: z1, schedule: s, options: SamplerOptions(steps: .fixed(12)),
                   rng: &rng) { times.append($0.time) }
    #expect(times.count == 12 && times.last == 0)
    let broken: Denoiser = { z, _ in Matrix(rows: z.rows, cols: z.cols, repeating: .nan) }
    for kind in SamplerKind.allCases {
      let r = try sample(kind, denoiser: broken, initial: z1, schedule: s, options: SamplerOptions(steps: kind == .langevin ? .fixed(3) : nil), rng: &rng)
      #expect(r.nonFiniteRows == 5, "\(kind.rawValue)")
    }
    #expect(throws: DiffusionError.self) {
      try sample(.eulerMaruyama, denoiser: oracle.denoiser, initial: z1, schedule: s,
                 options: SamplerOptions(steps: .fixed(0)), rng: &rng)
    }
    #expect(throws: DiffusionError.self) {
      try sample(.sea, denoiser: oracle.denoiser, initial: z1, schedule: s,
                 options: SamplerOptions(steps: .adaptive(.sde)), rng: &rng)
    }
    #expect(throws: DiffusionError.self) {
      try sample(.heun, denoiser: oracle.denoiser, initial: z1, schedule: s,
                 options: SamplerOptions(steps: .scheduled([1, 0.5, 0.7, 0])), rng: &rng)
    }
    #expect(SamplerKind(rawValue: "dpm-solver-2m") == .dpmSolver2M && SamplerKind(rawValue: "two-step-adaptive") != nil)
  }
}

@Suite("Parameterizations end to end")
struct ParameterizedSamplingTests {
  @Test("A network that outputs each prediction type's exact target samples the Gaussian",
        arguments: Prediction.allCases)
  func exactNetwork(prediction: Prediction) throws {
    let (mean, cov) = correlatedGaussian(dimension: 3)
    for (name, s) in [("edm-vp", EDMSchedule() as any NoiseSchedule), ("cosine", CosineSchedule()),
                      ("edm-ve", EDMSchedule(variance: .exploding))] {
      let oracle = try GaussianDenoiser(mean: mean, covariance: cov, schedule: s)
      // The "network" recovers t from τ, undoes c_in and returns the exact prediction-space output.
      let network: NetworkFunction = { input, tau in
        let l = s.logSNRMin + (Double(tau) + 1) / 2 * (s.logSNRMax - s.logSNRMin)
        let t = min(1, max(0, s.time(logSNR: l)))
        let (a, sg) = s.alphaSigma(t)
        let c = prediction.coefficients(alpha: a, sigma: sg, sigmaData: s.sigmaData)
        var z = input
        z.scale(by: Float(1 / c.inputScale))
        return c.output(denoised: oracle.denoise(z, t), z: z)
      }
      var rng = Xoshiro(seed: 21)
      let z1 = priorSample(rows: 4000, cols: 3, schedule: s, rng: &rng)
      let r = try sample(
        .heun, denoiser: prediction.denoiser(schedule: s, network: network), initial: z1, schedule: s,
        options: SamplerOptions(steps: .fixed(100)), rng: &rng)
      let (zm, zc) = worstZScore(r.samples, mean: mean, covariance: cov)
      print("prediction \(prediction.rawValue) \(name): z_mean \(format(zm)) z_cov \(format(zc))")
      #expect(zm < 5 && zc < 5, "\(prediction.rawValue) on \(name): \(zm), \(zc)")
    }
  }
}

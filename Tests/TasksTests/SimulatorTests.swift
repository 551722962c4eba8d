import Foundation
import NumericCore
import Testing
import Tasks

func columnMoments(_ m: Matrix) -> (mean: [Double], std: [Double]) {
  let (mean, v) = m.columnMeanVariance()
  return (mean, v.map { $0.squareRoot() })
}

@Suite struct SimulatorTests {
  @Test(arguments: TaskRegistry.names)
  func shapesSupportAndReproducibility(name: String) throws {
    let task = try TaskRegistry.task(named: name)
    #expect(task.name == name)
    // Fewer draws for the costly simulators and for the image tasks (a grf_256 field is 65,536 values).
    let n = name == "drift_diffusion" ? 40 : name == "beer2014" ? 6 : min(300, max(8, 200_000 / task.dataDimension))
    let (theta, x) = task.sampleJoint(count: n, seed: 11)
    #expect(theta.rows == n && theta.cols == task.parameterDimension)
    #expect(x.rows == n && x.cols == task.dataDimension)
    #expect(task.prior.logDensity(theta).allSatisfy { $0.isFinite })
    #expect(x.allFinite)
    let again = task.sampleJoint(count: n, seed: 11)
    #expect(again.parameters == theta && again.data == x)
    #expect(task.sampleJoint(count: n, seed: 12).data != x)
    // The simulator's output depends only on the seed, not on the thread count.
    let saved = Threading.count
    Threading.count = 1
    let single = task.simulate(theta, seed: 5)
    Threading.count = 2
    let double = task.simulate(theta, seed: 5)
    Threading.count = saved
    #expect(single == double)
  }

  @Test func gaussianLinearNoiseMoments() {
    let task = GaussianLinearTask()
    let theta = Matrix(rows: 20_000, cols: 10, repeating: 0.3)
    let (mean, std) = columnMoments(task.simulate(theta, seed: 1))
    for j in 0..<10 {
      #expect(abs(mean[j] - 0.3) < 0.01)
      #expect(abs(std[j] - 0.1.squareRoot()) < 0.01)
    }
    #expect(GaussianLinearTask(dimension: 100).simulate(Matrix(rows: 2, cols: 100), seed: 0).cols == 100)
  }

  @Test func twoMoonsFixedDraws() {
    // At θ = 0 the data lie on the crescent: radius around (0.25, 0) ~ N(0.1, 0.01²), angle in (−π/2, π/2).
    let x = TwoMoonsTask().simulate(Matrix(rows: 20_000, cols: 2), seed: 2)
    let radii = (0..<x.rows).map { i in hypot(Double(x[i, 0]) - 0.25, Double(x[i, 1])) }
    let m = radii.reduce(0, +) / Double(radii.count)
    let s = (radii.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(radii.count)).squareRoot()
    #expect(abs(m - 0.1) < 0.0005 && abs(s - 0.01) < 0.0005)
    #expect((0..<x.rows).allSatisfy { x[$0, 0] >= 0.25 - 1e-6 })
    // The map adds (−|θ₁+θ₂|/√2, (θ₂−θ₁)/√2).
    let mapped = TwoMoonsTask.map(theta: (0.3, 0.5), p: (0, 0))
    #expect(abs(mapped.0 + 0.8 / 2.0.squareRoot()) < 1e-12 && abs(mapped.1 - 0.2 / 2.0.squareRoot()) < 1e-12)
  }

  @Test func gaussianMixtureMoments() {
    let x = GaussianMixtureTask().simulate(Matrix(rows: 40_000, cols: 2, repeating: 1), seed: 3)
    let (mean, std) = columnMoments(x)
    for j in 0..<2 {
      #expect(abs(mean[j] - 1) < 0.015)
      #expect(abs(std[j] - 0.505.squareRoot()) < 0.01)
    }
  }

  @Test func slcpMomentsAndLikelihood() {
    let t: [Float] = [0.5, -1, 1.2, -0.9, 0.7]
    let theta = Matrix(rows: 20_000, cols: 5, storage: (0..<20_000).flatMap { _ in t })
    let x = SLCPTask().simulate(theta, seed: 4)
    let s1 = 1.2 * 1.2 * 1.2 * 1.2, s2 = pow(0.9, 4.0), rho = Foundation.tanh(0.7)
    let (mean, std) = columnMoments(x)
    for k in 0..<4 {
      #expect(abs(mean[2 * k] - 0.5) < 0.05 && abs(mean[2 * k + 1] + 1) < 0.05)
      #expect(abs(std[2 * k] - s1.squareRoot()) < 0.03 && abs(std[2 * k + 1] - s2.squareRoot()) < 0.03)
    }
    for k in 0..<4 {
      var c = 0.0
      for i in 0..<x.rows { c += (Double(x[i, 2 * k]) - mean[2 * k]) * (Double(x[i, 2 * k + 1]) - mean[2 * k + 1]) }
      c /= Double(x.rows)
      #expect(abs(c / (std[2 * k] * std[2 * k + 1]) - rho) < 0.02)
    }
    // The likelihood of four points at the mean: 4 · (−½ log det Σ − log 2π), Σ = [[s₁²+ε, ρs₁s₂], [ρs₁s₂, s₂²+ε]].
    let det = (s1 + 1e-6) * (s2 + 1e-6) - rho * rho * s1 * s2
    let ll = SLCPTask.logLikelihood(theta: t.map(Double.init), data: [0.5, -1, 0.5, -1, 0.5, -1, 0.5, -1])
    #expect(abs(ll - 4 * (-0.5 * Foundation.log(det) - Foundation.log(2 * Double.pi))) < 1e-5)
  }

  @Test func bernoulliGLMSpikeCountMatchesTheLink() throws {
    let task = try BernoulliGLMTask(raw: true)
    let t: [Float] = [-1, 0.5, 0.3, 0, -0.2, 0.1, 0, 0, 0.2, -0.1]
    let x = task.simulate(Matrix(rows: 4000, cols: 10, storage: (0..<4000).flatMap { _ in t }), seed: 5)
    var expected = 0.0
    for r in 0..<100 {
      var psi = 0.0
      for j in 0..<10 { psi += task.design[r * 10 + j] * Double(t[j]) }
      expected += Special.sigmoid(psi)
    }
    let mean = (0..<x.rows).map { i in (0..<100).reduce(0.0) { $0 + Double(x[i, $1]) } }.reduce(0, +) / 4000
    #expect(abs(mean - expected) < 0.2)
    // The prior precision of sbibm: B₀₀ = 0.5 and the smoothing block FᵀF.
    let b = BernoulliGLMTask.priorPrecision()
    #expect(b[0, 0] == 0.5 && b[0, 1] == 0)
    // F is lower triangular, so (FᵀF)₈₈ = F₈₈² = (1 + √(8/9))².
    #expect(abs(b[9, 9] - pow(1 + (8.0 / 9).squareRoot(), 2)) < 1e-12)
  }

  @Test func sirMatchesTheClosedFormEarlyGrowth() {
    // With S ≈ N early on, I(t) ≈ exp((β − γ)t): at day 17 the epidemic is still small for these rates.
    let task = SIRTask()
    let i = task.infected(beta: 0.3, gamma: 0.1)!
    #expect(i[0] == 1)
    #expect(abs(i[1] / Foundation.exp(0.2 * 17) - 1) < 0.01)
    // S + I + R = N is conserved.
    #expect(task.simulate(Matrix([[0.4, 0.125]]), seed: 1).allFinite)
  }

  @Test func driftDiffusionChoiceProbability() {
    // Brownian motion with drift ν and unit noise from z = βα: P(upper) = (1 − e^{−2νz})/(1 − e^{−2να}).
    let (nu, alpha, beta) = (0.8, 1.2, 0.4)
    var rng = Xoshiro(seed: 7)
    var ups = 0.0, minRT = Double.infinity
    let n = 6000
    for _ in 0..<n {
      let (c, rt) = simulateDriftDiffusionTrial(nu: nu, alpha: alpha, t0: 0.3, beta: beta, rng: &rng)
      ups += c
      minRT = min(minRT, rt)
    }
    let z = beta * alpha
    let p = (1 - Foundation.exp(-2 * nu * z)) / (1 - Foundation.exp(-2 * nu * alpha))
    #expect(abs(ups / Double(n) - p) < 0.03)
    #expect(minRT > 0.3)
  }

  @Test func inverseKinematicsForwardMap() {
    let x0 = InverseKinematicsTask.forward([0, 0, 0, 0])
    #expect(abs(x0.0) < 1e-12 && abs(x0.1 - 2) < 1e-12)
    let x1 = InverseKinematicsTask.forward([0.1, Double.pi / 2, 0, 0])
    #expect(abs(x1.0 - 2.1) < 1e-12 && abs(x1.1) < 1e-12)
  }

  @Test func hierarchicalGaussianPosteriorMeanIsAStationaryPoint() {
    // At the posterior mean of a Gaussian model, ∇ log p(θ) + Aᵀ(x − Aθ)/σ² = 0.
    let task = HierarchicalGaussianTask()
    let (theta, x) = task.sampleJoint(count: 1, seed: 3)
    _ = theta
    let (mean, _) = task.posterior(observation: x.row(0))
    let score = (task.prior as! GaussianPrior).precision.multiply(mean).map { -$0 }
    var grad = score
    for g in 0..<task.groups {
      for i in 0..<task.observationsPerGroup {
        grad[g + 1] += Double(x[0, g * task.observationsPerGroup + i]) - mean[g + 1]
      }
    }
    for v in grad { #expect(abs(v) < 1e-9) }
    let draws = task.samplePosterior(observation: x.row(0), count: 20_000, seed: 1)!
    let (m, _) = columnMoments(draws)
    for j in 0..<mean.count { #expect(abs(m[j] - mean[j]) < 0.02) }
  }
}

@Suite struct InverseKinematicsReferenceTests {
  @Test func rejectionPosteriorHitsTheObservation() {
    let task = InverseKinematicsTask()
    let draws = task.rejectionPosterior(observation: InverseKinematicsTask.defaultObservation, count: 100,
                                        tolerance: 0.02, seed: 1)
    #expect(draws.allFinite)
    for i in 0..<draws.rows {
      let f = InverseKinematicsTask.forward(draws.row(i).map(Double.init))
      #expect(hypot(f.0, f.1 - 1.5) < 0.02)
    }
    #expect(draws == task.rejectionPosterior(observation: InverseKinematicsTask.defaultObservation, count: 100,
                                              tolerance: 0.02, seed: 1))
  }
}

import Foundation
import NumericCore
import Testing
import Tasks

@Suite struct PriorTests {
  func moments(_ m: Matrix) -> (mean: [Double], std: [Double]) {
    let (mean, v) = m.columnMeanVariance()
    return (mean, v.map { $0.squareRoot() })
  }

  func finiteDifferenceScore(_ prior: any Prior, _ theta: [Float]) -> [Double] {
    let h: Double = 1e-3
    return theta.indices.map { j in
      var up = theta.map(Double.init), dn = up
      up[j] += h
      dn[j] -= h
      let lu = prior.logDensity(Matrix(rows: 1, cols: theta.count, doubles: up))[0]
      let ld = prior.logDensity(Matrix(rows: 1, cols: theta.count, doubles: dn))[0]
      return (lu - ld) / (2 * h)
    }
  }

  @Test func gaussianPriorDensityScoreAndMoments() {
    let cov = DMatrix(rows: 2, cols: 2, values: [1.0, 0.3, 0.3, 0.5])
    let p = GaussianPrior(mean: [1, -1], covariance: cov)
    // log N(μ; μ, Σ) = −log(2π) − ½ log det Σ.
    let atMean = p.logDensity(Matrix([[1, -1]]))[0]
    #expect(abs(atMean - (-Foundation.log(2 * Double.pi) - 0.5 * Foundation.log(0.5 - 0.09))) < 1e-9)
    let theta: [Float] = [0.3, 0.2]
    let fd = finiteDifferenceScore(p, theta)
    let score = p.score(Matrix([theta]))!
    for j in 0..<2 { #expect(abs(Double(score[0, j]) - fd[j]) < 1e-3) }
    let (mean, std) = moments(p.sample(count: 40_000, seed: 3))
    #expect(abs(mean[0] - 1) < 0.02 && abs(mean[1] + 1) < 0.02)
    #expect(abs(std[0] - 1) < 0.02 && abs(std[1] - 0.5.squareRoot()) < 0.02)
  }

  @Test func logNormalPriorDensityScoreAndMoments() {
    let p = LogNormalPrior(mu: [Foundation.log(0.4), -3], sigma: [0.5, 0.2])
    let theta: [Float] = [0.5, 0.06]
    let fd = finiteDifferenceScore(p, theta)
    let score = p.score(Matrix([theta]))!
    for j in 0..<2 { #expect(abs(Double(score[0, j]) - fd[j]) < 1e-2 * max(1, abs(fd[j]))) }
    // Density of a single log-normal coordinate: φ((log θ − μ)/σ)/(σθ).
    let one = LogNormalPrior(mu: [0], sigma: [1]).logDensity(Matrix([[2]]))[0]
    let expected = -0.5 * Foundation.log(2 * Double.pi) - 0.5 * pow(Foundation.log(2), 2) - Foundation.log(2)
    #expect(abs(one - expected) < 1e-9)
    let (mean, std) = moments(p.sample(count: 40_000, seed: 4))
    for j in 0..<2 {
      #expect(abs(mean[j] - p.mean[j]) < 0.02 * p.mean[j])
      #expect(abs(std[j] - p.standardDeviation[j]) < 0.03 * p.standardDeviation[j])
    }
    #expect(p.logDensity(Matrix([[-1, 1]]))[0] == -.infinity)
  }

  @Test func boxUniformPrior() {
    let p = BoxUniformPrior(dimension: 3, bound: 2)
    #expect(abs(p.logDensity(Matrix([[0, 1, -1.5]]))[0] + 3 * Foundation.log(4)) < 1e-12)
    #expect(p.logDensity(Matrix([[0, 2.5, 0]]))[0] == -.infinity)
    let s = p.sample(count: 10_000, seed: 1)
    #expect(s.storage.allSatisfy { $0 >= -2 && $0 < 2 })
    #expect(p.constraint == .box(lower: [-2, -2, -2], upper: [2, 2, 2]))
  }

  @Test func samplingDoesNotDependOnThreadCount() {
    let p = GaussianPrior(mean: [0, 0, 0], standardDeviation: [1, 2, 3])
    let saved = Threading.count
    Threading.count = 1
    let a = p.sample(count: 1000, seed: 9)
    Threading.count = 2
    let b = p.sample(count: 1000, seed: 9)
    Threading.count = saved
    #expect(a == b)
    #expect(a != p.sample(count: 1000, seed: 10))
  }

  @Test func betaQuantileInvertsTheCDF() {
    for p in [0.001, 0.1, 0.5, 0.77, 0.999] {
      let x = BetaDistribution.quantile(p, a: 50, b: 50)
      #expect(abs(BetaDistribution.cdf(x, a: 50, b: 50) - p) < 1e-10)
    }
    // I_x(1, 1) = x and I_x(2, 1) = x².
    #expect(abs(BetaDistribution.cdf(0.3, a: 1, b: 1) - 0.3) < 1e-12)
    #expect(abs(BetaDistribution.cdf(0.3, a: 2, b: 1) - 0.09) < 1e-12)
    #expect(abs(driftDiffusionStartingPoint(betaRaw: 0) - 0.5) < 1e-12)
  }
}

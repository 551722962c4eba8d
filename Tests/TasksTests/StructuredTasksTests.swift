import Foundation
import NumericCore
import Testing
import Tasks

/// `n` copies of the row `theta`.
private func repeatedRows(_ theta: [Float], _ n: Int) -> Matrix {
  var storage: [Float] = []
  for _ in 0..<n { storage += theta }
  return Matrix(rows: n, cols: theta.count, storage: storage)
}

/// Tasks with structured data (`dataShape` [N, D]): slcp_set, drift_diffusion and ornstein_uhlenbeck, and the grid
/// quadrature behind the Ornstein–Uhlenbeck reference posterior.
@Suite struct StructuredTasksTests {
  @Test func dataShapesMatchTheDataDimension() throws {
    for name in TaskRegistry.names {
      let task = try TaskRegistry.task(named: name)
      #expect(task.dataShape.reduce(1, *) == task.dataDimension, "\(name) \(task.dataShape)")
    }
    #expect(try TaskRegistry.task(named: "slcp").dataShape == [8])
    #expect(DriftDiffusionTask(trials: 7).dataShape == [7, 2])
    #expect(OrnsteinUhlenbeckTask().dataShape == [100, 1])
    #expect(TaskRegistry.names.count == Set(TaskRegistry.names).count)
  }

  @Test func slcpSetIsSLCPAsASet() throws {
    let set = try TaskRegistry.task(named: "slcp_set"), slcp = SLCPTask()
    #expect(set.name == "slcp_set" && set.dataShape == [4, 2] && set.dataDimension == 8)
    #expect(set.sbibmDataName == "slcp" && set.observationCount == 5)
    let (theta, x) = slcp.sampleJoint(count: 500, seed: 3)
    #expect(set.sampleJoint(count: 500, seed: 3).data == x)
    #expect(set.simulate(theta, seed: 9) == slcp.simulate(theta, seed: 9))
    #expect(try set.observation(2) == slcp.observation(2))
    #expect(try set.referencePosteriorSamples(1) == slcp.referencePosteriorSamples(1))
  }

  @Test func ouLogLikelihoodEqualsTheSumOfTransitionDensities() {
    let task = OrnsteinUhlenbeckTask()
    let x = task.simulate(Matrix([[0.4, 0.7, 0.9]]), seed: 21).row(0).map(Double.init)
    #expect(x.count == 100)
    for theta in [[0.4, 0.7, 0.9], [-0.8, 0.15, 0.3], [0.9, 1.95, 1.4], [0, 1, 0.5]] {
      let (mu, kappa, sigma) = (theta[0], theta[1], theta[2])
      let a = Foundation.exp(-kappa * 0.2)
      let variance = sigma * sigma * (1 - Foundation.exp(-2 * kappa * 0.2)) / (2 * kappa)
      var direct = 0.0, previous = 0.0
      for value in x {
        let r = value - (mu + a * (previous - mu))
        direct += -0.5 * Foundation.log(2 * Double.pi * variance) - r * r / (2 * variance)
        previous = value
      }
      let ours = task.logLikelihood(theta: theta, data: x)
      #expect(abs(ours - direct) < 1e-9 * max(1, abs(direct)), "θ = \(theta): \(ours) vs \(direct)")
    }
    // The generating parameters are far more likely than a distant θ.
    #expect(task.logLikelihood(theta: [0.4, 0.7, 0.9], data: x) > task.logLikelihood(theta: [-0.8, 0.7, 0.9], data: x))
  }

  @Test func ouSimulatorMoments() {
    let task = OrnsteinUhlenbeckTask()
    // Stationary regime (κ = 2: κt ≥ 20 over the last 50 steps): mean μ, variance σ²/(2κ), lag-1 correlation e^{−κΔ}.
    let (mu, kappa, sigma) = (0.3, 2.0, 0.8)
    let series = 4000
    let x = task.simulate(repeatedRows([Float(mu), Float(kappa), Float(sigma)], series), seed: 5)
    var s = 0.0, ss = 0.0, lag = 0.0, n = 0.0
    for i in 0..<series {
      for t in 50..<100 {
        let v = Double(x[i, t]) - mu
        s += v
        ss += v * v
        lag += v * (Double(x[i, t - 1]) - mu)
        n += 1
      }
    }
    let stationaryVariance = sigma * sigma / (2 * kappa)
    // About 40,000 effective draws: standard errors ≈ 0.002 (mean) and 0.001 (variance).
    #expect(abs(s / n) < 0.01)
    #expect(abs(ss / n / stationaryVariance - 1) < 0.03)
    #expect(abs(lag / ss - Foundation.exp(-kappa * 0.2)) < 0.02)
    // The transient from x₀ = 0: E x_t = μ(1 − e^{−κtΔ}), Var x_t = σ²(1 − e^{−2κtΔ})/(2κ).
    let (m2, k2, s2) = (0.8, 0.5, 0.6)
    let y = task.simulate(repeatedRows([Float(m2), Float(k2), Float(s2)], 20_000), seed: 6)
    let (mean, variance) = y.columnMeanVariance()
    for t in [1, 10, 100] {
      let time = 0.2 * Double(t)
      let m = m2 * (1 - Foundation.exp(-k2 * time))
      let v = s2 * s2 * (1 - Foundation.exp(-2 * k2 * time)) / (2 * k2)
      #expect(abs(mean[t - 1] - m) < 4 * (v / 20_000).squareRoot(), "t = \(t): mean \(mean[t - 1]) vs \(m)")
      #expect(abs(variance[t - 1] / v - 1) < 0.04, "t = \(t): variance \(variance[t - 1]) vs \(v)")
    }
  }

  /// A correlated 3-D Gaussian on a box wide enough to hold its mass: the grid's moments are the exact ones, the
  /// draws agree with them, and the fine box is the region within reach of max − 30.
  @Test func gridPosteriorRecoversAGaussian() throws {
    let m: [Double] = [0.3, -1.0, 2.0], sd: [Double] = [0.5, 0.3, 0.8]
    let r: [[Double]] = [[1, 0.6, -0.3], [0.6, 1, 0.2], [-0.3, 0.2, 1]]
    var values = [Double](repeating: 0, count: 9)
    for i in 0..<3 { for j in 0..<3 { values[i * 3 + j] = r[i][j] * sd[i] * sd[j] } }
    let p: [Double] = try DMatrix(rows: 3, cols: 3, values: values).inverseSPD().values
    let logDensity = { (a: Double, b: Double, c: Double) -> Double in
      let d = [a - m[0], b - m[1], c - m[2]]
      var q = 0.0
      for i in 0..<3 { for j in 0..<3 { q += d[i] * p[i * 3 + j] * d[j] } }
      return -0.5 * q
    }
    let grid = GridPosterior(lower: [-6, -5, -6], upper: [6, 3, 11], logDensity: logDensity)
    #expect(grid.points >= 120)
    for j in 0..<3 {
      // Marginal reach of the level set max − 30 is √60 sd ≈ 7.75 sd, plus at most two coarse cells.
      #expect(grid.lower[j] < m[j] - 7.5 * sd[j] && grid.lower[j] > m[j] - 7.75 * sd[j] - 0.6, "lower \(j)")
      #expect(grid.upper[j] > m[j] + 7.5 * sd[j] && grid.upper[j] < m[j] + 7.75 * sd[j] + 0.6, "upper \(j)")
    }
    let (gm, gsd) = grid.moments
    for j in 0..<3 {
      #expect(abs(gm[j] - m[j]) < 1e-3 * sd[j], "grid mean \(j): \(gm[j])")
      #expect(abs(gsd[j] / sd[j] - 1) < 2e-3, "grid sd \(j): \(gsd[j])")
    }
    let n = 40_000
    let draws = grid.sample(count: n, seed: 4)
    let (dm, dv) = draws.columnMeanVariance()
    for j in 0..<3 {
      #expect(abs(dm[j] - m[j]) < 4 * sd[j] / Double(n).squareRoot(), "draw mean \(j): \(dm[j])")
      #expect(abs(dv[j].squareRoot() / sd[j] - 1) < 0.02, "draw sd \(j)")
    }
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
      var c = 0.0
      for k in 0..<n { c += (Double(draws[k, i]) - dm[i]) * (Double(draws[k, j]) - dm[j]) }
      let rho = c / Double(n) / (dv[i] * dv[j]).squareRoot()
      #expect(abs(rho - r[i][j]) < 0.02, "correlation \(i)\(j): \(rho)")
    }
  }

  @Test func gridPosteriorIsReproducibleAndTruncatedByTheBox() {
    // N(0, 1) per axis on [0, 2] × [−1, 1] × [−3, 3]: a half normal, a two-sided truncation, and the full law.
    func build() -> GridPosterior {
      GridPosterior(lower: [0, -1, -3], upper: [2, 1, 3], fine: 64) { a, b, c in -0.5 * (a * a + b * b + c * c) }
    }
    let saved = Threading.count
    Threading.count = 1
    let one = build().sample(count: 3000, seed: 8)
    Threading.count = 2
    let grid = build()
    let two = grid.sample(count: 3000, seed: 8)
    Threading.count = saved
    #expect(one == two)
    #expect(grid.sample(count: 3000, seed: 9) != two)
    let (gm, gsd) = grid.moments
    // Half normal truncated at 2: mean φ(0) − φ(2) over Φ(2) − ½.
    let phi = { (z: Double) in Foundation.exp(-z * z / 2) / (2 * Double.pi).squareRoot() }
    let z = Special.normalCDF(2) - 0.5
    let halfMean = (phi(0) - phi(2)) / z
    let halfVariance = 1 - 2 * phi(2) / z - halfMean * halfMean
    #expect(abs(gm[0] - halfMean) < 1e-3 && abs(gsd[0] - halfVariance.squareRoot()) < 1e-3)
    // N(0, 1) truncated to [−1, 1]: variance 1 − 2φ(1)/(Φ(1) − Φ(−1)).
    let innerVariance = 1 - 2 * phi(1) / (Special.normalCDF(1) - Special.normalCDF(-1))
    #expect(abs(gm[1]) < 1e-9 && abs(gsd[1] - innerVariance.squareRoot()) < 1e-3)
    // N(0, 1) truncated to [−3, 3]: variance 1 − 6φ(3)/(Φ(3) − Φ(−3)) ≈ 0.973.
    let outerVariance = 1 - 6 * phi(3) / (Special.normalCDF(3) - Special.normalCDF(-3))
    #expect(abs(gsd[2] - outerVariance.squareRoot()) < 1e-3)
    for i in 0..<two.rows {
      #expect(two[i, 0] >= 0 && two[i, 0] <= 2 && two[i, 1] >= -1 && two[i, 1] <= 1)
    }
  }

  @Test(arguments: TaskRegistry.structuredNames)
  func observationsAndReferenceSamplesLoad(name: String) throws {
    let task = try TaskRegistry.task(named: name)
    #expect(task.observationCount == 5)
    for k in 1...5 {
      #expect(try task.observation(k).count == task.dataDimension)
      #expect(task.prior.logDensity(Matrix([try task.trueParameters(k)]))[0].isFinite)
      let ref = try task.referencePosteriorSamples(k)
      #expect(ref.rows == 10_000 && ref.cols == task.parameterDimension && ref.allFinite)
      #expect(task.prior.logDensity(ref).allSatisfy { $0.isFinite })
    }
    #expect(throws: TaskError.self) { try task.observation(6) }
  }

  @Test func ouObservationsFitTheirTrueParameters() throws {
    // Standardized one-step residuals at the true θ: Σ z² ~ χ²(100), far below 170 unless the data are wrong.
    let task = OrnsteinUhlenbeckTask()
    for k in 1...5 {
      let theta = try task.trueParameters(k).map(Double.init)
      let x = try task.observation(k).map(Double.init)
      let a = Foundation.exp(-theta[1] * 0.2)
      let s = theta[2] * ((1 - a * a) / (2 * theta[1])).squareRoot()
      var previous = 0.0, sum = 0.0
      for v in x {
        let z = (v - theta[0] - a * (previous - theta[0])) / s
        sum += z * z
        previous = v
      }
      #expect(sum > 50 && sum < 170, "observation \(k): Σz² = \(sum)")
    }
  }

  @Test func ouReferenceAgreesWithAFreshGridPosterior() throws {
    let task = OrnsteinUhlenbeckTask()
    #expect(task.hasExactPosterior)
    let reference = try task.referencePosteriorSamples(1)
    let ours = task.samplePosterior(observation: try task.observation(1), count: 10_000, seed: 12_345)!
    let (rm, rv) = reference.columnMeanVariance()
    let (om, ov) = ours.columnMeanVariance()
    for j in 0..<3 {
      let sd = rv[j].squareRoot()
      // The standard error of a difference of two means of 10,000 draws is √2·sd/100.
      #expect(abs(rm[j] - om[j]) < 5 * 1.42 * sd / 100, "θ\(j) mean \(om[j]) vs \(rm[j])")
      #expect(abs(ov[j].squareRoot() / sd - 1) < 0.06, "θ\(j) sd")
    }
    // The reference also matches the grid's own moments.
    let (gm, gsd) = task.posteriorGrid(observation: try task.observation(1)).moments
    for j in 0..<3 {
      #expect(abs(rm[j] - gm[j]) < 4 * gsd[j] / 100, "θ\(j) reference mean \(rm[j]) vs grid \(gm[j])")
    }
  }
}

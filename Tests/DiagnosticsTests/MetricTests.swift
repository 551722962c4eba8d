import Diagnostics
import Foundation
import NumericCore
import Testing

/// The conjugate model θ ~ N(0, I_d), x = θ + N(0, I_d): posterior N(x/2, ½ I). `spread` scales the posterior
/// standard deviation (1 = exact, < 1 over-confident, > 1 under-confident).
func gaussianPosteriorDraws(datasets n: Int, draws s: Int, dims d: Int, spread: Double, seed: UInt64)
  -> (estimates: [Matrix], targets: Matrix, observations: Matrix)
{
  var rng = Xoshiro(seed: seed)
  var targets = Matrix(rows: n, cols: d), obs = Matrix(rows: n, cols: d)
  var estimates: [Matrix] = []
  for i in 0..<n {
    var e = Matrix(rows: s, cols: d)
    for j in 0..<d {
      let theta = rng.nextNormal()
      let x = theta + rng.nextNormal()
      targets[i, j] = Float(theta)
      obs[i, j] = Float(x)
      for k in 0..<s { e[k, j] = Float(x / 2 + spread * 0.5.squareRoot() * rng.nextNormal()) }
    }
    estimates.append(e)
  }
  return (estimates, targets, obs)
}

@Suite struct MetricTests {
  @Test func nrmseClosedForms() throws {
    let targets = Matrix([[0, 1], [2, 3], [4, 5], [6, 7]])
    // Estimates equal to the truth: 0; shifted by c: RMSE |c|, range-normalized |c|/6.
    let same = (0..<4).map { i in Matrix(rows: 5, cols: 2, storage: (0..<5).flatMap { _ in targets.row(i) }) }
    #expect(try normalizedRMSE(estimates: same, targets: targets, normalization: .none) == [0, 0])
    let shifted = same.map { m in m.map { $0 + 0.6 } }
    let r = try normalizedRMSE(estimates: shifted, targets: targets, normalization: .none)
    #expect(abs(r[0] - 0.6) < 1e-6 && abs(r[1] - 0.6) < 1e-6)
    let rr = try normalizedRMSE(estimates: shifted, targets: targets, normalization: .range)
    #expect(abs(rr[0] - 0.1) < 1e-6)
    // Prior normalization: draws from the prior itself give ≈ 1.
    var rng = Xoshiro(seed: 1)
    let n = 400
    let t = Matrix(rows: n, cols: 1, storage: (0..<n).map { _ in Float(rng.nextNormal()) })
    let priorDraws = (0..<n).map { _ in Matrix(rows: 200, cols: 1, storage: (0..<200).map { _ in Float(rng.nextNormal()) }) }
    let p = try normalizedRMSE(estimates: priorDraws, targets: t, normalization: .prior)
    #expect(abs(p[0] - 1) < 0.1)
  }

  @Test func calibratedPosteriorMetrics() throws {
    let (e, t, _) = gaussianPosteriorDraws(datasets: 500, draws: 200, dims: 2, spread: 1, seed: 2)
    for v in try calibrationError(estimates: e, targets: t) { #expect(v < 0.04) }
    // Contraction 1 − ½ / 1 = ½.
    for v in columnMedians(try posteriorContraction(estimates: e, targets: t)) { #expect(abs(v - 0.5) < 0.08) }
    let z = try posteriorZScores(estimates: e, targets: t)
    let (zm, zv) = z.columnMeanVariance()
    for j in 0..<2 {
      #expect(abs(zm[j]) < 0.15)
      #expect(abs(zv[j] - 1) < 0.2)
    }
    for v in try calibrationLogGamma(estimates: e, targets: t) { #expect(v > -0.5) }
    let result = try tarp(estimates: e, targets: t)
    #expect(abs(result.atc) < 0.03)
    #expect(result.ecp.first == 0 && abs(result.ecp.last! - 1) < 1e-12)
  }

  @Test func miscalibratedPosteriorsAreDetected() throws {
    let (over, t1, _) = gaussianPosteriorDraws(datasets: 300, draws: 200, dims: 2, spread: 0.3, seed: 3)
    for v in try calibrationError(estimates: over, targets: t1) { #expect(v > 0.2) }
    for v in try calibrationLogGamma(estimates: over, targets: t1) { #expect(v < 0) }
    #expect(try tarp(estimates: over, targets: t1).atc < -0.05)
    let (under, t2, _) = gaussianPosteriorDraws(datasets: 300, draws: 200, dims: 2, spread: 3, seed: 4)
    #expect(try tarp(estimates: under, targets: t2).atc > 0.05)
  }

  @Test func gammaDiscrepancyByHand() {
    // S = 1, ranks [0, 0]: z = (½, 1), R = (2, 2); at z = ½: min(F(2), 1 − F(1)) = 1 − ¾ = ¼, so γ = ½.
    #expect(abs(gammaDiscrepancy(ranks: [0, 0], posteriorDraws: 1) - 0.5) < 1e-12)
    #expect(abs(gammaDiscrepancy(ranks: [0], posteriorDraws: 1) - 1) < 1e-12)
  }

  @Test func ecdfBandsHaveTheirCoverage() {
    let n = 100
    let bands = ecdfSimultaneousBands(dataSets: n, points: 50, confidence: 0.9, simulations: 2000, seed: 1)
    for k in bands.z.indices { #expect(bands.lower[k] <= bands.z[k] && bands.z[k] <= bands.upper[k]) }
    // Fresh uniform samples stay inside the band about 90% of the time.
    var rng = Xoshiro(seed: 99)
    var inside = 0
    let trials = 1000
    for _ in 0..<trials {
      let u = (0..<n).map { _ in rng.nextDouble() }
      let ok = bands.z.indices.allSatisfy { k in
        let f = Double(u.filter { $0 <= bands.z[k] }.count) / Double(n)
        return f >= bands.lower[k] && f <= bands.upper[k]
      }
      if ok { inside += 1 }
    }
    #expect(abs(Double(inside) / Double(trials) - 0.9) < 0.04)
  }

  @Test func sbcRanksByHand() throws {
    let e = [Matrix([[0], [1], [2], [3]])]
    #expect(try sbcRanks(estimates: e, targets: Matrix([[1.5]])) == [[2]])
    #expect(rankECDF(ranks: [0, 2, 4], posteriorDraws: 4, at: [0, 0.5, 1]) == [1.0 / 3, 2.0 / 3, 1])
  }

  @Test func mmdMatchesTheGaussianClosedForm() throws {
    // x ~ N(0, I₂), y ~ N(μ, I₂), bandwidth h: MMD² = 2 (h²/(h²+2))^{d/2} (1 − exp(−‖μ‖²/(2(h²+2)))).
    var rng = Xoshiro(seed: 5)
    let n = 1500
    let x = rng.normalMatrix(rows: n, cols: 2)
    var y = rng.normalMatrix(rows: n, cols: 2)
    y.addRowVector([1, 0])
    let h = 1.0
    let expected = 2 * (h * h / (h * h + 2)) * (1 - Foundation.exp(-1 / (2 * (h * h + 2))))
    #expect(abs(try mmdSquared(x, y, bandwidth: h) - expected) < 0.01)
    let same = try mmdSquared(x, rng.normalMatrix(rows: n, cols: 2))
    #expect(abs(same) < 0.005)
    // Median distance between two standard normals in 2-D: √2 · median of a Rayleigh(1) = √(4 log 2).
    #expect(abs(medianHeuristicBandwidth(x.rows(0..<600)) - (4 * Foundation.log(2)).squareRoot()) < 0.08)
  }

  @Test func expectedCoverageOfTheExactPosterior() throws {
    let (e, t, obs) = gaussianPosteriorDraws(datasets: 400, draws: 300, dims: 2, spread: 1, seed: 6)
    func logq(_ theta: [Float], _ x: [Float]) -> Double {
      zip(theta, x).reduce(0) { $0 - pow(Double($1.0) - Double($1.1) / 2, 2) }  // ∝ N(x/2, ½I)
    }
    let truth = (0..<400).map { logq(t.row($0), obs.row($0)) }
    let draws = (0..<400).map { i in (0..<300).map { logq(e[i].row($0), obs.row(i)) } }
    let levels = [0.1, 0.3, 0.5, 0.7, 0.9]
    let cov = try expectedCoverage(logDensityOfTruth: truth, logDensityOfDraws: draws, levels: levels)
    for (c, a) in zip(cov, levels) { #expect(abs(c - a) < 0.07) }
    let central = try centralIntervalCoverage(estimates: e, targets: t, levels: levels)
    for (k, a) in levels.enumerated() { #expect(abs(Double(central[k, 0]) - a) < 0.07) }
  }
}

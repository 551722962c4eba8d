import Foundation
import Testing
import NumericCore

/// Reproducibility, stream independence and moments of every distribution at fixed seeds.
@Suite struct RandomTests {
  func moments(_ xs: [Double]) -> (mean: Double, variance: Double, skew: Double, kurt: Double) {
    let n = Double(xs.count)
    let m = xs.reduce(0, +) / n
    var m2 = 0.0, m3 = 0.0, m4 = 0.0
    for x in xs {
      let d = x - m
      m2 += d * d
      m3 += d * d * d
      m4 += d * d * d * d
    }
    m2 /= n
    m3 /= n
    m4 /= n
    return (m, m2, m3 / pow(m2, 1.5), m4 / (m2 * m2))
  }

  /// |sample mean − μ| within 5 standard errors.
  func expectMean(_ xs: [Double], _ mu: Double, _ variance: Double, _ label: String) {
    let se = (variance / Double(xs.count)).squareRoot()
    let m = xs.reduce(0, +) / Double(xs.count)
    #expect(abs(m - mu) < 5 * se, "\(label): mean \(m) vs \(mu)")
  }

  /// Sample variance within 5 standard errors, using the fourth moment for the error.
  func expectVariance(_ xs: [Double], _ variance: Double, kurtosis: Double, _ label: String) {
    let v = moments(xs).variance
    let se = variance * ((kurtosis - 1) / Double(xs.count)).squareRoot()
    #expect(abs(v - variance) < 5 * se, "\(label): variance \(v) vs \(variance)")
  }

  @Test func reproducibleAndSplittable() {
    var a = Xoshiro(seed: 42)
    var b = Xoshiro(seed: 42)
    #expect((0..<100).map { _ in a.next() } == (0..<100).map { _ in b.next() })
    var c = Xoshiro(seed: 43)
    #expect(a.next() != c.next())
    // State round trip for checkpoints.
    let saved = a.state
    let x = a.next()
    var restored = Xoshiro(state: saved)
    #expect(restored.next() == x)
    // Streams: distinct, reproducible, and uncorrelated.
    var base = Xoshiro(seed: 9)
    let streams = base.split(count: 4)
    #expect(Set(streams.map { $0.state }).count == 4)
    var s1 = Xoshiro(seed: 5, stream: 1)
    var s2 = Xoshiro(seed: 5, stream: 2)
    var s1b = Xoshiro(seed: 5, stream: 1)
    let u1 = (0..<20000).map { _ in s1.nextNormal() }
    let u2 = (0..<20000).map { _ in s2.nextNormal() }
    #expect(u1.prefix(10).elementsEqual((0..<10).map { _ in s1b.nextNormal() }))
    let corr = zip(u1, u2).reduce(0.0) { $0 + $1.0 * $1.1 } / 20000
    #expect(abs(corr) < 5 / 20000.0.squareRoot())
  }

  @Test func uniformAndNormalMoments() {
    var r = Xoshiro(seed: 1)
    let u = (0..<200_000).map { _ in r.nextDouble() }
    expectMean(u, 0.5, 1.0 / 12, "uniform")
    #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
    let f = (0..<100_000).map { _ in Double(r.nextFloat()) }
    #expect(f.allSatisfy { $0 >= 0 && $0 < 1 })
    let z = (0..<400_000).map { _ in r.nextNormal() }
    let m = moments(z)
    expectMean(z, 0, 1, "normal")
    expectVariance(z, 1, kurtosis: 3, "normal")
    #expect(abs(m.skew) < 0.02 && abs(m.kurt - 3) < 0.05)
    // Tail mass beyond the ziggurat base layer (|z| > 3.4426) must be right: 2(1 − Φ(3.4426)) ≈ 5.76e-4.
    let tail = Double(z.filter { abs($0) > 3.442619855899 }.count) / Double(z.count)
    #expect(abs(tail - 5.76e-4) < 5 * (5.76e-4 / 400_000).squareRoot())
    var buf = [Float](repeating: 0, count: 1001)
    buf.withUnsafeMutableBufferPointer { r.fillNormal($0, mean: 3, std: 2) }
    expectMean(buf.map(Double.init), 3, 4, "fillNormal")
  }

  @Test func gammaBetaStudentLogNormal() {
    var r = Xoshiro(seed: 2)
    for (k, theta) in [(0.3, 2.0), (1.0, 1.0), (4.5, 0.5)] {
      let g = (0..<100_000).map { _ in r.nextGamma(shape: k, scale: theta) }
      expectMean(g, k * theta, k * theta * theta, "gamma(\(k))")
      expectVariance(g, k * theta * theta, kurtosis: 3 + 6 / k, "gamma(\(k))")
    }
    let (a, b) = (2.0, 5.0)
    let be = (0..<100_000).map { _ in r.nextBeta(a, b) }
    expectMean(be, a / (a + b), a * b / ((a + b) * (a + b) * (a + b + 1)), "beta")
    let t = (0..<100_000).map { _ in r.nextStudentT(df: 6) }
    expectMean(t, 0, 1.5, "student-t")
    expectVariance(t, 1.5, kurtosis: 6, "student-t")
    let ln = (0..<100_000).map { _ in r.nextLogNormal(mu: 0.2, sigma: 0.5) }
    let lnMean = exp(0.2 + 0.125)
    let lnVar = (exp(0.25) - 1) * exp(0.4 + 0.25)
    expectMean(ln, lnMean, lnVar, "lognormal")
  }

  @Test func binomialPoissonCategorical() {
    var r = Xoshiro(seed: 3)
    for (n, p) in [(10, 0.3), (1000, 0.02), (1000, 0.7), (100_000, 0.5), (7, 0.999)] {
      let xs = (0..<40_000).map { _ in Double(r.nextBinomial(n: n, p: p)) }
      #expect(xs.allSatisfy { $0 >= 0 && $0 <= Double(n) })
      let v = Double(n) * p * (1 - p)
      expectMean(xs, Double(n) * p, v, "binomial(\(n), \(p))")
      expectVariance(xs, v, kurtosis: 3 + (1 - 6 * p * (1 - p)) / v, "binomial(\(n), \(p))")
    }
    #expect(r.nextBinomial(n: 0, p: 0.5) == 0 && r.nextBinomial(n: 5, p: 1) == 5 && r.nextBinomial(n: 5, p: 0) == 0)
    for lam in [0.5, 7.0, 250.0] {
      let xs = (0..<40_000).map { _ in Double(r.nextPoisson(lam)) }
      expectMean(xs, lam, lam, "poisson(\(lam))")
      expectVariance(xs, lam, kurtosis: 3 + 1 / lam, "poisson(\(lam))")
    }
    let w = [0.1, 0.0, 0.6, 0.3]
    var counts = [0, 0, 0, 0]
    for _ in 0..<100_000 { counts[r.nextCategorical(w)] += 1 }
    #expect(counts[1] == 0)
    for i in [0, 2, 3] {
      let p = w[i]
      #expect(abs(Double(counts[i]) / 100_000 - p) < 5 * (p * (1 - p) / 100_000).squareRoot())
    }
  }

  @Test func multivariateNormalCovariance() throws {
    var r = Xoshiro(seed: 4)
    let cov = DMatrix(rows: 2, cols: 2, values: [2, 0.8, 0.8, 1])
    let l = try cov.cholesky()
    let xs = (0..<100_000).map { _ in r.nextMultivariateNormal(mean: [1, -1], choleskyFactor: l) }
    let mx = xs.reduce(0) { $0 + $1[0] } / 1e5
    let my = xs.reduce(0) { $0 + $1[1] } / 1e5
    let cxy = xs.reduce(0) { $0 + ($1[0] - mx) * ($1[1] - my) } / 1e5
    #expect(abs(mx - 1) < 0.03 && abs(my + 1) < 0.02)
    #expect(abs(cxy - 0.8) < 0.03)
    let p = r.permutation(50)
    #expect(p.sorted() == Array(0..<50))
  }

  @Test func parallelForIsDeterministic() {
    func run(threads: Int) -> [Double] {
      var out = [Double](repeating: 0, count: 1000)
      out.withUnsafeMutableBufferPointer { buf in
        let p = UnsafeSendablePointer(buf.baseAddress!)
        parallelFor(count: 1000, chunks: threads) { _, range in
          for i in range {
            var g = Xoshiro(seed: 11, stream: UInt64(i))
            p.base[i] = g.nextNormal()
          }
        }
      }
      return out
    }
    #expect(run(threads: 1) == run(threads: 2))
    #expect(chunkRanges(count: 10, chunks: 3) == [0..<3, 3..<6, 6..<10])
  }
}

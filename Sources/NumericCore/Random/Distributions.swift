// Samplers for the distributions the tasks and diagnostics need. All draw from `Xoshiro` and work in Double.

import Foundation

extension Xoshiro {
  /// Log-normal: exp(N(mu, sigma²)).
  public mutating func nextLogNormal(mu: Double, sigma: Double) -> Double { Foundation.exp(mu + sigma * nextNormal()) }

  /// Gamma(shape, scale) by Marsaglia & Tsang (2000), with the u^{1/shape} boost for shape < 1.
  public mutating func nextGamma(shape: Double, scale: Double = 1) -> Double {
    precondition(shape > 0 && scale > 0, "Gamma needs positive shape and scale")
    if shape < 1 {
      let g = nextGamma(shape: shape + 1, scale: 1)
      return scale * g * Foundation.pow(nextOpenDouble(), 1 / shape)
    }
    let d = shape - 1.0 / 3.0
    let c = 1 / (9 * d).squareRoot()
    while true {
      var x: Double
      var v: Double
      repeat {
        x = nextNormal()
        v = 1 + c * x
      } while v <= 0
      v = v * v * v
      let u = nextOpenDouble()
      if u < 1 - 0.0331 * x * x * x * x { return scale * d * v }
      if Foundation.log(u) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return scale * d * v }
    }
  }

  /// Beta(a, b) as G_a / (G_a + G_b).
  public mutating func nextBeta(_ a: Double, _ b: Double) -> Double {
    let x = nextGamma(shape: a)
    let y = nextGamma(shape: b)
    return x / (x + y)
  }

  /// Student-t with `df` degrees of freedom: Z / sqrt(χ²_df / df).
  public mutating func nextStudentT(df: Double) -> Double {
    let z = nextNormal()
    let chi2 = 2 * nextGamma(shape: df / 2)
    return z / (chi2 / df).squareRoot()
  }

  /// Binomial(n, p), exact, O(log n) expected work.
  ///
  /// For large n, Knuth's beta-splitting (TAOCP vol. 2, 3.4.1 F): the a-th order statistic of n uniforms is
  /// Beta(a, n + 1 − a); comparing it with p tells on which side of the a-th success the count lies. Small n
  /// finish by inversion of the sequential search.
  public mutating func nextBinomial(n: Int, p: Double) -> Int {
    precondition(n >= 0)
    if n == 0 || p <= 0 { return 0 }
    if p >= 1 { return n }
    var n = n
    var p = p
    var result = 0
    while n > 40 {
      let a = 1 + n / 2
      let b = n + 1 - a
      let x = nextBeta(Double(a), Double(b))
      if x >= p {
        n = a - 1
        p = p / x
      } else {
        result += a
        n = b - 1
        p = (p - x) / (1 - x)
      }
    }
    // Inversion for small n: walk the pmf.
    let q = 1 - p
    if p >= 1 { return result + n }
    if q >= 1 { return result }
    var u = nextDouble()
    var k = 0
    var pk = Foundation.pow(q, Double(n))
    if pk > 0 {
      while u > pk && k < n {
        u -= pk
        pk *= Double(n - k) / Double(k + 1) * (p / q)
        k += 1
      }
      return result + k
    }
    // pow underflowed (extreme p): fall back to summing Bernoulli draws.
    for _ in 0..<n where nextDouble() < p { k += 1 }
    return result + k
  }

  /// Poisson(lambda) by inversion (small λ) or by splitting into Gamma/Binomial steps (large λ).
  public mutating func nextPoisson(_ lambda: Double) -> Int {
    precondition(lambda >= 0)
    var lam = lambda
    var k = 0
    // Ahrens–Dieter style reduction: a Gamma(m) arrival time decides whether the count is below m.
    while lam > 30 {
      let m = Int(lam * 7 / 8)
      let x = nextGamma(shape: Double(m))
      if x > lam { return k + nextBinomial(n: m - 1, p: lam / x) }
      k += m
      lam -= x
    }
    let l = Foundation.exp(-lam)
    var prod = nextDouble()
    while prod > l {
      k += 1
      prod *= nextDouble()
    }
    return k
  }

  /// Index drawn with probability proportional to `weights` (non-negative, not all zero).
  public mutating func nextCategorical(_ weights: [Double]) -> Int {
    let total = weights.reduce(0, +)
    precondition(total > 0 && total.isFinite, "categorical weights must have a positive finite sum")
    var u = nextDouble() * total
    for (i, w) in weights.enumerated() {
      if u < w { return i }
      u -= w
    }
    return weights.lastIndex { $0 > 0 }!
  }

  /// A draw from N(mean, L Lᵀ) given the lower Cholesky factor L of the covariance.
  public mutating func nextMultivariateNormal(mean: [Double], choleskyFactor l: DMatrix) -> [Double] {
    let n = mean.count
    precondition(l.rows == n && l.cols == n)
    let z = (0..<n).map { _ in nextNormal() }
    var out = mean
    for i in 0..<n {
      var s = 0.0
      for k in 0...i { s += l[i, k] * z[k] }
      out[i] += s
    }
    return out
  }

  /// A uniformly random permutation of 0..<n (Fisher–Yates).
  public mutating func permutation(_ n: Int) -> [Int] {
    var p = Array(0..<n)
    if n < 2 { return p }
    for i in stride(from: n - 1, to: 0, by: -1) {
      let j = nextInt(below: i + 1)
      p.swapAt(i, j)
    }
    return p
  }
}

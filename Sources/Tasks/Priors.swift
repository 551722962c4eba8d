// The priors of the tasks: uniform boxes, (correlated) Gaussians and diagonal log-normals.

import Foundation
import NumericCore

private let log2Pi = Foundation.log(2 * Double.pi)

/// Uniform on the box ∏_j [lower_j, upper_j]: log p = −Σ_j log(upper_j − lower_j) inside, −∞ outside; score 0.
public struct BoxUniformPrior: Prior {
  public let lower: [Double]
  public let upper: [Double]
  public var dimension: Int { lower.count }
  public var constraint: ParameterConstraint { .box(lower: lower, upper: upper) }

  public init(lower: [Double], upper: [Double]) {
    precondition(lower.count == upper.count && zip(lower, upper).allSatisfy { $0 < $1 }, "empty box")
    self.lower = lower
    self.upper = upper
  }

  /// The cube [−bound, bound]^dimension.
  public init(dimension: Int, bound: Double) {
    self.init(lower: [Double](repeating: -bound, count: dimension), upper: [Double](repeating: bound, count: dimension))
  }

  public func sample(count: Int, seed: UInt64) -> Matrix {
    blockedRowMap(rows: count, outputColumns: dimension, seed: seed) { rng, _, out in
      for j in 0..<lower.count { out[j] = Float(lower[j] + (upper[j] - lower[j]) * rng.nextDouble()) }
    }
  }

  public func logDensity(_ theta: Matrix) -> [Double] {
    let logVolume = zip(lower, upper).reduce(0.0) { $0 + Foundation.log($1.1 - $1.0) }
    return (0..<theta.rows).map { i in
      for j in 0..<dimension {
        let v = Double(theta[i, j])
        if v < lower[j] || v > upper[j] { return -.infinity }
      }
      return -logVolume
    }
  }

  public func score(_ theta: Matrix) -> Matrix? { Matrix(rows: theta.rows, cols: dimension) }
  public var mean: [Double] { zip(lower, upper).map { ($0 + $1) / 2 } }
  public var standardDeviation: [Double] { zip(lower, upper).map { ($1 - $0) / 12.0.squareRoot() } }
}

/// Multivariate normal N(μ, Σ): log p = −½(θ−μ)ᵀΣ⁻¹(θ−μ) − ½ log det(2πΣ), score −Σ⁻¹(θ−μ).
public struct GaussianPrior: Prior {
  public let meanVector: [Double]
  public let covariance: DMatrix
  /// Lower Cholesky factor of Σ.
  public let choleskyFactor: DMatrix
  /// Σ⁻¹.
  public let precision: DMatrix
  let logNormalizer: Double
  public var dimension: Int { meanVector.count }
  public var constraint: ParameterConstraint { .unbounded }

  /// N(mean, covariance); the covariance must be symmetric positive definite.
  public init(mean: [Double], covariance: DMatrix) {
    precondition(covariance.rows == mean.count && covariance.cols == mean.count, "covariance shape")
    meanVector = mean
    self.covariance = covariance
    // Programmer error: task definitions pass fixed SPD matrices.
    choleskyFactor = try! covariance.cholesky()
    precision = try! covariance.inverseSPD()
    logNormalizer = -0.5 * (Double(mean.count) * log2Pi + (try! covariance.logDeterminantSPD()))
  }

  /// N(mean, diag(std²)).
  public init(mean: [Double], standardDeviation std: [Double]) {
    self.init(mean: mean, covariance: DMatrix.diagonal(std.map { $0 * $0 }))
  }

  public func sample(count: Int, seed: UInt64) -> Matrix {
    let d = dimension
    let l = choleskyFactor.values
    let diagonal = (0..<d).allSatisfy { i in (0..<i).allSatisfy { l[i * d + $0] == 0 } }
    return blockedRowMap(rows: count, outputColumns: d, seed: seed) { rng, _, out in
      if diagonal {
        for i in 0..<d { out[i] = Float(meanVector[i] + l[i * d + i] * rng.nextNormal()) }
        return
      }
      var z = [Double](repeating: 0, count: d)
      for i in 0..<d { z[i] = rng.nextNormal() }
      for i in 0..<d {
        var s = meanVector[i]
        for j in 0...i { s += l[i * d + j] * z[j] }
        out[i] = Float(s)
      }
    }
  }

  public func logDensity(_ theta: Matrix) -> [Double] {
    let d = dimension
    return (0..<theta.rows).map { r in
      let diff = (0..<d).map { Double(theta[r, $0]) - meanVector[$0] }
      let y = choleskyFactor.solveLower(diff)
      return logNormalizer - 0.5 * y.reduce(0) { $0 + $1 * $1 }
    }
  }

  public func score(_ theta: Matrix) -> Matrix? {
    let d = dimension
    var out = Matrix(rows: theta.rows, cols: d)
    for r in 0..<theta.rows {
      let diff = (0..<d).map { Double(theta[r, $0]) - meanVector[$0] }
      let g = precision.multiply(diff)
      for j in 0..<d { out[r, j] = Float(-g[j]) }
    }
    return out
  }

  public var mean: [Double] { meanVector }
  public var standardDeviation: [Double] { (0..<dimension).map { covariance.values[$0 * dimension + $0].squareRoot() } }
}

/// Independent log-normals: log θ_j ~ N(μ_j, σ_j²).
/// log p = Σ_j [−log θ_j − log σ_j − ½ log 2π − (log θ_j − μ_j)²/(2σ_j²)], ∂/∂θ_j = −(1 + (log θ_j − μ_j)/σ_j²)/θ_j.
public struct LogNormalPrior: Prior {
  public let mu: [Double]
  public let sigma: [Double]
  public var dimension: Int { mu.count }
  public var constraint: ParameterConstraint { .positive }

  public init(mu: [Double], sigma: [Double]) {
    precondition(mu.count == sigma.count && sigma.allSatisfy { $0 > 0 })
    self.mu = mu
    self.sigma = sigma
  }

  public func sample(count: Int, seed: UInt64) -> Matrix {
    blockedRowMap(rows: count, outputColumns: dimension, seed: seed) { rng, _, out in
      for j in 0..<mu.count { out[j] = Float(Foundation.exp(mu[j] + sigma[j] * rng.nextNormal())) }
    }
  }

  public func logDensity(_ theta: Matrix) -> [Double] {
    (0..<theta.rows).map { r in
      var s = 0.0
      for j in 0..<dimension {
        let v = Double(theta[r, j])
        if !(v > 0) { return -.infinity }
        let l = Foundation.log(v)
        let z = (l - mu[j]) / sigma[j]
        s += -l - Foundation.log(sigma[j]) - 0.5 * log2Pi - 0.5 * z * z
      }
      return s
    }
  }

  public func score(_ theta: Matrix) -> Matrix? {
    var out = Matrix(rows: theta.rows, cols: dimension)
    for r in 0..<theta.rows {
      for j in 0..<dimension {
        let v = Double(theta[r, j])
        out[r, j] = Float(-(1 + (Foundation.log(v) - mu[j]) / (sigma[j] * sigma[j])) / v)
      }
    }
    return out
  }

  public var mean: [Double] { zip(mu, sigma).map { Foundation.exp($0 + $1 * $1 / 2) } }
  public var standardDeviation: [Double] {
    zip(mu, sigma).map { ((Foundation.exp($1 * $1) - 1) * Foundation.exp(2 * $0 + $1 * $1)).squareRoot() }
  }
}

/// Independent truncated normals: θ_j ~ N(μ_j, σ_j²) restricted to [a_j, b_j] (the review's prior of the beer2014
/// task, SciPy `truncnorm`). With α = (a − μ)/σ, β = (b − μ)/σ, z = (θ − μ)/σ and Z = Φ(β) − Φ(α):
///
///     log p = Σ_j [−½z² − log σ − ½ log 2π − log Z]  inside the box (−∞ outside),  ∂/∂θ_j = −z/σ,
///     mean = μ + σ(φ(α) − φ(β))/Z,  variance = σ²[1 + (αφ(α) − βφ(β))/Z − ((φ(α) − φ(β))/Z)²]
///
/// (Johnson, Kotz & Balakrishnan, "Continuous Univariate Distributions" Vol. 1, §10.1). Draws: rejection from the
/// untruncated normal when Z ≥ 0.3, otherwise the inverse CDF Φ⁻¹(Φ(α) + u·Z).
public struct TruncatedNormalPrior: Prior {
  public let mu: [Double]
  public let sigma: [Double]
  public let lower: [Double]
  public let upper: [Double]
  /// Z_j = Φ(β_j) − Φ(α_j), the mass inside the bounds.
  public let mass: [Double]
  public var dimension: Int { mu.count }
  public var constraint: ParameterConstraint { .box(lower: lower, upper: upper) }

  public init(mean: [Double], standardDeviation: [Double], lower: [Double], upper: [Double]) {
    let d = mean.count
    precondition(standardDeviation.count == d && lower.count == d && upper.count == d)
    precondition((0..<d).allSatisfy { standardDeviation[$0] > 0 && lower[$0] < upper[$0] }, "empty truncation")
    mu = mean
    sigma = standardDeviation
    self.lower = lower
    self.upper = upper
    mass = (0..<d).map {
      Special.normalCDF((upper[$0] - mean[$0]) / standardDeviation[$0])
        - Special.normalCDF((lower[$0] - mean[$0]) / standardDeviation[$0])
    }
  }

  public func sample(count: Int, seed: UInt64) -> Matrix {
    blockedRowMap(rows: count, outputColumns: dimension, seed: seed) { rng, _, out in
      for j in 0..<mu.count {
        let a = (lower[j] - mu[j]) / sigma[j], b = (upper[j] - mu[j]) / sigma[j]
        var z: Double
        if mass[j] >= 0.3 {
          repeat { z = rng.nextNormal() } while z < a || z > b
        } else {
          let pa = Special.normalCDF(a)
          z = min(max(Special.normalQuantile(pa + rng.nextDouble() * mass[j]), a), b)
        }
        out[j] = Float(mu[j] + sigma[j] * z)
      }
    }
  }

  public func logDensity(_ theta: Matrix) -> [Double] {
    (0..<theta.rows).map { r in
      var s = 0.0
      for j in 0..<dimension {
        let v = Double(theta[r, j])
        if !(v >= lower[j] && v <= upper[j]) { return -.infinity }
        let z = (v - mu[j]) / sigma[j]
        s += -0.5 * z * z - Foundation.log(sigma[j]) - 0.5 * log2Pi - Foundation.log(mass[j])
      }
      return s
    }
  }

  public func score(_ theta: Matrix) -> Matrix? {
    var out = Matrix(rows: theta.rows, cols: dimension)
    for r in 0..<theta.rows {
      for j in 0..<dimension { out[r, j] = Float(-(Double(theta[r, j]) - mu[j]) / (sigma[j] * sigma[j])) }
    }
    return out
  }

  /// (φ(α) − φ(β))/Z and (αφ(α) − βφ(β))/Z per coordinate.
  private var moments: [(Double, Double)] {
    (0..<dimension).map { j in
      let a = (lower[j] - mu[j]) / sigma[j], b = (upper[j] - mu[j]) / sigma[j]
      let pdf = { (x: Double) -> Double in x.isInfinite ? 0 : Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() }
      return ((pdf(a) - pdf(b)) / mass[j], (a * pdf(a) - b * pdf(b)) / mass[j])
    }
  }

  public var mean: [Double] { zip(moments, 0..<dimension).map { mu[$1] + sigma[$1] * $0.0 } }
  public var standardDeviation: [Double] {
    zip(moments, 0..<dimension).map { m, j in sigma[j] * (1 + m.1 - m.0 * m.0).squareRoot() }
  }
}

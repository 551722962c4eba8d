// Compositional score estimation over J observations or groups from a network trained on single observations
// (Geffner et al. 2023; Linhart et al. 2024; Arruda et al. 2025; Documentation/Methods.md §8, §13.1).
//
// p(θ | y_1:J) ∝ p(θ)^{1−J} ∏_j p(θ | y_j), so at t = 0 the posterior score is (1 − J)s_p + Σ_j s_j. For t > 0
// the methods differ in how they approximate the diffused score:
//
// - direct (BayesFlow `compositional_score`, sbi `fnpe`):  s = s_p + (J/M) Σ_{j∈batch} (s_j − s_p), with M of the J
//   observations drawn without replacement for every sample at every evaluation (unbiased for the full sum);
// - Gauss-corrected (sbi `gauss`, `auto_gauss`, `jac_gauss`; BayesFlow `use_jac`): with denoising precisions Π
//   (precision of θ₀ given z_t),  Λ = (1 − J)Π_p + (J/M)Σ_j Π_j,  s = Λ⁻¹[(1 − J)Π_p s_p + (J/M)Σ_j Π_j s_j].
//   `gauss`: Π_j = Λ_post + (α²/σ²)I with a fixed per-observation posterior precision (default 2× the prior's);
//   `auto_gauss`: Λ_post,j estimated from samples of each single-observation posterior;
//   JAC: Π_j = (α²/σ²)(I + σ² ∂s_j/∂z)⁻¹ = (α²/σ²)(α ∂x̂_j/∂z)⁻¹ (Tweedie's covariance), per sample.
//   For Gaussian prior and Gaussian per-observation posteriors with exact precisions this is the exact
//   diffused posterior score.
// Then the damping bridge s ← b(t)s, b(t) = d0 (d1/d0)^t, and clipping of x̂ = (z + σ²s)/α.
//
// Everything runs on the scaled score D = σ²s = αx̂ − z, which is linear in s and O(1) at every t.

import Foundation
import NumericCore
import Diffusion

/// Per-observation posterior precision for the `gauss` method (network space).
public enum PosteriorPrecision: Sendable {
  /// `factor` × the prior's precision (sbi's heuristic, factor 2).
  case priorScaled(Double)
  /// One precision matrix shared by all observations.
  case shared(DMatrix)
  /// One precision matrix per observation.
  case perObservation([DMatrix])
}

/// Options of `auto_gauss`: the per-observation posterior precision is estimated from samples of each
/// single-observation posterior drawn with the per-observation denoiser.
public struct AutoGaussOptions: Sendable {
  /// Samples per observation (sbi: min(1000 d, 5000)).
  public var samplesPerObservation: Int
  /// Steps of the per-observation sampler (sbi: 100 Euler–Maruyama steps).
  public var steps: Int
  /// The per-observation sampler: DPM-Solver++(2M) by default (accurate single-observation posteriors at 50
  /// evaluations); sbi uses Euler–Maruyama.
  public var sampler: SamplerKind
  /// Estimate only the diagonal of the precision.
  public var diagonalOnly: Bool
  public var seed: UInt64

  public init(samplesPerObservation: Int = 1000, steps: Int = 50, sampler: SamplerKind = .dpmSolver2M,
              diagonalOnly: Bool = false, seed: UInt64 = 7) {
    self.samplesPerObservation = samplesPerObservation
    self.steps = steps
    self.sampler = sampler
    self.diagonalOnly = diagonalOnly
    self.seed = seed
  }
}

/// The Jacobian ∂x̂/∂z for the JAC method: central finite differences (2d extra pair evaluations, all in one
/// batched call), or a user closure returning the row-major d×d Jacobian of every pair as a row of [N, d·d].
public enum DenoiserJacobian: @unchecked Sendable {
  case finiteDifference(step: Double)
  case supplied((_ z: Matrix, _ observation: [Int], _ t: Double) -> Matrix)
}

/// The composition rule.
public enum CompositionMethod: @unchecked Sendable {
  case direct
  case gauss(PosteriorPrecision)
  case autoGauss(AutoGaussOptions)
  case jacobian(DenoiserJacobian)

  /// Names as the command line spells them.
  public var name: String {
    switch self {
    case .direct: return "direct"
    case .gauss: return "gauss"
    case .autoGauss: return "auto-gauss"
    case .jacobian: return "jac"
    }
  }
}

/// Options shared by all composition methods.
public struct CompositionOptions: @unchecked Sendable {
  /// The rule; by default the Gauss-corrected rule with per-observation precisions estimated from samples of each
  /// single-observation posterior (auto-gauss), exact for Gaussian posteriors with exact scores and the best
  /// calibrated rule measured with trained networks (Documentation/Composition.md, "Defaults").
  public var method: CompositionMethod
  /// M, the observations per sample and evaluation; nil uses all J (BayesFlow's default is max(⌊0.1J⌋, 2)).
  public var miniBatchSize: Int?
  /// Damping bridge b(0) = d0.
  public var dampingStart: Double
  /// Damping bridge b(1) = d1.
  public var dampingEnd: Double
  /// Clip range of the composed x̂ (standardized space); nil for none. BayesFlow: −3…3.
  public var clip: ClosedRange<Float>?
  /// Nugget added to the per-observation precisions when Λ is not positive definite (grown ×10 until it is).
  public var precisionNugget: Double

  public init(method: CompositionMethod = .autoGauss(AutoGaussOptions()), miniBatchSize: Int? = nil, dampingStart: Double = 1,
              dampingEnd: Double = 1, clip: ClosedRange<Float>? = -3...3, precisionNugget: Double = 0.01) {
    self.method = method
    self.miniBatchSize = miniBatchSize
    self.dampingStart = dampingStart
    self.dampingEnd = dampingEnd
    self.clip = clip
    self.precisionNugget = precisionNugget
  }

  /// b(t) = d0 (d1/d0)^t.
  public func damping(_ t: Double) -> Double { dampingStart * pow(dampingEnd / dampingStart, t) }
}

/// Composes a per-observation denoiser over J observations into one posterior denoiser for the samplers.
///
/// Usage: `let c = try ScoreComposer(...); try sample(kind, denoiser: c.denoiser, initial: ..., ...)`.
/// Not thread-safe (it owns the mini-batch random stream).
public final class ScoreComposer {
  public let observationCount: Int
  public let prior: any CompositionPrior
  public let schedule: any NoiseSchedule
  public let options: CompositionOptions
  let paired: PairedDenoiser
  /// Per-observation posterior precisions Λ_post,j for the Gauss methods (nil for direct and JAC).
  public private(set) var posteriorPrecisions: [DMatrix]?
  var rng: Xoshiro
  /// Number of (state, observation) pairs evaluated so far.
  public private(set) var pairEvaluations = 0

  public init(denoiser: @escaping PairedDenoiser, observations j: Int, prior: any CompositionPrior,
              schedule: any NoiseSchedule, options: CompositionOptions = CompositionOptions(), seed: UInt64 = 0) throws {
    guard j >= 1 else { throw CompositionError.invalidOption("composition needs at least one observation") }
    if let m = options.miniBatchSize, m < 1 || m > j {
      throw CompositionError.invalidOption("mini-batch size \(m) outside 1…\(j)")
    }
    guard options.dampingStart > 0, options.dampingEnd > 0 else {
      throw CompositionError.invalidOption("damping d0 and d1 must be positive")
    }
    observationCount = j
    self.prior = prior
    self.schedule = schedule
    self.options = options
    paired = denoiser
    rng = Xoshiro(seed: seed, stream: 0x636F_6D70)
    switch options.method {
    case .direct, .jacobian: posteriorPrecisions = nil
    case .gauss(let p):
      switch p {
      case .priorScaled(let f):
        var m = prior.precision
        for i in 0..<m.values.count { m.values[i] *= f }
        posteriorPrecisions = Array(repeating: m, count: j)
      case .shared(let m): posteriorPrecisions = Array(repeating: m, count: j)
      case .perObservation(let ms):
        guard ms.count == j else { throw CompositionError.shapeMismatch("\(ms.count) precisions for \(j) observations") }
        posteriorPrecisions = ms
      }
    case .autoGauss(let o):
      posteriorPrecisions = try estimatePosteriorPrecisions(
        denoiser: denoiser, observations: j, dimension: prior.dimension, schedule: schedule, options: o)
    }
    if let ps = posteriorPrecisions, ps.contains(where: { $0.rows != prior.dimension || $0.cols != prior.dimension }) {
      throw CompositionError.shapeMismatch("posterior precisions must be \(prior.dimension)×\(prior.dimension)")
    }
  }

  /// The composed denoiser, to hand to `sample`.
  public var denoiser: Denoiser { { [self] z, t in self.denoise(z, t) } }

  /// Draws M of J indices without replacement per sample (Floyd's algorithm), or all J when M = J.
  func drawBatches(rows: Int, m: Int) -> [Int] {
    let j = observationCount
    if m == j { return (0..<rows).flatMap { _ in 0..<j } }
    var out = [Int]()
    out.reserveCapacity(rows * m)
    var chosen = Set<Int>()
    for _ in 0..<rows {
      chosen.removeAll(keepingCapacity: true)
      var picks = [Int]()
      for k in (j - m)..<j {
        let r = rng.nextInt(below: k + 1)
        if chosen.insert(r).inserted { picks.append(r) } else { chosen.insert(k); picks.append(k) }
      }
      out.append(contentsOf: picks)
    }
    return out
  }

  /// The composed x̂ for z [B, d] at time t.
  public func denoise(_ z: Matrix, _ t: Double) -> Matrix {
    let p = schedule.point(t)
    let (b, d) = (z.rows, z.cols)
    let m = options.miniBatchSize ?? observationCount
    let jOverM = Double(observationCount) / Double(m)
    let batch = drawBatches(rows: b, m: m)
    var zRep = Matrix(rows: b * m, cols: d)
    z.withUnsafeBufferPointer { zp in
      zRep.withUnsafeMutableBufferPointer { rp in
        for r in 0..<b { for k in 0..<m { for c in 0..<d { rp[(r * m + k) * d + c] = zp[r * d + c] } } }
      }
    }
    let xj = paired(zRep, batch, t)
    pairEvaluations += b * m
    let dj = Tweedie.scaledScore(denoised: xj, z: zRep, alpha: p.alpha).storage  // σ² s_j, [B·M, d]
    let dp = prior.scaledScore(z, at: p).storage                                   // σ² s_p, [B, d]
    var comp = [Float](repeating: 0, count: b * d)
    switch options.method {
    case .direct:
      for r in 0..<b {
        for c in 0..<d {
          var acc = 0.0
          for k in 0..<m { acc += Double(dj[(r * m + k) * d + c]) }
          let sp = Double(dp[r * d + c])
          comp[r * d + c] = Float(sp + jOverM * (acc - Double(m) * sp))
        }
      }
    case .gauss, .autoGauss:
      let ratio = p.alpha * p.alpha / (p.sigma * p.sigma)
      let post = posteriorPrecisions!.map { l -> [Double] in
        var q = l.values
        for i in 0..<d { q[i * d + i] += ratio }
        return q
      }
      var solver = PrecisionSolver(dimension: d, observations: observationCount, jOverM: jOverM,
                                   prior: prior.denoisingPrecision(at: p).values, nugget: options.precisionNugget)
      for r in 0..<b {
        solver.start(priorScore: dp, row: r)
        for k in 0..<m { solver.add(precision: post[batch[r * m + k]], score: dj, row: r * m + k) }
        solver.solve(into: &comp, row: r)
      }
    case .jacobian(let jac):
      let jacobians = denoiserJacobians(jac, z: zRep, observation: batch, t: t, base: xj).storage
      let ratio = p.alpha * p.alpha / (p.sigma * p.sigma)
      var solver = PrecisionSolver(dimension: d, observations: observationCount, jOverM: jOverM,
                                   prior: prior.denoisingPrecision(at: p).values, nugget: options.precisionNugget)
      var a = [Double](repeating: 0, count: d * d)
      var inv = a
      for r in 0..<b {
        solver.start(priorScore: dp, row: r)
        for k in 0..<m {
          // Π = (α²/σ²)(α ∂x̂/∂z)⁻¹, symmetrized.
          let base = (r * m + k) * d * d
          for i in 0..<d {
            for c in 0..<d {
              a[i * d + c] = 0.5 * p.alpha * Double(jacobians[base + i * d + c] + jacobians[base + c * d + i])
            }
          }
          if !invertSPD(a, into: &inv, d) {
            for i in 0..<d * d { inv[i] = i % (d + 1) == 0 ? 1 : 0 }
          }
          for i in 0..<d * d { inv[i] *= ratio }
          solver.add(precision: inv, score: dj, row: r * m + k)
        }
        solver.solve(into: &comp, row: r)
      }
    }
    let damp = options.damping(t)
    var cm = Matrix(rows: b, cols: d, storage: comp)
    if damp != 1 { cm.scale(by: Float(damp)) }
    var x = Tweedie.denoised(scaledScore: cm, z: z, alpha: p.alpha)
    if let c = options.clip { clip(&x, lower: c.lowerBound, upper: c.upperBound) }
    return x
  }

  /// ∂x̂/∂z for every pair as rows of [N, d·d] (row-major d×d).
  func denoiserJacobians(_ j: DenoiserJacobian, z: Matrix, observation: [Int], t: Double, base: Matrix) -> Matrix {
    switch j {
    case .supplied(let f):
      pairEvaluations += z.rows
      return f(z, observation, t)
    case .finiteDifference(let h):
      let (n, d) = (z.rows, z.cols)
      var pert = Matrix(rows: 2 * d * n, cols: d)
      var obs = [Int](repeating: 0, count: 2 * d * n)
      for k in 0..<d {
        for sgn in 0..<2 {
          let block = (2 * k + sgn) * n
          for r in 0..<n {
            for c in 0..<d { pert[block + r, c] = z[r, c] }
            pert[block + r, k] += Float(sgn == 0 ? h : -h)
            obs[block + r] = observation[r]
          }
        }
      }
      let x = paired(pert, obs, t)
      pairEvaluations += 2 * d * n
      var out = Matrix(rows: n, cols: d * d)
      for k in 0..<d {
        for r in 0..<n {
          for i in 0..<d {
            // ∂x̂_i/∂z_k
            out[r, i * d + k] = Float((Double(x[2 * k * n + r, i]) - Double(x[(2 * k + 1) * n + r, i])) / (2 * h))
          }
        }
      }
      return out
    }
  }
}

/// Estimates the posterior precision of every single-observation posterior from samples drawn with the
/// per-observation denoiser (Euler–Maruyama, all observations in one batch); sbi's `auto_gauss`.
public func estimatePosteriorPrecisions(
  denoiser: @escaping PairedDenoiser, observations j: Int, dimension d: Int, schedule: any NoiseSchedule,
  options: AutoGaussOptions
) throws -> [DMatrix] {
  let n = options.samplesPerObservation
  guard n > d + 1 else { throw CompositionError.invalidOption("auto-gauss needs more than d + 1 samples per observation") }
  var rng = Xoshiro(seed: options.seed, stream: 0x6175_746F)
  let obs = (0..<j).flatMap { k in [Int](repeating: k, count: n) }
  let init0 = priorSample(rows: j * n, cols: d, schedule: schedule, rng: &rng)
  let result = try sample(
    options.sampler, denoiser: { z, t in denoiser(z, obs, t) }, initial: init0, schedule: schedule,
    options: SamplerOptions(steps: .fixed(options.steps)), rng: &rng)
  return try (0..<j).map { k in
    let xs = result.samples.rows((k * n)..<((k + 1) * n))
    let cov = sampleCovariance(xs)
    if options.diagonalOnly {
      return DMatrix.diagonal((0..<d).map { 1 / max(cov[$0, $0], 1e-12) })
    }
    guard let p = try? cov.inverseSPD() else {
      throw CompositionError.notPositiveDefinite("estimated posterior covariance of observation \(k)")
    }
    return p
  }
}

/// The unbiased sample covariance of the rows.
func sampleCovariance(_ x: Matrix) -> DMatrix {
  let (n, d) = (x.rows, x.cols)
  var mean = [Double](repeating: 0, count: d)
  for r in 0..<n { for c in 0..<d { mean[c] += Double(x[r, c]) } }
  for c in 0..<d { mean[c] /= Double(n) }
  var cov = DMatrix(rows: d, cols: d)
  for r in 0..<n {
    for i in 0..<d {
      let di = Double(x[r, i]) - mean[i]
      for k in 0..<d { cov[i, k] += di * (Double(x[r, k]) - mean[k]) }
    }
  }
  for i in 0..<d * d { cov.values[i] /= Double(n - 1) }
  return cov
}

/// Accumulates Λ = (1 − J)Π_p + (J/M)Σ Π_j and r = (1 − J)Π_p D_p + (J/M)Σ Π_j D_j for one sample and solves
/// Λ x = r. When Λ is not positive definite a nugget δI is added to every Π_j (Λ += JδI, r += (J/M)δ Σ D_j),
/// starting at `nugget` and growing ×10 until the Cholesky factorization succeeds (sbi instead lifts negative
/// eigenvalues, which needs an eigendecomposition).
struct PrecisionSolver {
  let d: Int
  let w: Double
  let jOverM: Double
  let prior: [Double]
  let nugget: Double
  var lam: [Double]
  var rhs: [Double]
  var sumScores: [Double]
  var count = 0
  var work: [Double]

  init(dimension d: Int, observations j: Int, jOverM: Double, prior: [Double], nugget: Double) {
    self.d = d
    w = 1 - Double(j)
    self.jOverM = jOverM
    self.prior = prior
    self.nugget = nugget
    lam = [Double](repeating: 0, count: d * d)
    rhs = [Double](repeating: 0, count: d)
    sumScores = rhs
    work = lam
  }

  mutating func start(priorScore dp: [Float], row r: Int) {
    count = 0
    for i in 0..<d {
      var acc = 0.0
      for k in 0..<d { acc += prior[i * d + k] * Double(dp[r * d + k]) }
      rhs[i] = w * acc
      sumScores[i] = 0
    }
    for i in 0..<d * d { lam[i] = w * prior[i] }
  }

  mutating func add(precision q: [Double], score dj: [Float], row r: Int) {
    count += 1
    for i in 0..<d {
      var acc = 0.0
      for k in 0..<d { acc += q[i * d + k] * Double(dj[r * d + k]) }
      rhs[i] += jOverM * acc
      sumScores[i] += jOverM * Double(dj[r * d + i])
    }
    for i in 0..<d * d { lam[i] += jOverM * q[i] }
  }

  mutating func solve(into out: inout [Float], row r: Int) {
    var delta = 0.0
    for _ in 0..<40 {
      for i in 0..<d * d { work[i] = lam[i] }
      var x = rhs
      if delta > 0 {
        for i in 0..<d {
          work[i * d + i] += jOverM * Double(count) * delta
          x[i] += delta * sumScores[i]
        }
      }
      if let solution = solveSPD(work, x, d) {
        for i in 0..<d { out[r * d + i] = Float(solution[i]) }
        return
      }
      delta = delta == 0 ? nugget : delta * 10
    }
    for i in 0..<d { out[r * d + i] = Float(rhs[i]) }
  }
}

/// Solves a x = b for the row-major symmetric positive-definite n × n matrix a (its lower triangle is read)
/// through the Cholesky factor a = L Lᵀ: L y = b, then Lᵀ x = y. Nil when a is not positive definite.
func solveSPD(_ a: [Double], _ b: [Double], _ n: Int) -> [Double]? {
  guard let l = try? DMatrix(rows: n, cols: n, values: a).cholesky() else { return nil }
  return l.solveLowerTransposed(l.solveLower(b))
}

/// inv ← a⁻¹ for a row-major symmetric positive-definite n × n matrix a, column by column through its Cholesky
/// factor; false when a is not positive definite.
func invertSPD(_ a: [Double], into inv: inout [Double], _ n: Int) -> Bool {
  guard let l = try? DMatrix(rows: n, cols: n, values: a).cholesky() else { return false }
  var e = [Double](repeating: 0, count: n)
  for c in 0..<n {
    for i in 0..<n { e[i] = i == c ? 1 : 0 }
    let x = l.solveLowerTransposed(l.solveLower(e))
    for i in 0..<n { inv[i * n + c] = x[i] }
  }
  return true
}

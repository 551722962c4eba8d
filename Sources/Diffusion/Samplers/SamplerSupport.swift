// Shared pieces of the samplers: results, step control, time grids and the reverse-time drift.
//
// All samplers integrate diffusion time from t = 1 (noise) to t = 0 (data) on a batch z [B, d]. In terms of the
// denoised estimate x̂ = D(z, t), with s = (α x̂ − z)/σ² and g² = −σ² λ̇ (Documentation/Methods.md §2.2):
//
//     reverse SDE drift   f z − g² s     = (f − λ̇) z + λ̇ α x̂,
//     probability flow    f z − ½ g² s   = (f − ½λ̇) z + ½ λ̇ α x̂,
//
// written without dividing by σ², so nothing blows up near the data end.

import Foundation
import NumericCore

/// What a sampler returns.
public struct SamplingResult: Sendable {
  /// Samples at t = 0 (standardized space), [B, d].
  public var samples: Matrix
  /// Number of denoiser (network) evaluations, each on the whole batch.
  public var evaluations: Int
  /// Rows of `samples` with a non-finite entry.
  public var nonFiniteRows: Int
  /// Accepted integration steps.
  public var steps: Int
  /// Rejected trial steps (adaptive samplers only).
  public var rejectedSteps: Int

  public init(samples: Matrix, evaluations: Int, nonFiniteRows: Int, steps: Int, rejectedSteps: Int) {
    self.samples = samples
    self.evaluations = evaluations
    self.nonFiniteRows = nonFiniteRows
    self.steps = steps
    self.rejectedSteps = rejectedSteps
  }
}

/// Progress information handed to the optional step callback after every accepted step.
public struct SamplerStep: Sendable {
  public var index: Int
  /// Time reached by this step.
  public var time: Double
  /// The state after the step.
  public var state: Matrix
}

/// Called after every accepted step.
public typealias StepCallback = (SamplerStep) -> Void

/// How a sampler chooses its time steps from t = 1 to t = 0.
public enum StepControl: Sendable, Equatable {
  /// `n` equal steps in t (for the EDM schedule these are Karras ρ-spaced in σ).
  case fixed(Int)
  /// An explicit decreasing time grid from 1 to 0 (for example `TimeGrid.uniformLogSNR`).
  case scheduled([Double])
  /// Error-controlled steps.
  case adaptive(AdaptiveStepOptions)
}

/// Options of the adaptive step-size controllers.
///
/// Step sizes are clipped to [span/maxSteps, span/minSteps] (two-step SDE solver) or to
/// [remaining/(maxSteps − k), remaining/max(minSteps − k, 1)] after k accepted steps (Runge–Kutta ODE solvers),
/// following BayesFlow's `integrate.py` (Documentation/Methods.md §5.1).
public struct AdaptiveStepOptions: Sendable, Equatable {
  public var minSteps: Int
  public var maxSteps: Int
  /// Absolute tolerance (SDE default 0.02576, "1% of the 99% interval of a unit Gaussian"; ODE default 1e-6).
  public var absoluteTolerance: Double
  /// Relative tolerance (SDE default 0.1; ODE default 1e-4).
  public var relativeTolerance: Double
  /// Safety factor on the proposed step.
  public var safety: Double
  /// Exponent of the two-step SDE controller h ← h·safety·E^{−exponent} (the ODE controllers use 1/(q+1)).
  public var exponent: Double
  /// How the per-entry errors of the whole batch become the one number the controller compares with 1.
  public var errorNorm: AdaptiveErrorNorm

  public init(
    minSteps: Int = 50, maxSteps: Int = 1000, absoluteTolerance: Double, relativeTolerance: Double,
    safety: Double = 0.9, exponent: Double = 0.9, errorNorm: AdaptiveErrorNorm = .batchMaximum
  ) {
    self.errorNorm = errorNorm
    self.minSteps = minSteps
    self.maxSteps = maxSteps
    self.absoluteTolerance = absoluteTolerance
    self.relativeTolerance = relativeTolerance
    self.safety = safety
    self.exponent = exponent
  }

  /// The review's default for the two-step adaptive SDE solver: e_abs 0.02576, e_rel 0.1, safety 0.9,
  /// exponent 0.9, steps between 1/1000 and 1/50 of the span.
  public static let sde = AdaptiveStepOptions(absoluteTolerance: 0.02576, relativeTolerance: 0.1)
  /// The adaptive ODE default (rk45, tsit5): atol 1e-6, rtol 1e-4, the RMS error norm, 10 to 1000 steps. With
  /// BayesFlow's rule (`bayesFlowODE`) Tsit5 always ran into its 50-step floor, 300 evaluations; with this one it
  /// took 60–70 on the ten sbibm tasks at the same C2ST (BENCHMARKS.md "Samplers on the ten sbibm tasks").
  public static let ode = AdaptiveStepOptions(
    minSteps: 10, absoluteTolerance: 1e-6, relativeTolerance: 1e-4, errorNorm: .rms)
  /// BayesFlow's adaptive ODE rule (`integrate.py`): atol 1e-6, rtol 1e-4, the batch-maximum norm, 50 to 1000
  /// steps (`--error-norm max --min-steps 50`).
  public static let bayesFlowODE = AdaptiveStepOptions(absoluteTolerance: 1e-6, relativeTolerance: 1e-4)
}

/// The error norm of the adaptive samplers.
///
/// `batchMaximum` is BayesFlow's (`integrate.py`): the worst sample of the batch decides the step, so one row in
/// 10,000 with a large local error holds every row to small steps, and the step sizes depend on how many rows are
/// sampled together. `rms` is the usual norm of ODE codes (Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4):
/// √(mean over all entries of (eᵢ/scᵢ)²) with the per-entry scale scᵢ = atol + rtol·max(|zᵢ|, |z'ᵢ|), an average
/// accuracy over the batch that does not grow with its size (Documentation/Methods.md §5.1).
public enum AdaptiveErrorNorm: String, Sendable, Equatable, CaseIterable, Codable {
  case batchMaximum = "max"
  case rms
}

/// Time grids from t = 1 down to t = 0.
public enum TimeGrid {
  /// `steps + 1` equally spaced times 1, …, 0.
  public static func uniform(steps: Int) -> [Double] {
    (0...steps).map { 1 - Double($0) / Double(steps) }
  }

  /// `steps + 1` times equally spaced in λ between λ_min and λ_max, mapped to t by the sampling schedule.
  public static func uniformLogSNR(steps: Int, schedule: any NoiseSchedule) -> [Double] {
    (0...steps).map { i in
      if i == 0 { return 1 }
      if i == steps { return 0 }
      let l = schedule.logSNRMin + (schedule.logSNRMax - schedule.logSNRMin) * Double(i) / Double(steps)
      return min(1, max(0, schedule.time(logSNR: l)))
    }
  }

  /// The grid for a fixed-step sampler, validated.
  static func resolve(_ control: StepControl, sampler: String) throws -> [Double] {
    switch control {
    case .fixed(let n):
      guard n >= 1 else { throw DiffusionError.invalidOption("\(sampler): steps must be ≥ 1, got \(n)") }
      return uniform(steps: n)
    case .scheduled(let ts):
      guard ts.count >= 2, ts.allSatisfy({ $0 >= 0 && $0 <= 1 }), zip(ts, ts.dropFirst()).allSatisfy({ $0 > $1 })
      else {
        throw DiffusionError.invalidOption("\(sampler): a time grid must decrease strictly within [0, 1]")
      }
      return ts
    case .adaptive:
      throw DiffusionError.invalidOption("\(sampler) has fixed or scheduled steps only")
    }
  }
}

/// Draws the initial state z₁ ~ N(0, s² I), s = `schedule.priorStandardDeviation` (σ_max for VE).
public func priorSample(rows: Int, cols: Int, schedule: any NoiseSchedule, rng: inout Xoshiro) -> Matrix {
  rng.normalMatrix(rows: rows, cols: cols, std: Float(schedule.priorStandardDeviation))
}

/// The reverse-time vector fields of one schedule and denoiser, counting evaluations.
final class ReverseField {
  let schedule: any NoiseSchedule
  let denoiser: Denoiser
  private(set) var evaluations = 0

  init(schedule: any NoiseSchedule, denoiser: @escaping Denoiser) {
    self.schedule = schedule
    self.denoiser = denoiser
  }

  func denoise(_ z: Matrix, _ t: Double) -> Matrix {
    evaluations += 1
    return denoiser(z, t)
  }

  /// (f − c λ̇) z + c λ̇ α x̂: c = 1 for the reverse SDE, ½ for the probability-flow ODE (one pass over the
  /// network's output, in place).
  func drift(_ z: Matrix, _ t: Double, noiseScale c: Double) -> Matrix {
    let p = schedule.point(t)
    var out = denoise(z, t)
    update(&out, scale: c * p.dLogSNR * p.alpha, [(p.drift - c * p.dLogSNR, z)])
    return out
  }

  func sde(_ z: Matrix, _ t: Double) -> Matrix { drift(z, t, noiseScale: 1) }
  func ode(_ z: Matrix, _ t: Double) -> Matrix { drift(z, t, noiseScale: 0.5) }

  /// σ² s = α x̂ − z (the score times σ²), and σ².
  func scaledScore(_ z: Matrix, _ t: Double) -> (Matrix, Double) {
    let p = schedule.point(t)
    var out = denoise(z, t)
    update(&out, scale: p.alpha, [(-1, z)])
    return (out, p.sigma * p.sigma)
  }

  /// g(t).
  func g(_ t: Double) -> Double { max(0, schedule.diffusionSquared(t)).squareRoot() }
}

/// `base + Σ cᵢ mᵢ` as a new matrix, in one pass over the data (`Kernels.linearCombination`).
func combine(_ base: Matrix, _ terms: [(Double, Matrix)]) -> Matrix {
  let n = base.rows * base.cols
  let storage = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
    base.withUnsafeBufferPointer { pb in
      withTermPointers(terms[...], []) { t in
        Kernels.linearCombination(count: n, 1, pb.baseAddress!, terms: t, into: buffer.baseAddress!)
      }
    }
    initialized = n
  }
  return Matrix(rows: base.rows, cols: base.cols, storage: storage)
}

/// `z ← a·z + Σ cᵢ mᵢ` in place, in one pass over the data (no new storage when `z` is not shared).
func update(_ z: inout Matrix, scale a: Double, _ terms: [(Double, Matrix)]) {
  let n = z.rows * z.cols
  withTermPointers(terms[...], []) { t in
    z.withUnsafeMutableBufferPointer { pz in
      Kernels.linearCombination(count: n, Float(a), UnsafePointer(pz.baseAddress!), terms: t, into: pz.baseAddress!)
    }
  }
}

/// Calls `body` with (Float(cᵢ), pointer to mᵢ) for the terms with cᵢ ≠ 0, all pointers valid during the call.
private func withTermPointers<R>(
  _ terms: ArraySlice<(Double, Matrix)>, _ collected: [(Float, UnsafePointer<Float>)],
  _ body: ([(Float, UnsafePointer<Float>)]) -> R
) -> R {
  guard let (c, m) = terms.first else { return body(collected) }
  if c == 0 { return withTermPointers(terms.dropFirst(), collected, body) }
  return m.withUnsafeBufferPointer { p in
    withTermPointers(terms.dropFirst(), collected + [(Float(c), p.baseAddress!)], body)
  }
}

/// Per-row Euclidean norms.
func rowNorms(_ m: Matrix) -> [Double] {
  let d = m.cols
  return m.withUnsafeBufferPointer { p in
    (0..<m.rows).map { Double(Kernels.sumOfSquares(count: d, p.baseAddress! + $0 * d)).squareRoot() }
  }
}

/// √(mean over all entries of (eᵢ/(atol + rtol·max(|zᵢ|, |yᵢ|)))²): the RMS error norm (`AdaptiveErrorNorm.rms`).
func scaledRMS(_ e: Matrix, _ z: Matrix, _ y: Matrix, absolute: Float, relative: Float) -> Double {
  e.withUnsafeBufferPointer { pe in
    z.withUnsafeBufferPointer { pz in
      y.withUnsafeBufferPointer { py in
        var total = 0.0
        for i in 0..<pe.count {
          let r = pe[i] / (absolute + relative * Swift.max(Swift.abs(pz[i]), Swift.abs(py[i])))
          total += Double(r * r)
        }
        return pe.isEmpty ? 0 : (total / Double(pe.count)).squareRoot()
      }
    }
  }
}

/// Rows with a non-finite entry.
func countNonFiniteRows(_ m: Matrix) -> Int {
  let d = m.cols
  return m.withUnsafeBufferPointer { p in
    (0..<m.rows).reduce(0) { acc, i in
      let s = Kernels.sum(count: d, p.baseAddress! + i * d)
      return acc + (s.isFinite ? 0 : 1)
    }
  }
}

/// Max over all elements of |m|.
func maxAbs(_ m: Matrix) -> Double {
  m.withUnsafeBufferPointer { p in
    var v = Float(0)
    for x in p { v = Swift.max(v, Swift.abs(x)) }
    return Double(v)
  }
}

extension SamplingResult {
  init(samples: Matrix, field: ReverseField, steps: Int, rejected: Int = 0) {
    self.init(
      samples: samples, evaluations: field.evaluations, nonFiniteRows: countNonFiniteRows(samples), steps: steps,
      rejectedSteps: rejected)
  }
}

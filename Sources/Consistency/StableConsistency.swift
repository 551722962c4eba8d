// The continuous-time "stable" consistency model (sCM; Lu & Song 2024, "Simplifying, stabilizing and scaling
// continuous-time consistency models") on the TrigFlow path, as pure functions for the training batch, the
// tangent target, the adaptively weighted loss and the sampler (Documentation/Methods.md §7.2; BayesFlow
// `StableConsistencyModel`).
//
// TrigFlow: x_t = cos t·θ + sin t·z, z ~ N(0, σ_d² I), t ∈ [0, π/2]; the consistency function is
//
//     f(x, t) = cos t·x − sin t·σ_d·F(x/σ_d, t, c),   so f(x, 0) = x.
//
// Along the path dx_t/dt = cos t·z − sin t·θ, and the total derivative of f is
//
//     df/dt = −cos t (σ_d F − dx_t/dt) − sin t (x_t + σ_d dF/dt),
//     dF/dt = ∂F/∂x̃ · (dx_t/dt)/σ_d + ∂F/∂t    (x̃ = x/σ_d, the network's state input).
//
// The training target is g = cos t · df⁻/dt of the stop-gradient network (with the tangent-warmup factor r on the
// second term), normalized per sample g ← g/(‖g‖ + c), and the loss with the adaptive weight w(t) is
// L = mean_i (e^{w_i}/d ‖F_i − F⁻_i − g_i‖² − w_i).
//
// dF/dt is a forward-mode Jacobian-vector product of the network along the tangents (dx_t/dt/σ_d, 1); the
// reference algorithm feeds the tangents scaled by cos t sin t for stability, which is the same product scaled
// (undone here). `finiteDifferenceJVP` is a fallback when a network has no tangent propagation.

import Foundation
import NumericCore

/// The constants of the stable consistency model (BayesFlow defaults).
public struct StableConsistencyConfiguration: Sendable, Equatable, Codable {
  /// σ_d.
  public var sigmaData: Double = 1
  /// Training times: τ ~ N(P_mean, P_std²), t = arctan(e^τ/σ_d).
  public var pMean: Double = -1.0
  public var pStd: Double = 1.6
  /// Tangent normalization constant c in g/(‖g‖ + c).
  public var tangentNormalization: Double = 0.1
  /// Tangent warmup factor r ∈ [0, 1] (1 after warmup).
  public var tangentWarmup: Double = 1
  /// Sampler: number of steps and the exponent ρ of its time grid.
  public var samplingSteps: Int = 15
  public var samplingRho: Double = 3.5

  public init() {}

  public func validate() throws {
    guard sigmaData > 0, pStd > 0, tangentNormalization >= 0, samplingSteps >= 1, samplingRho > 0 else {
      throw ConsistencyError.invalidOption("sCM needs σ_d > 0, P_std > 0, c ≥ 0, at least one step and ρ > 0")
    }
  }

  /// `count` training times t = arctan(e^τ/σ_d), τ ~ N(P_mean, P_std²).
  public func trainingTimes(count: Int, rng: inout Xoshiro) -> [Double] {
    (0..<count).map { _ in atan(exp(pMean + pStd * rng.nextNormal()) / sigmaData) }
  }

  /// The sampling times, decreasing from π/2 to 0: s_k = exp((k/(n−1)·π/2 − π/2)·ρ)·π/2 for k = 0…n−1 with
  /// s₀ := 0, reversed.
  public func samplingTimes() -> [Double] {
    let n = samplingSteps
    guard n >= 2 else { return [Double.pi / 2] }
    let half = Double.pi / 2
    var s: [Double] = (0..<n).map { k in
      let u: Double = Double(k) / Double(n - 1) * half
      return exp((u - half) * samplingRho) * half
    }
    s[0] = 0
    return s.reversed()
  }
}

/// One batch of sCM training inputs.
public struct StableConsistencyBatch: Sendable {
  /// x_t [B, d].
  public var state: Matrix
  /// dx_t/dt = cos t·z − sin t·θ [B, d] (any unbiased estimate of the probability-flow velocity).
  public var stateVelocity: Matrix
  /// t per row (the network's and the weight network's time input).
  public var times: [Double]
  /// The network's state input x_t/σ_d [B, d].
  public var networkInput: Matrix
  /// The tangent of the state input for the JVP, (dx_t/dt)/σ_d [B, d]; the time input's tangent is 1.
  public var inputTangent: Matrix
  public var sigmaData: Double

  public var timeInput: [Float] { times.map(Float.init) }
}

/// Builds the TrigFlow training batch for standardized θ [B, d], standard-normal noise [B, d] (scaled here by
/// σ_d) and times t [B] (usually `trainingTimes`).
public func stableConsistencyInputs(
  theta: Matrix, noise: Matrix, times: [Double], configuration cfg: StableConsistencyConfiguration
) throws -> StableConsistencyBatch {
  try cfg.validate()
  guard theta.rows == noise.rows, theta.cols == noise.cols, times.count == theta.rows else {
    throw ConsistencyError.shapeMismatch(
      "θ is \(theta.rows)×\(theta.cols), noise \(noise.rows)×\(noise.cols), \(times.count) times")
  }
  let (b, d) = (theta.rows, theta.cols)
  let sd = Float(cfg.sigmaData)
  var x = Matrix(rows: b, cols: d), v = Matrix(rows: b, cols: d)
  theta.withUnsafeBufferPointer { pt in
    noise.withUnsafeBufferPointer { pz in
      x.withUnsafeMutableBufferPointer { px in
        v.withUnsafeMutableBufferPointer { pv in
          for r in 0..<b {
            let (c, s) = (Float(cos(times[r])), Float(sin(times[r])))
            for j in (r * d)..<((r + 1) * d) {
              let z = sd * pz[j]
              px[j] = c * pt[j] + s * z
              pv[j] = c * z - s * pt[j]
            }
          }
        }
      }
    }
  }
  var input = x
  input.scale(by: 1 / sd)
  var tangent = v
  tangent.scale(by: 1 / sd)
  return StableConsistencyBatch(
    state: x, stateVelocity: v, times: times, networkInput: input, inputTangent: tangent, sigmaData: cfg.sigmaData)
}

/// The normalized tangent target g/(‖g‖ + c) per row, with
/// g = −cos²t (σ_d F⁻ − dx_t/dt) − r cos t sin t (x_t + σ_d dF⁻/dt) = cos t · df⁻/dt (for r = 1).
///
/// `teacherOutput` is F⁻ at (x_t/σ_d, t), `teacherDerivative` the JVP dF⁻/dt along (`inputTangent`, 1).
/// With `normalize: false` the raw g is returned.
public func stableConsistencyTangent(
  _ batch: StableConsistencyBatch, teacherOutput: Matrix, teacherDerivative: Matrix,
  configuration cfg: StableConsistencyConfiguration, normalize: Bool = true
) throws -> Matrix {
  let (b, d) = (batch.state.rows, batch.state.cols)
  guard teacherOutput.rows == b, teacherOutput.cols == d, teacherDerivative.rows == b, teacherDerivative.cols == d
  else { throw ConsistencyError.shapeMismatch("teacher output or derivative differs from the batch's shape") }
  let sd = Float(batch.sigmaData)
  let r = Float(cfg.tangentWarmup)
  let c = Float(cfg.tangentNormalization)
  var g = Matrix(rows: b, cols: d)
  batch.state.withUnsafeBufferPointer { px in
    batch.stateVelocity.withUnsafeBufferPointer { pv in
      teacherOutput.withUnsafeBufferPointer { pf in
        teacherDerivative.withUnsafeBufferPointer { pj in
          g.withUnsafeMutableBufferPointer { pg in
            for row in 0..<b {
              let (ct, st) = (Float(cos(batch.times[row])), Float(sin(batch.times[row])))
              let range = (row * d)..<((row + 1) * d)
              for j in range {
                pg[j] = -ct * ct * (sd * pf[j] - pv[j]) - r * ct * st * (px[j] + sd * pj[j])
              }
              if normalize {
                let norm = Kernels.sumOfSquares(count: d, pg.baseAddress! + row * d).squareRoot()
                Kernels.scale(count: d, pg.baseAddress! + row * d, by: 1 / (norm + c))
              }
            }
          }
        }
      }
    }
  }
  return g
}

/// The adaptively weighted sCM loss L = (1/B) Σ_i (e^{w_i}/d ‖F_i − F⁻_i − g_i‖² − w_i) and its gradients
/// dL/dF_i = 2 e^{w_i}(F_i − F⁻_i − g_i)/(B d) and dL/dw_i = (e^{w_i}/d ‖F_i − F⁻_i − g_i‖² − 1)/B.
///
/// `logWeight` is w(t_i), the output of the adaptive weight network (an MLP on t with a zero-initialized head).
public func stableConsistencyLoss(
  output: Matrix, teacherOutput: Matrix, tangent g: Matrix, logWeight w: [Float]
) throws -> (loss: Double, outputGradient: Matrix, weightGradient: [Float]) {
  let (b, d) = (output.rows, output.cols)
  guard teacherOutput.rows == b, teacherOutput.cols == d, g.rows == b, g.cols == d, w.count == b else {
    throw ConsistencyError.shapeMismatch("sCM loss inputs disagree in shape")
  }
  var diff = output
  diff.add(teacherOutput, scale: -1)
  diff.add(g, scale: -1)
  var dw = [Float](repeating: 0, count: b)
  var total = 0.0
  diff.withUnsafeMutableBufferPointer { p in
    for r in 0..<b {
      let row = p.baseAddress! + r * d
      let e = Foundation.exp(w[r])
      let sq = Kernels.sumOfSquares(count: d, row)
      let term = e * sq / Float(d)
      total += Double(term - w[r])
      dw[r] = (term - 1) / Float(b)
      Kernels.scale(count: d, row, by: 2 * e / Float(b * d))
    }
  }
  return (total / Double(b), diff, dw)
}

/// A network with per-row time inputs: F(x̃ [B, d], t [B]).
public typealias RowTimeNetwork = (_ input: Matrix, _ times: [Float]) -> Matrix

/// Central finite-difference JVP (F(x̃ + h v, t + h) − F(x̃ − h v, t − h))/(2h), two extra forward passes; a
/// fallback for networks without tangent propagation (error O(h²) plus Float32 rounding O(ε_mach/h)).
public func finiteDifferenceJVP(
  network: RowTimeNetwork, input: Matrix, times: [Float], inputTangent: Matrix, step h: Float = 1e-2
) -> Matrix {
  var plus = input
  plus.add(inputTangent, scale: h)
  var minus = input
  minus.add(inputTangent, scale: -h)
  var out = network(plus, times.map { $0 + h })
  out.add(network(minus, times.map { $0 - h }), scale: -1)
  out.scale(by: 1 / (2 * h))
  return out
}

/// The TrigFlow consistency function of a network: f(x, t) = cos t·x − sin t·σ_d·F(x/σ_d, t).
public func stableConsistencyFunction(
  network: @escaping (_ input: Matrix, _ time: Float) -> Matrix, sigmaData: Double = 1
) -> (Matrix, Double) -> Matrix {
  { x, t in
    var input = x
    input.scale(by: Float(1 / sigmaData))
    var f = network(input, Float(t))
    f.scale(by: Float(-sin(t) * sigmaData))
    f.add(x, scale: Float(cos(t)))
    return f
  }
}

/// sCM multistep sampling, corrected order (Documentation/Methods.md §7.2): x = f(σ_d z, π/2); then for each later
/// time t of `samplingTimes()` (π/2 → 0): set t first, re-noise x ← cos t·x + sin t·σ_d z_n, then x ← f(x, t).
/// The last time is 0, where f(x, 0) = x for every network, so that evaluation is skipped: 14 network
/// evaluations for the default 15 steps.
public func sampleStableConsistency(
  consistency f: (Matrix, Double) -> Matrix, initial: Matrix, configuration cfg: StableConsistencyConfiguration,
  rng: inout Xoshiro
) throws -> ConsistencySamplingResult {
  try cfg.validate()
  let times = cfg.samplingTimes()
  var start = initial
  start.scale(by: Float(cfg.sigmaData))
  var x = f(start, times[0])
  var evaluations = 1
  for t in times.dropFirst() where t > 0 {
    let z = rng.normalMatrix(rows: x.rows, cols: x.cols, std: Float(cfg.sigmaData))
    x.scale(by: Float(cos(t)))
    x.add(z, scale: Float(sin(t)))
    x = f(x, t)
    evaluations += 1
  }
  return ConsistencySamplingResult(samples: x, evaluations: evaluations)
}

// Discrete consistency training (Song et al. 2023, "Consistency Models"; improved CT: Song & Dhariwal 2023;
// CMPE: Schmitt et al. 2024), as pure functions for the training batch, the loss and the multistep sampler
// (Documentation/Methods.md §7.1; BayesFlow `ConsistencyModel`).
//
// Time here is the VE noise level t ∈ [ε, T] of x_t = θ + t z (θ standardized, z ~ N(0, I)); the network sees
// t/T. The consistency function is f(x, t) = c_skip(t) x + c_out(t) F(x, t/T, c) with
//
//     c_skip = σ_d²/((t − ε)² + σ_d²),   c_out = σ_d (t − ε)/√(σ_d² + t²),
//
// so f(x, ε) = x (the boundary condition) for every network.

import Diffusion
import Foundation
import NumericCore

/// Errors of the consistency module.
public enum ConsistencyError: Error, Equatable, CustomStringConvertible {
  case invalidOption(String)
  case shapeMismatch(String)

  public var description: String {
    switch self {
    case .invalidOption(let s): return "invalid consistency-model option: \(s)"
    case .shapeMismatch(let s): return "shape mismatch: \(s)"
    }
  }
}

/// The constants of discrete consistency training (BayesFlow defaults).
public struct ConsistencyConfiguration: Sendable, Equatable, Codable {
  /// T, the largest noise level.
  public var maxTime: Double = 80
  /// σ_d (BayesFlow's `sigma2` = σ_d² = 1).
  public var sigmaData: Double = 1
  /// ε, the smallest noise level.
  public var epsilon: Double = 0.001
  /// Curriculum: s₀ = 10 to s₁ = 150 discretization steps.
  public var initialSteps: Int = 10
  public var finalSteps: Int = 150
  /// Karras grid exponent ρ.
  public var rho: Double = 7
  /// Log-normal index sampling: ln t ~ N(P_mean, P_std²).
  public var pMean: Double = -1.1
  public var pStd: Double = 2.0
  /// K, the total number of optimizer steps of the curriculum (BayesFlow's experiments pass epochs × batch size).
  public var totalSteps: Int

  public init(totalSteps: Int) { self.totalSteps = totalSteps }

  public func validate() throws {
    guard maxTime > epsilon, epsilon > 0, sigmaData > 0, rho > 0, pStd > 0 else {
      throw ConsistencyError.invalidOption("need T > ε > 0, σ_d > 0, ρ > 0 and P_std > 0")
    }
    guard initialSteps >= 1, finalSteps >= initialSteps, totalSteps >= 1 else {
      throw ConsistencyError.invalidOption(
        "need 1 ≤ s₀ ≤ s₁ and K ≥ 1, got s₀ = \(initialSteps), s₁ = \(finalSteps), K = \(totalSteps)")
    }
  }

  /// Pseudo-Huber constant c = 0.00054 √d (Song & Dhariwal 2023).
  public static func huberConstant(dimension d: Int) -> Double { 0.00054 * Double(d).squareRoot() }

  /// N(k) = min(s₀ 2^{⌊k/K'⌋}, s₁) + 1 grid points at optimizer step k, K' = ⌊K/(log₂⌊s₁/s₀⌋ + 1)⌋.
  public func gridPoints(atStep k: Int) -> Int {
    let stages = log2(Double(finalSteps / initialSteps)) + 1
    let kPrime = max(1, Int((Double(totalSteps) / stages).rounded(.down)))
    let doublings = min(k / kPrime, 30)
    return min(initialSteps << doublings, finalSteps) + 1
  }

  /// The Karras grid of `count` points, t_i = (ε^{1/ρ} + (i−1)/(N−1)(T^{1/ρ} − ε^{1/ρ}))^ρ, i = 1…N (increasing).
  public func karrasGrid(count n: Int) -> [Double] {
    let (a, b) = (pow(epsilon, 1 / rho), pow(maxTime, 1 / rho))
    guard n >= 2 else { return [maxTime] }
    return (0..<n).map { pow(a + Double($0) / Double(n - 1) * (b - a), rho) }
  }

  /// Probabilities of the N − 1 intervals [t_i, t_{i+1}] of `grid`,
  /// p_i ∝ erf((ln t_{i+1} − P_mean)/(√2 P_std)) − erf((ln t_i − P_mean)/(√2 P_std)).
  public func intervalProbabilities(_ grid: [Double]) -> [Double] {
    let c = (2.0).squareRoot() * pStd
    let w = zip(grid, grid.dropFirst()).map { Special.erf((log($1) - pMean) / c) - Special.erf((log($0) - pMean) / c) }
    let s = w.reduce(0, +)
    return w.map { $0 / s }
  }

  /// (c_skip, c_out) at noise level t.
  public func skipOut(_ t: Double) -> (skip: Double, out: Double) {
    let s2 = sigmaData * sigmaData
    let e = t - epsilon
    return (s2 / (e * e + s2), sigmaData * e / (s2 + t * t).squareRoot())
  }
}

/// One batch of consistency-training inputs: the teacher sees x_{t_n} = θ + t_n z, the student x_{t_{n+1}} =
/// θ + t_{n+1} z with the same z. Times inputs are t/T per row.
public struct ConsistencyTrainingBatch: Sendable {
  public var studentInput: Matrix
  public var studentTimeInput: [Float]
  public var teacherInput: Matrix
  public var teacherTimeInput: [Float]
  /// (c_skip, c_out) per row for the student and the teacher.
  public var studentSkip: [Float], studentOut: [Float]
  public var teacherSkip: [Float], teacherOut: [Float]
  /// 1/(t_{n+1} − t_n) per row.
  public var weight: [Float]
  /// Pseudo-Huber constant c.
  public var huber: Float
  /// Grid points N(k) used for this batch.
  public var gridPoints: Int
}

/// Draws interval indices n (log-normal index sampling on the curriculum's Karras grid at optimizer step k) and
/// builds the student and teacher inputs for standardized θ [B, d] and noise z [B, d].
public func consistencyTrainingInputs(
  theta: Matrix, noise: Matrix, step k: Int, configuration cfg: ConsistencyConfiguration, rng: inout Xoshiro
) throws -> ConsistencyTrainingBatch {
  try cfg.validate()
  guard theta.rows == noise.rows, theta.cols == noise.cols else {
    throw ConsistencyError.shapeMismatch("θ is \(theta.rows)×\(theta.cols), noise \(noise.rows)×\(noise.cols)")
  }
  let (b, d) = (theta.rows, theta.cols)
  let n = cfg.gridPoints(atStep: k)
  let grid = cfg.karrasGrid(count: n)
  let probabilities = cfg.intervalProbabilities(grid)
  var student = Matrix(rows: b, cols: d), teacher = Matrix(rows: b, cols: d)
  var batch = ConsistencyTrainingBatch(
    studentInput: student, studentTimeInput: [], teacherInput: teacher, teacherTimeInput: [], studentSkip: [],
    studentOut: [], teacherSkip: [], teacherOut: [], weight: [],
    huber: Float(ConsistencyConfiguration.huberConstant(dimension: d)), gridPoints: n)
  theta.withUnsafeBufferPointer { pt in
    noise.withUnsafeBufferPointer { pz in
      student.withUnsafeMutableBufferPointer { ps in
        teacher.withUnsafeMutableBufferPointer { pq in
          for r in 0..<b {
            let i = rng.nextCategorical(probabilities)
            let (tn, tn1) = (grid[i], grid[i + 1])
            for j in (r * d)..<((r + 1) * d) {
              pq[j] = pt[j] + Float(tn) * pz[j]
              ps[j] = pt[j] + Float(tn1) * pz[j]
            }
            let (ss, so) = cfg.skipOut(tn1)
            let (ts, to) = cfg.skipOut(tn)
            batch.studentTimeInput.append(Float(tn1 / cfg.maxTime))
            batch.teacherTimeInput.append(Float(tn / cfg.maxTime))
            batch.studentSkip.append(Float(ss))
            batch.studentOut.append(Float(so))
            batch.teacherSkip.append(Float(ts))
            batch.teacherOut.append(Float(to))
            batch.weight.append(Float(1 / (tn1 - tn)))
          }
        }
      }
    }
  }
  batch.studentInput = student
  batch.teacherInput = teacher
  return batch
}

/// f = c_skip x + c_out F per row.
public func consistencyOutput(network: Matrix, state x: Matrix, skip: [Float], out: [Float]) -> Matrix {
  var f = network
  f.scaleRows(out)
  var s = x
  s.scaleRows(skip)
  f.add(s)
  return f
}

/// The consistency-training loss L = (1/(B d)) Σ_i w_i Σ_j (√((f_s − f_t)² + c²) − c) with f_t the (stop-gradient)
/// teacher, and its gradient with respect to the student network output F_s:
/// dL/dF_s = w_i c_out,i (f_s − f_t)/√((f_s − f_t)² + c²)/(B d).
public func consistencyLoss(
  _ batch: ConsistencyTrainingBatch, studentOutput: Matrix, teacherOutput: Matrix
) throws -> (loss: Double, gradient: Matrix) {
  guard studentOutput.rows == batch.studentInput.rows, studentOutput.cols == batch.studentInput.cols,
    teacherOutput.rows == studentOutput.rows, teacherOutput.cols == studentOutput.cols
  else { throw ConsistencyError.shapeMismatch("network outputs differ from the batch's shape") }
  let fs = consistencyOutput(
    network: studentOutput, state: batch.studentInput, skip: batch.studentSkip, out: batch.studentOut)
  let ft = consistencyOutput(
    network: teacherOutput, state: batch.teacherInput, skip: batch.teacherSkip, out: batch.teacherOut)
  let (b, d) = (fs.rows, fs.cols)
  var grad = Matrix(rows: b, cols: d)
  let c = batch.huber
  var total = 0.0
  fs.withUnsafeBufferPointer { ps in
    ft.withUnsafeBufferPointer { pt in
      grad.withUnsafeMutableBufferPointer { pg in
        for r in 0..<b {
          var rowSum: Float = 0
          let scale = batch.weight[r] * batch.studentOut[r] / Float(b * d)
          for j in (r * d)..<((r + 1) * d) {
            let diff = ps[j] - pt[j]
            let root = (diff * diff + c * c).squareRoot()
            rowSum += root - c
            pg[j] = scale * diff / root
          }
          total += Double(batch.weight[r]) * Double(rowSum)
        }
      }
    }
  }
  return (total / Double(b * d), grad)
}

/// A network closure for consistency models: output F [B, d] for state input [B, d] at one shared time input.
public typealias ConsistencyNetwork = (_ input: Matrix, _ timeInput: Float) -> Matrix

/// The consistency function f(x, t) = c_skip x + c_out F(x, t/T) of a network.
public func consistencyFunction(
  network: @escaping ConsistencyNetwork, configuration cfg: ConsistencyConfiguration
) -> (Matrix, Double) -> Matrix {
  { x, t in
    let (s, o) = cfg.skipOut(t)
    var f = network(x, Float(t / cfg.maxTime))
    f.scale(by: Float(o))
    f.add(x, scale: Float(s))
    return f
  }
}

/// Multistep consistency sampling (Song et al. 2023, Algorithm 1): x = f(T z, T), then for the remaining grid
/// times in decreasing order x ← f(x + √(t_n² − ε²) z_n, t_n). With the default grid (`karrasGrid(count: s₀ + 1)`)
/// that is s₀ + 1 = 11 evaluations. `grid` is increasing and ends at T; `initial` is z ~ N(0, I) [B, d].
public func sampleConsistency(
  consistency f: (Matrix, Double) -> Matrix, initial: Matrix, configuration cfg: ConsistencyConfiguration,
  grid: [Double]? = nil, rng: inout Xoshiro
) throws -> ConsistencySamplingResult {
  try cfg.validate()
  let times = grid ?? cfg.karrasGrid(count: cfg.initialSteps + 1)
  guard let top = times.last, zip(times, times.dropFirst()).allSatisfy({ $0 < $1 }), times.first! >= cfg.epsilon
  else { throw ConsistencyError.invalidOption("the sampling grid must increase from ≥ ε") }
  var start = initial
  start.scale(by: Float(top))
  var x = f(start, top)
  var evaluations = 1
  for t in times.dropLast().reversed() {
    let z = rng.normalMatrix(rows: x.rows, cols: x.cols)
    x.add(z, scale: Float(max(0, t * t - cfg.epsilon * cfg.epsilon).squareRoot()))
    x = f(x, t)
    evaluations += 1
  }
  return ConsistencySamplingResult(samples: x, evaluations: evaluations)
}

/// Samples of a consistency sampler and the number of network evaluations (each on the whole batch).
public struct ConsistencySamplingResult: Sendable {
  public var samples: Matrix
  public var evaluations: Int
  /// Rows of `samples` with a non-finite entry.
  public var nonFiniteRows: Int

  public init(samples: Matrix, evaluations: Int) {
    self.samples = samples
    self.evaluations = evaluations
    let d = samples.cols
    nonFiniteRows = samples.withUnsafeBufferPointer { p in
      (0..<samples.rows).filter { r in !Kernels.sum(count: d, p.baseAddress! + r * d).isFinite }.count
    }
  }
}

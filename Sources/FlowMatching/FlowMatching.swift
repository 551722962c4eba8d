// Flow matching on the linear (rectified-flow) path, as pure training functions (Documentation/Methods.md §6).
//
// Time convention. Flow matching uses its own time s ∈ [0, 1] with s = 0 noise and s = 1 data (Lipman et al.
// 2023; BayesFlow `FlowMatching`): x_s = s·x₁ + (1 − s)·x₀, x₀ ~ N(0, I), x₁ = standardized θ, and the network
// v̂(x_s, s, c) regresses the velocity u = x₁ − x₀ with the raw s as its time input. The rest of the project uses
// diffusion time t ∈ [0, 1] with t = 0 data and t = 1 noise. The two meet only at the sampling boundary
// (`VelocityField.swift`): on `RectifiedFlowSchedule` (α = 1 − σ) the flow-matching time is s = α(t), so every
// diffusion sampler integrates the flow-matching ODE.

import Diffusion
import Foundation
import NumericCore

/// Errors of the flow-matching module (options, shapes and couplings).
public enum FlowMatchingError: Error, Equatable, CustomStringConvertible {
  case invalidOption(String)
  case shapeMismatch(String)

  public var description: String {
    switch self {
    case .invalidOption(let s): return "invalid flow-matching option: \(s)"
    case .shapeMismatch(let s): return "shape mismatch: \(s)"
    }
  }
}

/// How training times s ∈ [0, 1] are drawn.
///
/// `powerLaw(alpha:)`: s = u^{1+α} with u uniform (BayesFlow `time_power_law_alpha`, α > −1). α = 0 is uniform;
/// the review's `flow_matching_edm` uses α = −0.6, s = u^{0.4}, density 2.5 s^{1.5}, concentrated near the data
/// end s → 1.
public enum FlowTimeSampling: Sendable, Equatable, Codable {
  case uniform
  case powerLaw(alpha: Double)

  /// The review's α = −0.6 variant.
  public static let edm = FlowTimeSampling.powerLaw(alpha: -0.6)

  /// The exponent 1 + α.
  public var exponent: Double {
    switch self {
    case .uniform: return 1
    case .powerLaw(let a): return 1 + a
    }
  }

  /// Checks α > −1.
  public func validate() throws {
    if case .powerLaw(let a) = self, !(a > -1) || !a.isFinite {
      throw FlowMatchingError.invalidOption("the time power-law exponent needs α > −1, got \(a)")
    }
  }

  /// Maps a uniform u ∈ [0, 1] to a training time s = u^{1+α}.
  public func time(uniform u: Double) -> Double { exponent == 1 ? u : pow(u, exponent) }

  /// `count` training times, stratified as in diffusion (u_i = (u₀ + i/B) mod 1, Documentation/Methods.md §3.3), then
  /// mapped by `time(uniform:)`.
  public func times(count: Int, rng: inout Xoshiro) throws -> [Double] {
    try validate()
    return stratifiedTimes(count: count, rng: &rng).map(time(uniform:))
  }

  /// The density of s: (1/(1+α)) s^{−α/(1+α)} on (0, 1].
  public func density(_ s: Double) -> Double {
    let k = exponent
    return pow(s, 1 / k - 1) / k
  }
}

/// One batch of flow-matching training inputs.
public struct FlowMatchingBatch: Sendable {
  /// x_s = s x₁ + (1 − s) x₀ [B, d], the network's state input.
  public var networkInput: Matrix
  /// The network's time input, the raw flow-matching time s per row.
  public var timeInput: [Float]
  /// The velocity target u = x₁ − x₀ [B, d].
  public var target: Matrix
}

/// Builds the inputs of the flow-matching loss from data x₁ (standardized θ) [B, d], noise x₀ [B, d] (already
/// re-paired by an optimal-transport coupling when one is used) and flow-matching times s [B].
public func flowMatchingLossInputs(data: Matrix, noise: Matrix, times: [Double]) throws -> FlowMatchingBatch {
  guard data.rows == noise.rows, data.cols == noise.cols else {
    throw FlowMatchingError.shapeMismatch("data is \(data.rows)×\(data.cols), noise \(noise.rows)×\(noise.cols)")
  }
  guard times.count == data.rows else {
    throw FlowMatchingError.shapeMismatch("\(times.count) times for \(data.rows) rows")
  }
  let (n, d) = (data.rows, data.cols)
  var x = Matrix(rows: n, cols: d)
  var u = Matrix(rows: n, cols: d)
  data.withUnsafeBufferPointer { p1 in
    noise.withUnsafeBufferPointer { p0 in
      x.withUnsafeMutableBufferPointer { px in
        u.withUnsafeMutableBufferPointer { pu in
          for i in 0..<n {
            let s = Float(times[i])
            for j in (i * d)..<((i + 1) * d) {
              let (a, b) = (p1[j], p0[j])
              px[j] = b + s * (a - b)
              pu[j] = a - b
            }
          }
        }
      }
    }
  }
  return FlowMatchingBatch(networkInput: x, timeInput: times.map(Float.init), target: u)
}

/// The flow-matching loss L = (1/(B d)) Σ (v̂ − u)² and its gradient dL/dv̂ = 2(v̂ − u)/(B d).
public func flowMatchingLoss(_ batch: FlowMatchingBatch, output: Matrix) throws -> (loss: Double, gradient: Matrix) {
  guard output.rows == batch.target.rows, output.cols == batch.target.cols else {
    throw FlowMatchingError.shapeMismatch(
      "output is \(output.rows)×\(output.cols), target \(batch.target.rows)×\(batch.target.cols)")
  }
  var grad = output
  grad.add(batch.target, scale: -1)
  let count = output.count
  let total = grad.withUnsafeMutableBufferPointer { g -> Double in
    let s = Double(Kernels.sumOfSquares(count: count, g.baseAddress!))
    Kernels.scale(count: count, g.baseAddress!, by: 2 / Float(count))
    return s
  }
  return (total / Double(count), grad)
}

/// One complete flow-matching training batch: draws noise x₀ ~ N(0, I) and times, optionally re-pairs data and
/// conditions with the noise by a mini-batch OT coupling, and builds the loss inputs.
///
/// Returns the batch, the conditions in the batch's row order (gathered like the data) and the coupling used.
public func flowMatchingTrainingBatch(
  data: Matrix, conditions: Matrix?, timeSampling: FlowTimeSampling = .uniform,
  coupling options: OptimalTransportOptions? = nil, rng: inout Xoshiro
) throws -> (batch: FlowMatchingBatch, conditions: Matrix?, coupling: OptimalTransportCoupling?) {
  if let c = conditions, c.rows != data.rows {
    throw FlowMatchingError.shapeMismatch("\(c.rows) condition rows for \(data.rows) data rows")
  }
  let noise = rng.normalMatrix(rows: data.rows, cols: data.cols)
  let times = try timeSampling.times(count: data.rows, rng: &rng)
  guard let options else {
    return (try flowMatchingLossInputs(data: data, noise: noise, times: times), conditions, nil)
  }
  let coupling = try optimalTransportCoupling(
    noise: noise, data: data, conditions: conditions, options: options, rng: &rng)
  let paired = data.gatherRows(coupling.assignment)
  return (
    try flowMatchingLossInputs(data: paired, noise: noise, times: times),
    conditions?.gatherRows(coupling.assignment), coupling
  )
}

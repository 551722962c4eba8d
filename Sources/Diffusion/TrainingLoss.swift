// Loss weightings, stratified training times and the weighted ε-loss as a pure function (Documentation/Methods.md §3).

import Foundation
import NumericCore

/// Weight w(λ) on the ε-loss w(λ)·mean_d(ε̂ − ε)².
///
/// - `edm`: 1 + e^{−λ}/σ_d² (turns the ε-loss into EDM's F-loss with unit weight);
/// - `sigmoid`: sigmoid(2 − λ) (Kingma & Gao 2023);
/// - `likelihood`: g²/σ² = −dλ/dt of the sampling map at t(λ) (Song et al. 2021);
/// - `unit`: 1.
public enum LossWeighting: String, Sendable, CaseIterable, Codable {
  case edm
  case sigmoid
  case likelihood
  case unit

  public func weight(logSNR l: Double, schedule: any NoiseSchedule) -> Double {
    switch self {
    case .edm: return 1 + exp(-l) / (schedule.sigmaData * schedule.sigmaData)
    case .sigmoid: return Special.sigmoid(2 - l)
    case .likelihood: return -schedule.dLogSNR(schedule.time(logSNR: l))
    case .unit: return 1
    }
  }
}

/// Stratified (low-discrepancy) training times t_i = (u₀ + i/B) mod 1, u₀ ~ U(0, 1), i = 0..<B.
public func stratifiedTimes(count: Int, rng: inout Xoshiro) -> [Double] {
  let u0 = rng.nextDouble()
  return (0..<count).map { i in
    let t = u0 + Double(i) / Double(count)
    return t >= 1 ? t - 1 : t
  }
}

/// Everything the loss needs for one batch: the network inputs and the prediction-space targets.
public struct DiffusionLossBatch: Sendable {
  /// z_t = α θ + σ ε, [B, d].
  public var noisy: Matrix
  /// The network's state input c_in·z_t, [B, d].
  public var networkInput: Matrix
  /// The network's time input τ per row, [B].
  public var timeInput: [Float]
  /// Training log-SNR per row.
  public var logSNR: [Double]
  /// Prediction-space target p θ + q ε, [B, d].
  public var target: Matrix
  /// Per-row factor s_i = w(λ_i)·(α_i b_i/σ_i)², so that loss_i = s_i · mean_d(output − target)².
  public var rowScale: [Float]
}

/// Builds the network inputs and targets of the weighted ε-loss for clean standardized θ [B, d], noise ε [B, d]
/// and training times t [B] (one per row, usually `stratifiedTimes`).
///
/// With x̂ = a z + b·output, ε̂ = (z − α x̂)/σ gives ε̂ − ε = −(α b/σ)(output − target), so the ε-loss of any
/// prediction type is a per-row rescaled MSE in prediction space.
public func diffusionLossInputs(
  theta: Matrix, noise: Matrix, times: [Double], schedule: any NoiseSchedule,
  prediction: Prediction = .F, weighting: LossWeighting = .edm
) throws -> DiffusionLossBatch {
  guard theta.rows == noise.rows, theta.cols == noise.cols else {
    throw DiffusionError.shapeMismatch("θ is \(theta.rows)×\(theta.cols), noise \(noise.rows)×\(noise.cols)")
  }
  guard times.count == theta.rows else {
    throw DiffusionError.shapeMismatch("\(times.count) times for \(theta.rows) rows")
  }
  let (n, d) = (theta.rows, theta.cols)
  var z = Matrix(rows: n, cols: d)
  var input = Matrix(rows: n, cols: d)
  var target = Matrix(rows: n, cols: d)
  var tau = [Float](repeating: 0, count: n)
  var lambdas = [Double](repeating: 0, count: n)
  var scales = [Float](repeating: 0, count: n)
  theta.withUnsafeBufferPointer { pt in
    noise.withUnsafeBufferPointer { pe in
      z.withUnsafeMutableBufferPointer { pz in
        input.withUnsafeMutableBufferPointer { pin in
          target.withUnsafeMutableBufferPointer { pg in
            for i in 0..<n {
              let l = schedule.trainingLogSNR(times[i])
              let (al, sg) = schedule.variance.alphaSigma(logSNR: l)
              let c = prediction.coefficients(alpha: al, sigma: sg, sigmaData: schedule.sigmaData)
              let k = al * c.b / sg
              lambdas[i] = l
              tau[i] = Float(schedule.timeInput(logSNR: l))
              scales[i] = Float(weighting.weight(logSNR: l, schedule: schedule) * k * k)
              let (fa, fs, fc) = (Float(al), Float(sg), Float(c.inputScale))
              let (fp, fq) = (Float(c.p), Float(c.q))
              for j in (i * d)..<((i + 1) * d) {
                let (th, e) = (pt[j], pe[j])
                let zt = fa * th + fs * e
                pz[j] = zt
                pin[j] = fc * zt
                pg[j] = fp * th + fq * e
              }
            }
          }
        }
      }
    }
  }
  return DiffusionLossBatch(
    noisy: z, networkInput: input, timeInput: tau, logSNR: lambdas, target: target, rowScale: scales)
}

/// The weighted ε-loss L = (1/B) Σ_i s_i mean_d(output − target)² and its gradient dL/d(output)
/// = 2 s_i (output − target)/(B d).
public func diffusionLoss(_ batch: DiffusionLossBatch, output: Matrix) -> (loss: Double, gradient: Matrix) {
  let (n, d) = (output.rows, output.cols)
  precondition(n == batch.target.rows && d == batch.target.cols, "output shape differs from the target")
  var grad = output
  grad.add(batch.target, scale: -1)
  var total = 0.0
  grad.withUnsafeMutableBufferPointer { g in
    for i in 0..<n {
      let row = g.baseAddress! + i * d
      total += Double(batch.rowScale[i]) * Double(Kernels.sumOfSquares(count: d, row))
      Kernels.scale(count: d, row, by: 2 * batch.rowScale[i] / Float(n * d))
    }
  }
  return (total / Double(n * d), grad)
}

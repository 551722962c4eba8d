// sbibm's bernoulli_glm and bernoulli_glm_raw (Lueckmann et al. 2021, `sbibm/tasks/bernoulli_glm/task.py`).

import Foundation
import NumericCore

/// Bernoulli GLM: θ = (offset, 9 filter weights) ~ N(0, B⁻¹) with B₀₀ = 0.5 and B₁:,₁: = FᵀF,
/// F = D² + diag(√(i/9)), D = I − (sub-diagonal ones) (second differences favour smooth filters).
/// 100 time bins: ψ = Xθ (X the fixed design matrix), y_t ~ Bernoulli(σ(ψ_t)).
/// x = (Σ_t y_t, STA₀…STA₈) with STA_m = Σ_j y_{j+m} I_j (sbibm's conv1d with padding 8, last 9 outputs), or the
/// raw spike train y for `bernoulli_glm_raw`.
public struct BernoulliGLMTask: SimulationTask {
  public let name: String
  public let parameterDimension = 10
  public let dataDimension: Int
  public let prior: any Prior
  public var sbibmDataName: String? { name }
  /// True for the raw spike-train variant.
  public let raw: Bool
  /// The [100, 10] design matrix, row-major.
  public let design: [Double]
  /// The 100-value white-noise stimulus.
  public let stimulus: [Double]

  /// Loads the design matrix and stimulus from the sbibm data assets.
  public init(raw: Bool = false) throws(TaskError) {
    let designRows = try SBIBMData.readNumericCSV(try SBIBMData.asset("bernoulli_glm_design_matrix.csv"))
    let stim = try SBIBMData.readNumericCSV(try SBIBMData.asset("bernoulli_glm_stimulus_I.csv")).flatMap { $0 }
    guard designRows.count == 100, designRows.allSatisfy({ $0.count == 10 }), stim.count == 100 else {
      throw .badDataFile(path: "assets/bernoulli_glm_*", reason: "expected a 100×10 design and 100 stimulus values")
    }
    self.raw = raw
    name = raw ? "bernoulli_glm_raw" : "bernoulli_glm"
    dataDimension = raw ? 100 : 10
    design = designRows.flatMap { $0 }
    stimulus = stim
    prior = GaussianPrior(mean: [Double](repeating: 0, count: 10), covariance: try! BernoulliGLMTask.priorPrecision().inverseSPD())
  }

  /// The prior precision B.
  public static func priorPrecision() -> DMatrix {
    let m = 9
    var d = DMatrix.identity(m)
    for i in 1..<m { d[i, i - 1] = -1 }
    var f = d * d
    for i in 0..<m { f[i, i] += (Double(i) / Double(m)).squareRoot() }
    let ftf = f.transposed * f
    var b = DMatrix(rows: 10, cols: 10)
    b[0, 0] = 0.5
    for i in 0..<m { for j in 0..<m { b[i + 1, j + 1] = ftf[i, j] } }
    return b
  }

  /// Summary statistics of a spike train: (count, STA₀…STA₈).
  public func summaries(spikes y: [Double]) -> [Double] {
    var out = [y.reduce(0, +)]
    for m in 0..<9 {
      var s = 0.0
      for j in 0..<(100 - m) { s += y[j + m] * stimulus[j] }
      out.append(s)
    }
    return out
  }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    blockedRowMap(rows: parameters.rows, outputColumns: dataDimension, seed: seed) { rng, r, out in
      var y = [Double](repeating: 0, count: 100)
      for t in 0..<100 {
        var psi = 0.0
        for j in 0..<10 { psi += design[t * 10 + j] * Double(parameters[r, j]) }
        y[t] = rng.nextDouble() < Special.sigmoid(psi) ? 1 : 0
      }
      if raw {
        for t in 0..<100 { out[t] = Float(y[t]) }
      } else {
        let s = summaries(spikes: y)
        for i in 0..<10 { out[i] = Float(s[i]) }
      }
    }
  }

  /// log p(y | θ) of a raw spike train (Bernoulli with logistic link), for reference checks.
  public func logLikelihood(theta: [Double], spikes y: [Double]) -> Double {
    var l = 0.0
    for t in 0..<100 {
      var psi = 0.0
      for j in 0..<10 { psi += design[t * 10 + j] * theta[j] }
      l += y[t] * psi - Special.softplus(psi)
    }
    return l
  }
}

// sbibm's slcp and slcp_distractors (Papamakarios et al. 2019; Lueckmann et al. 2021, `sbibm/tasks/slcp/task.py`),
// and slcp_set, the same slcp data declared as a set of four 2-D draws.

import Foundation
import NumericCore

/// SLCP: θ ~ U(−3, 3)⁵; four i.i.d. 2-D Gaussians with mean (θ₁, θ₂), s₁ = θ₃², s₂ = θ₄², ρ = tanh θ₅,
/// Σ = [[s₁² + ε, ρ s₁ s₂], [ρ s₁ s₂, s₂² + ε]], ε = 10⁻⁶; x = (x¹₁, x¹₂, …, x⁴₁, x⁴₂).
///
/// With `distractors`, the 8 values are followed by 92 draws of a fixed mixture of 20 multivariate Student-t
/// distributions (df 2) and the 100 columns are permuted by a fixed index (sbibm's `gmm.torch` and
/// `permutation_idx.torch`, exported to the data assets): x = [slcp | noise][permutation].
///
/// slcp_set is slcp with `dataShape` [4, 2]: the same prior, simulator and 8 values, read as a set of four 2-D draws
/// (the draws are i.i.d., so the posterior is invariant to their order); it uses slcp's observations and reference
/// posteriors (Documentation/Methods.md §11.3).
public struct SLCPTask: SimulationTask {
  public let name: String
  public let parameterDimension = 5
  public let dataDimension: Int
  public let dataShape: [Int]
  public let prior: any Prior = BoxUniformPrior(dimension: 5, bound: 3)
  public var sbibmDataName: String? { distractors == nil ? "slcp" : name }
  let distractors: DistractorModel?

  /// The plain task (8 data values); with `asSet`, slcp_set (the same task with `dataShape` [4, 2]).
  public init(asSet: Bool = false) {
    name = asSet ? "slcp_set" : "slcp"
    dataDimension = 8
    dataShape = asSet ? [4, 2] : [8]
    distractors = nil
  }

  /// The task with 92 distractors, reading the mixture and permutation from the sbibm data assets.
  public static func withDistractors() throws(TaskError) -> SLCPTask {
    SLCPTask(distractors: try DistractorModel.load())
  }

  init(distractors: DistractorModel) {
    name = "slcp_distractors"
    dataDimension = 100
    dataShape = [100]
    self.distractors = distractors
  }

  /// Writes the 8 SLCP values for θ into `out[0..<8]`.
  static func simulateCore(_ t: [Double], _ rng: inout Xoshiro, _ out: UnsafeMutablePointer<Double>) {
    let s1 = t[2] * t[2], s2 = t[3] * t[3]
    let rho = Foundation.tanh(t[4])
    let eps = 1e-6
    let c00 = s1 * s1 + eps, c01 = rho * s1 * s2, c11 = s2 * s2 + eps
    let l00 = c00.squareRoot()
    let l10 = c01 / l00
    let l11 = max(c11 - l10 * l10, 0).squareRoot()
    for k in 0..<4 {
      let z0 = rng.nextNormal(), z1 = rng.nextNormal()
      out[2 * k] = t[0] + l00 * z0
      out[2 * k + 1] = t[1] + l10 * z0 + l11 * z1
    }
  }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    let dx = dataDimension
    return blockedRowMap(rows: parameters.rows, outputColumns: dx, seed: seed) { rng, r, out in
      let t = (0..<5).map { Double(parameters[r, $0]) }
      var values = [Double](repeating: 0, count: distractors == nil ? 8 : 100)
      values.withUnsafeMutableBufferPointer { v in
        SLCPTask.simulateCore(t, &rng, v.baseAddress!)
        if let d = distractors { d.sample(&rng, into: v.baseAddress! + 8) }
      }
      if let d = distractors {
        for i in 0..<dx { out[i] = Float(values[d.permutation[i]]) }
      } else {
        for i in 0..<dx { out[i] = Float(values[i]) }
      }
    }
  }

  /// Log-likelihood of the 8 SLCP values (four bivariate normals), for tests and reference checks.
  public static func logLikelihood(theta t: [Double], data x: [Double]) -> Double {
    let s1 = t[2] * t[2], s2 = t[3] * t[3], rho = Foundation.tanh(t[4]), eps = 1e-6
    let c00 = s1 * s1 + eps, c01 = rho * s1 * s2, c11 = s2 * s2 + eps
    let det = c00 * c11 - c01 * c01
    var l = 0.0
    for k in 0..<4 {
      let d0 = x[2 * k] - t[0], d1 = x[2 * k + 1] - t[1]
      let q = (c11 * d0 * d0 - 2 * c01 * d0 * d1 + c00 * d1 * d1) / det
      l += -0.5 * q - 0.5 * Foundation.log(det) - Foundation.log(2 * Double.pi)
    }
    return l
  }
}

/// The slcp_distractors noise: a mixture of multivariate Student-t distributions,
/// x = loc_k + L_k z · √(df_k / W), z ~ N(0, I), W ~ χ²(df_k), k ~ Categorical(probs).
struct DistractorModel: Sendable {
  let probs: [Double]
  let df: [Double]
  let loc: [[Double]]
  /// Row-major lower-triangular factors, [k][92·92].
  let scaleTril: [[Double]]
  let permutation: [Int]
  var dimension: Int { loc[0].count }

  static func load() throws(TaskError) -> DistractorModel {
    let url = try SBIBMData.asset("slcp_distractors_gmm.json")
    guard let data = try? Data(contentsOf: url),
          let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let probs = obj["probs"] as? [Double], let df = obj["df"] as? [Double],
          let loc = obj["loc"] as? [[Double]], let tril = obj["scale_tril"] as? [[[Double]]]
    else { throw .badDataFile(path: url.path, reason: "expected probs, df, loc, scale_tril") }
    let permURL = try SBIBMData.asset("slcp_distractors_permutation.csv")
    let perm = try SBIBMData.readNumericCSV(permURL).flatMap { $0 }.map { Int($0) }
    guard perm.count == 100, Set(perm) == Set(0..<100), loc.count == probs.count, tril.count == probs.count,
          loc.allSatisfy({ $0.count == 92 })
    else { throw .badDataFile(path: url.path, reason: "inconsistent distractor model shapes") }
    return DistractorModel(probs: probs, df: df, loc: loc, scaleTril: tril.map { $0.flatMap { $0 } },
                           permutation: perm)
  }

  func sample(_ rng: inout Xoshiro, into out: UnsafeMutablePointer<Double>) {
    let k = rng.nextCategorical(probs)
    let n = dimension
    let w = 2 * rng.nextGamma(shape: df[k] / 2)
    let factor = (df[k] / w).squareRoot()
    var z = [Double](repeating: 0, count: n)
    for i in 0..<n { z[i] = rng.nextNormal() }
    scaleTril[k].withUnsafeBufferPointer { l in
      for i in 0..<n {
        var s = 0.0
        for j in 0...i { s += l[i * n + j] * z[j] }
        out[i] = loc[k][i] + factor * s
      }
    }
  }
}

// Finite-difference helpers shared by the gradient tests.
import Testing

import NumericCore
import NeuralNet

/// Central-difference check of analytic gradients for a scalar loss of the parameter values.
///
/// Float evaluation: with step h the truncation error is O(h²) and the rounding error about
/// ε_Float·|L|/h, so h = 1e-2 and a tolerance of 1e-2·(|g| + scale) leave both well below the bound.
struct GradientCheck {
  var step: Float = 1e-2
  var relative: Double = 2e-2
  var absolute: Double = 2e-3

  /// Compares `analytic[i]` with (L(v + h e_i) − L(v − h e_i)) / 2h for the given indices; returns the
  /// worst normalized error (≤ 1 passes).
  func worstError(
    indices: [Int], values: UnsafeMutablePointer<Float>, analytic: [Float], loss: () -> Double
  ) -> (error: Double, index: Int, analytic: Double, numeric: Double) {
    var worst = (0.0, -1, 0.0, 0.0)
    let scale = analytic.reduce(0.0) { max($0, Double(abs($1))) }
    for i in indices {
      let old = values[i]
      values[i] = old + step
      let lp = loss()
      values[i] = old - step
      let lm = loss()
      values[i] = old
      let numeric = (lp - lm) / Double(2 * step)
      let a = Double(analytic[i])
      let err = abs(numeric - a) / (relative * (abs(a) + 0.05 * scale) + absolute)
      if err > worst.0 { worst = (err, i, a, numeric) }
    }
    return worst
  }
}

/// Σ out ⊙ weights in Double.
func weightedSum(_ m: Matrix, _ w: Matrix) -> Double {
  var s = 0.0
  for i in 0..<m.count { s += Double(m.storage[i]) * Double(w.storage[i]) }
  return s
}

/// A spread of indices covering every tensor (first, last and a few random entries of each).
func sampleIndices(_ buffer: ParameterBuffer, perTensor: Int, rng: inout Xoshiro) -> [Int] {
  var out: [Int] = []
  for t in buffer.tensors {
    out.append(t.offset)
    out.append(t.offset + t.count - 1)
    for _ in 0..<min(perTensor, t.count) { out.append(t.offset + rng.nextInt(below: t.count)) }
  }
  return Array(Set(out)).sorted()
}

/// All suites of this target run one test at a time: the trainer and `predict` change the process-wide BLAS
/// thread count, and exact reproducibility checks need it stable.
@Suite(.serialized) struct NeuralNetSuite {}

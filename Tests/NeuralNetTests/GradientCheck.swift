// Finite-difference helpers shared by the gradient tests (`GradientCheck` is in TestSupport).
import Testing


import NumericCore
import NeuralNet

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

// Classifier two-sample test exactly as sbibm computes it (`sbibm/metrics/c2st.py`, Documentation/Methods.md §12.1).

import Foundation
import NumericCore

/// Errors of the diagnostics.
public enum DiagnosticsError: Error, Equatable, CustomStringConvertible {
  /// Two inputs that must share a dimension do not.
  case dimensionMismatch(String)
  /// An input has too few rows for the computation.
  case tooFewSamples(String)

  public var description: String {
    switch self {
    case .dimensionMismatch(let s): return "dimension mismatch: \(s)"
    case .tooFewSamples(let s): return "too few samples: \(s)"
    }
  }
}

/// The rows of `m` whose entries are all finite (the review drops non-finite posterior draws before a C2ST).
public func finiteRows(_ m: Matrix) -> Matrix {
  m.gatherRows((0..<m.rows).filter { i in (0..<m.cols).allSatisfy { m[i, $0].isFinite } })
}

/// The result of a C2ST: mean accuracy over the folds, the per-fold accuracies and the training epochs per fold.
public struct C2STResult: Sendable {
  public let accuracy: Double
  public let foldAccuracies: [Double]
  public let epochs: [Int]
}

/// C2ST accuracy between `reference` (label 0) and `samples` (label 1), both [n, D], as sbibm computes it:
/// 1. z-score both sets by the reference's column mean and unbiased standard deviation;
/// 2. scikit-learn MLPClassifier(relu, hidden (10·D, 10·D), adam lr 10⁻³, α = 10⁻⁴, batch min(200, n),
///    tol 10⁻⁴ over 10 epochs, at most 10,000 epochs);
/// 3. 5-fold shuffled K-fold cross-validation; the mean test accuracy.
/// 0.5 means indistinguishable, 1.0 fully separable. Folds train in parallel (one BLAS thread each).
///
/// Sets of different sizes are compared on their first min(n_ref, n_samples) rows each, as sbibm compares
/// `num_samples` draws with the first `num_samples` reference samples: with unequal classes a classifier that
/// always answers the larger class would score n_large/(n_ref + n_samples) (0.909 for 10,000 against 1,000) and
/// hide everything else.
public func c2st(reference: Matrix, samples: Matrix, seed: UInt64 = 1, folds: Int = 5) throws(DiagnosticsError)
  -> Double
{
  try c2stDetailed(reference: reference, samples: samples, seed: seed, folds: folds).accuracy
}

/// `c2st` with per-fold detail and adjustable classifier options (defaults: sbibm's).
public func c2stDetailed(
  reference: Matrix, samples: Matrix, seed: UInt64 = 1, folds: Int = 5, options: MLPClassifierOptions? = nil
) throws(DiagnosticsError) -> C2STResult {
  let d = reference.cols
  guard samples.cols == d else {
    throw .dimensionMismatch("reference has \(d) columns, samples \(samples.cols)")
  }
  let common = min(reference.rows, samples.rows)
  let reference = reference.rows == common ? reference : reference.rows(0..<common)
  let samples = samples.rows == common ? samples : samples.rows(0..<common)
  guard reference.rows >= 2, reference.rows + samples.rows >= 2 * folds else {
    throw .tooFewSamples("C2ST needs at least 2 reference rows and \(folds) rows per fold")
  }
  let opts = options ?? MLPClassifierOptions(hiddenSizes: [10 * d, 10 * d])
  // z-score by the reference's mean and unbiased std (as torch.std).
  let (mean, variance) = reference.columnMeanVariance()
  let nRef = Double(reference.rows)
  // sbibm has no guard for a constant column; like sbi's copy we use 1 there instead of dividing by zero.
  let std = variance.map { v -> Double in
    let s = (v * nRef / (nRef - 1)).squareRoot()
    return s < 1e-14 ? 1 : s
  }
  let n = reference.rows + samples.rows
  var x = [Float](repeating: 0, count: n * d)
  var y = [Float](repeating: 0, count: n)
  for (offset, m, label) in [(0, reference, Float(0)), (reference.rows, samples, Float(1))] {
    for i in 0..<m.rows {
      for j in 0..<d { x[(offset + i) * d + j] = Float((Double(m[i, j]) - mean[j]) / std[j]) }
      y[offset + i] = label
    }
  }
  // Shuffled K-fold: fold k is the k-th contiguous piece of a permutation; the first n % K folds get one extra.
  var splitRNG = Xoshiro(seed: seed, stream: 0xC257)
  let perm = splitRNG.permutation(n)
  var bounds = [0]
  for k in 0..<folds { bounds.append(bounds[k] + n / folds + (k < n % folds ? 1 : 0)) }
  var accuracies = [Double](repeating: 0, count: folds)
  var epochs = [Int](repeating: 0, count: folds)
  SingleThreadedBLAS.enter()
  defer { SingleThreadedBLAS.exit() }
  accuracies.withUnsafeMutableBufferPointer { accBuf in
    epochs.withUnsafeMutableBufferPointer { epBuf in
      let acc = UnsafeSendablePointer(accBuf.baseAddress!)
      let ep = UnsafeSendablePointer(epBuf.baseAddress!)
      parallelFor(count: folds) { _, range in
        for k in range {
          let test = Array(perm[bounds[k]..<bounds[k + 1]])
          let train = Array(perm[0..<bounds[k]] + perm[bounds[k + 1]..<n])
          var xTrain = [Float](repeating: 0, count: train.count * d), yTrain = [Float](repeating: 0, count: train.count)
          for (r, i) in train.enumerated() {
            for j in 0..<d { xTrain[r * d + j] = x[i * d + j] }
            yTrain[r] = y[i]
          }
          var xTest = [Float](repeating: 0, count: test.count * d)
          for (r, i) in test.enumerated() { for j in 0..<d { xTest[r * d + j] = x[i * d + j] } }
          var rng = Xoshiro(seed: seed, stream: UInt64(k))
          let (net, e) = xTrain.withUnsafeBufferPointer { xp in
            yTrain.withUnsafeBufferPointer { yp in
              trainBinaryMLP(x: xp.baseAddress!, y: yp.baseAddress!, n: train.count, d: d, options: opts, rng: &rng)
            }
          }
          let probs = xTest.withUnsafeBufferPointer { net.predictProbabilities($0.baseAddress!, n: test.count) }
          var correct = 0
          for (r, i) in test.enumerated() where (probs[r] > 0.5 ? Float(1) : 0) == y[i] { correct += 1 }
          acc.base[k] = Double(correct) / Double(test.count)
          ep.base[k] = e
        }
      }
    }
  }
  return C2STResult(accuracy: accuracies.reduce(0, +) / Double(folds), foldAccuracies: accuracies, epochs: epochs)
}

/// Keeps the BLAS on one thread while any C2ST runs: the folds call small GEMMs from several threads at once, and a
/// multi-threaded OpenBLAS serializes such calls through its worker queue (spinning in sched_yield). Nested and
/// concurrent C2STs share one count; the last to finish restores the previous setting.
enum SingleThreadedBLAS {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var depth = 0
  nonisolated(unsafe) private static var saved = 1

  static func enter() {
    lock.lock()
    if depth == 0 {
      saved = BLAS.threads
      BLAS.threads = 1
    }
    depth += 1
    lock.unlock()
  }

  static func exit() {
    lock.lock()
    depth -= 1
    if depth == 0 { BLAS.threads = saved }
    lock.unlock()
  }
}

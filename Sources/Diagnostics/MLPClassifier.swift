// A binary MLP classifier trained exactly as scikit-learn's MLPClassifier(solver="adam") trains one, for C2ST.
//
// scikit-learn `neural_network/_multilayer_perceptron.py` (`_fit_stochastic`, `_backprop`, `_init_coef`) and
// `_stochastic_optimizers.py` (AdamOptimizer): ReLU hidden layers, a logistic output unit with binary log-loss,
// L2 penalty ½α‖W‖²/B on the weights (not the biases), Glorot-uniform initialization with bound √(6/(fan_in+fan_out))
// for weights and biases, Adam with bias-corrected step lr·√(1−β₂ᵗ)/(1−β₁ᵗ), mini-batches of min(200, n) over a
// fresh shuffle each epoch, and the stopping rule "training loss improved by less than tol for more than
// n_iter_no_change consecutive epochs".

import Foundation
import NumericCore

/// Hyper-parameters of the classifier (scikit-learn's defaults).
public struct MLPClassifierOptions: Sendable {
  public var hiddenSizes: [Int]
  public var alpha: Float = 1e-4
  public var learningRate: Float = 1e-3
  public var beta1: Float = 0.9
  public var beta2: Float = 0.999
  public var epsilon: Float = 1e-8
  public var maxBatchSize = 200
  public var tolerance = 1e-4
  public var iterationsWithoutChange = 10
  public var maxEpochs = 10_000

  public init(hiddenSizes: [Int]) { self.hiddenSizes = hiddenSizes }
}

/// A fully connected ReLU network with one logistic output. All parameters live in one flat buffer: for each
/// layer l the weights W_l ([fan_in, fan_out], row-major) and then the biases b_l.
struct BinaryMLP {
  let sizes: [Int]
  var parameters: [Float]
  let weightOffsets: [Int]
  let biasOffsets: [Int]
  var layerCount: Int { sizes.count - 1 }

  init(sizes: [Int], rng: inout Xoshiro) {
    self.sizes = sizes
    var w: [Int] = [], b: [Int] = [], total = 0
    for l in 0..<(sizes.count - 1) {
      w.append(total)
      total += sizes[l] * sizes[l + 1]
      b.append(total)
      total += sizes[l + 1]
    }
    weightOffsets = w
    biasOffsets = b
    parameters = [Float](repeating: 0, count: total)
    // Glorot uniform, as scikit-learn's _init_coef (factor 6 for ReLU): weights first, then biases, per layer.
    for l in 0..<(sizes.count - 1) {
      let bound = Float((6.0 / Double(sizes[l] + sizes[l + 1])).squareRoot())
      for i in 0..<(sizes[l] * sizes[l + 1] + sizes[l + 1]) {
        parameters[w[l] + i] = -bound + 2 * bound * rng.nextFloat()
      }
    }
  }

  /// Forward pass over `n` rows of `x` ([n, sizes[0]]); `acts[l]` receives layer l's output ([n, sizes[l]], l ≥ 1),
  /// the last one holding probabilities.
  func forward(_ x: UnsafePointer<Float>, n: Int, acts: [UnsafeMutablePointer<Float>]) {
    parameters.withUnsafeBufferPointer { p in
      let base = p.baseAddress!
      for l in 0..<layerCount {
        let fanIn = sizes[l], fanOut = sizes[l + 1]
        let input = l == 0 ? x : UnsafePointer(acts[l])
        let o = acts[l + 1]
        for i in 0..<n { (o + i * fanOut).update(from: base + biasOffsets[l], count: fanOut) }
        BLAS.sgemm(transA: false, transB: false, m: n, n: fanOut, k: fanIn, alpha: 1, a: input, lda: fanIn,
                   b: base + weightOffsets[l], ldb: fanOut, beta: 1, c: o, ldc: fanOut)
        let count = n * fanOut
        if l < layerCount - 1 {
          for i in 0..<count where o[i] < 0 { o[i] = 0 }
        } else {
          for i in 0..<count { o[i] = Float(Special.sigmoid(Double(o[i]))) }
        }
      }
    }
  }

  /// Class-1 probabilities for `n` rows of `x`, evaluated in chunks.
  func predictProbabilities(_ x: UnsafePointer<Float>, n: Int) -> [Float] {
    let chunk = 1024
    let acts = sizes.map { UnsafeMutablePointer<Float>.allocate(capacity: chunk * $0) }
    defer { acts.forEach { $0.deallocate() } }
    var out = [Float](repeating: 0, count: n)
    var start = 0
    while start < n {
      let m = min(chunk, n - start)
      forward(x + start * sizes[0], n: m, acts: acts)
      for i in 0..<m { out[start + i] = acts[layerCount][i] }
      start += m
    }
    return out
  }
}

/// Trains a binary MLP on `x` ([n, d], row-major) with labels `y` ∈ {0, 1}; returns the network and the number of
/// epochs run.
func trainBinaryMLP(
  x: UnsafePointer<Float>, y: UnsafePointer<Float>, n: Int, d: Int, options: MLPClassifierOptions,
  rng: inout Xoshiro
) -> (network: BinaryMLP, epochs: Int) {
  let sizes = [d] + options.hiddenSizes + [1]
  var net = BinaryMLP(sizes: sizes, rng: &rng)
  let layers = net.layerCount
  let batch = min(options.maxBatchSize, n)
  let acts = sizes.map { UnsafeMutablePointer<Float>.allocate(capacity: batch * $0) }
  let deltas = sizes.map { UnsafeMutablePointer<Float>.allocate(capacity: batch * $0) }
  let count = net.parameters.count
  let grad = UnsafeMutablePointer<Float>.allocate(capacity: count)
  let m1 = UnsafeMutablePointer<Float>.allocate(capacity: count)
  let m2 = UnsafeMutablePointer<Float>.allocate(capacity: count)
  let yb = UnsafeMutablePointer<Float>.allocate(capacity: batch)
  m1.initialize(repeating: 0, count: count)
  m2.initialize(repeating: 0, count: count)
  defer {
    (acts + deltas).forEach { $0.deallocate() }
    [grad, m1, m2, yb].forEach { $0.deallocate() }
  }
  let xb = acts[0]
  var order = Array(0..<n)
  var bestLoss = Double.infinity
  var noImprovement = 0
  var step = 0
  var epochs = 0
  let eps = Double(Float.ulpOfOne)
  let alpha = options.alpha
  let (b1, b2, adamEps) = (options.beta1, options.beta2, options.epsilon)
  for _ in 0..<options.maxEpochs {
    // A fresh shuffle of the sample order each epoch (Fisher–Yates).
    for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
    var accumulated = 0.0
    var start = 0
    while start < n {
      let b = min(batch, n - start)
      for r in 0..<b {
        let src = order[start + r]
        (xb + r * d).update(from: x + src * d, count: d)
        yb[r] = y[src]
      }
      net.forward(xb, n: b, acts: acts)
      // Binary log-loss with probabilities clipped to [eps, 1 − eps], plus ½α‖W‖²/B; δ_out = p − y.
      var loss = 0.0
      let probs = acts[layers], top = deltas[layers]
      for r in 0..<b {
        let p = min(max(Double(probs[r]), eps), 1 - eps)
        loss -= yb[r] > 0.5 ? Foundation.log(p) : Foundation.log(1 - p)
        top[r] = probs[r] - yb[r]
      }
      loss /= Double(b)
      let invB = 1 / Float(b)
      net.parameters.withUnsafeBufferPointer { pp in
        let p = pp.baseAddress!
        var sq = 0.0
        for l in 0..<layers {
          let o = net.weightOffsets[l]
          for i in 0..<(sizes[l] * sizes[l + 1]) { sq += Double(p[o + i]) * Double(p[o + i]) }
        }
        loss += 0.5 * Double(alpha) * sq / Double(b)
        for l in stride(from: layers - 1, through: 0, by: -1) {
          let fanIn = sizes[l], fanOut = sizes[l + 1]
          let wo = net.weightOffsets[l], bo = net.biasOffsets[l]
          let dl = deltas[l + 1]
          // ∂W = (a_lᵀ δ_{l+1} + αW) / B, ∂b = mean δ_{l+1}.
          for i in 0..<(fanIn * fanOut) { grad[wo + i] = alpha * p[wo + i] }
          BLAS.sgemm(transA: true, transB: false, m: fanIn, n: fanOut, k: b, alpha: 1, a: acts[l], lda: fanIn,
                     b: dl, ldb: fanOut, beta: 1, c: grad + wo, ldc: fanOut)
          for i in 0..<(fanIn * fanOut) { grad[wo + i] *= invB }
          for j in 0..<fanOut { grad[bo + j] = 0 }
          for r in 0..<b { for j in 0..<fanOut { grad[bo + j] += dl[r * fanOut + j] } }
          for j in 0..<fanOut { grad[bo + j] *= invB }
          if l > 0 {
            // δ_l = δ_{l+1} W_lᵀ ⊙ 1[a_l > 0].
            let dn = deltas[l], a = acts[l]
            BLAS.sgemm(transA: false, transB: true, m: b, n: fanIn, k: fanOut, alpha: 1, a: dl, lda: fanOut,
                       b: p + wo, ldb: fanOut, beta: 0, c: dn, ldc: fanIn)
            for i in 0..<(b * fanIn) where a[i] == 0 { dn[i] = 0 }
          }
        }
      }
      accumulated += loss * Double(b)
      // Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε).
      step += 1
      let t = Double(step)
      let lr = Float(Double(options.learningRate) * (1 - Foundation.pow(Double(b2), t)).squareRoot()
        / (1 - Foundation.pow(Double(b1), t)))
      net.parameters.withUnsafeMutableBufferPointer { p in
        for i in 0..<count {
          let g = grad[i]
          m1[i] = b1 * m1[i] + (1 - b1) * g
          m2[i] = b2 * m2[i] + (1 - b2) * g * g
          p[i] -= lr * m1[i] / (m2[i].squareRoot() + adamEps)
        }
      }
      start += b
    }
    epochs += 1
    let epochLoss = accumulated / Double(n)
    if epochLoss > bestLoss - options.tolerance { noImprovement += 1 } else { noImprovement = 0 }
    if epochLoss < bestLoss { bestLoss = epochLoss }
    if noImprovement > options.iterationsWithoutChange { break }
  }
  return (net, epochs)
}

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
          reluInPlace(o, count: count)
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
  let ones = UnsafeMutablePointer<Float>.allocate(capacity: batch)
  ones.initialize(repeating: 1, count: batch)
  m1.initialize(repeating: 0, count: count)
  m2.initialize(repeating: 0, count: count)
  defer {
    (acts + deltas).forEach { $0.deallocate() }
    [grad, m1, m2, yb, ones].forEach { $0.deallocate() }
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
          sq += Double(Kernels.sumOfSquares(count: sizes[l] * sizes[l + 1], p + net.weightOffsets[l]))
        }
        loss += 0.5 * Double(alpha) * sq / Double(b)
        for l in stride(from: layers - 1, through: 0, by: -1) {
          let fanIn = sizes[l], fanOut = sizes[l + 1]
          let wo = net.weightOffsets[l], bo = net.biasOffsets[l]
          let dl = deltas[l + 1]
          // ∂W = (a_lᵀ δ_{l+1} + αW) / B, ∂b = mean δ_{l+1} = (1ᵀ δ_{l+1}) / B.
          scaledCopy(p + wo, into: grad + wo, count: fanIn * fanOut, scale: alpha * invB)
          BLAS.sgemm(transA: true, transB: false, m: fanIn, n: fanOut, k: b, alpha: invB, a: acts[l], lda: fanIn,
                     b: dl, ldb: fanOut, beta: 1, c: grad + wo, ldc: fanOut)
          BLAS.sgemm(transA: false, transB: false, m: 1, n: fanOut, k: b, alpha: invB, a: ones, lda: b,
                     b: dl, ldb: fanOut, beta: 0, c: grad + bo, ldc: fanOut)
          if l > 0 {
            // δ_l = δ_{l+1} W_lᵀ ⊙ 1[a_l > 0].
            let dn = deltas[l], a = acts[l]
            BLAS.sgemm(transA: false, transB: true, m: b, n: fanIn, k: fanOut, alpha: 1, a: dl, lda: fanOut,
                       b: p + wo, ldb: fanOut, beta: 0, c: dn, ldc: fanIn)
            reluMask(dn, activations: a, count: b * fanIn)
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
        adamStep(p.baseAddress!, grad, m1, m2, count: count, lr: lr, b1: b1, b2: b2, eps: adamEps)
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

// MARK: - SIMD8 helpers for the non-GEMM work of a step

/// x ← max(x, 0).
@inline(__always)
func reluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
  var i = 0
  let zero = SIMD8<Float>(repeating: 0)
  while i + 8 <= count {
    let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(x + i).storeBytes(of: v.replacing(with: zero, where: v .< zero), as: SIMD8<Float>.self)
    i += 8
  }
  while i < count {
    if x[i] < 0 { x[i] = 0 }
    i += 1
  }
}

/// δ ← δ where a > 0, else 0 (ReLU derivative; a is the ReLU output).
@inline(__always)
func reluMask(_ d: UnsafeMutablePointer<Float>, activations a: UnsafePointer<Float>, count: Int) {
  var i = 0
  let zero = SIMD8<Float>(repeating: 0)
  while i + 8 <= count {
    let av = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
    let dv = UnsafeRawPointer(d + i).loadUnaligned(as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(d + i).storeBytes(of: dv.replacing(with: zero, where: av .== zero), as: SIMD8<Float>.self)
    i += 8
  }
  while i < count {
    if a[i] == 0 { d[i] = 0 }
    i += 1
  }
}

/// y ← s·x.
@inline(__always)
func scaledCopy(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, scale s: Float) {
  var i = 0
  while i + 8 <= count {
    let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(y + i).storeBytes(of: v * s, as: SIMD8<Float>.self)
    i += 8
  }
  while i < count {
    y[i] = s * x[i]
    i += 1
  }
}

/// Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − lr_t · m/(√v + ε).
@inline(__always)
func adamStep(
  _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
  _ v: UnsafeMutablePointer<Float>, count: Int, lr: Float, b1: Float, b2: Float, eps: Float
) {
  var i = 0
  while i + 8 <= count {
    let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
    var mv = UnsafeRawPointer(m + i).loadUnaligned(as: SIMD8<Float>.self)
    var vv = UnsafeRawPointer(v + i).loadUnaligned(as: SIMD8<Float>.self)
    var pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    mv = b1 * mv + (1 - b1) * gv
    vv = b2 * vv + (1 - b2) * gv * gv
    pv = pv - lr * mv / (vv.squareRoot() + eps)
    UnsafeMutableRawPointer(m + i).storeBytes(of: mv, as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(v + i).storeBytes(of: vv, as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(p + i).storeBytes(of: pv, as: SIMD8<Float>.self)
    i += 8
  }
  while i < count {
    m[i] = b1 * m[i] + (1 - b1) * g[i]
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
    p[i] -= lr * m[i] / (v[i].squareRoot() + eps)
    i += 1
  }
}

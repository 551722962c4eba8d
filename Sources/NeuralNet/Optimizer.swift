// Adam and AdamW with gradient clipping, over flat parameter buffers.

import CKernels
import Foundation
import NumericCore

/// How gradients are clipped before the update.
///
/// - `globalNorm(c)`: all gradients scaled by `min(1, c / ‖g‖₂)` with the norm over every buffer.
/// - `perTensorNorm(c)`: each tensor's gradient clipped to norm `c` separately (Keras `clipnorm`).
public enum GradientClipping: Sendable, Codable, Equatable {
  case none
  case globalNorm(Float)
  case perTensorNorm(Float)
}

/// Adam / AdamW hyperparameters (Keras defaults; weight decay 5e-3 is the review's offline AdamW setting).
public struct AdamConfiguration: Sendable, Codable, Equatable {
  public var beta1: Float = 0.9
  public var beta2: Float = 0.999
  public var epsilon: Float = 1e-7
  /// Decoupled weight decay λ (AdamW); 0 gives Adam.
  public var weightDecay: Float = 0
  public var clipping: GradientClipping = .globalNorm(1.5)

  public init(weightDecay: Float = 0, clipping: GradientClipping = .globalNorm(1.5)) {
    self.weightDecay = weightDecay
    self.clipping = clipping
  }

  /// Adam for online training (Documentation/Methods.md §4.1).
  public static var adam: AdamConfiguration { AdamConfiguration() }
  /// AdamW with weight decay 5e-3 for offline training (Documentation/Methods.md §4.1).
  public static var adamW: AdamConfiguration { AdamConfiguration(weightDecay: 5e-3) }
}

/// Adam (Kingma & Ba 2015) with decoupled weight decay (AdamW, Loshchilov & Hutter 2019), as in Keras 3:
///
///     θ ← θ − η·λ·θ                                  (only when λ > 0)
///     m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²
///     θ ← θ − η·√(1 − β₂ᵏ)/(1 − β₁ᵏ) · m / (√v + ε)    (k = step number, from 1)
///
/// Gradients are clipped first (`GradientClipping`). The moments are kept per buffer, in buffer order.
public final class AdamOptimizer: @unchecked Sendable {
  public let configuration: AdamConfiguration
  /// Number of updates applied so far.
  public internal(set) var step = 0
  var m: [[Float]] = []
  var v: [[Float]] = []

  public init(configuration: AdamConfiguration = .adam) { self.configuration = configuration }

  /// The global L2 norm of the gradients of `buffers` (in Double).
  ///
  /// Each buffer is cut into blocks of `normBlock` elements at fixed offsets; a block's sum of squares is taken
  /// by `Kernels.sumOfSquares`, and the block sums are added in Double in buffer and block order. The blocks
  /// are spread over `Threading.count` threads, and the norm is the same whatever the thread count.
  public static func gradientNorm(_ buffers: [ParameterBuffer]) -> Double {
    blockSums(buffers) { _, _, _ in }.reduce(0, +).squareRoot()
  }

  /// Elements per block of `gradientNorm` (a multiple of the 8-lane vector width).
  static let normBlock = 1 << 16

  /// The sums of squares of the gradient blocks of `buffers`, in order, after `prepare(buffer, start, count)`
  /// has run on each block (on the thread that then sums it, while the block is in cache).
  static func blockSums(
    _ buffers: [ParameterBuffer], prepare: @escaping (_ buffer: Int, _ start: Int, _ count: Int) -> Void
  ) -> [Double] {
    var blocks: [(buffer: Int, start: Int, count: Int)] = []
    for (i, b) in buffers.enumerated() {
      var start = 0
      while start < b.count {
        blocks.append((i, start, min(normBlock, b.count - start)))
        start += normBlock
      }
    }
    var sums = [Double](repeating: 0, count: blocks.count)
    let gradients = UncheckedSendableBox(buffers.map { UnsafeSendablePointer($0.gradients) })
    let work = UncheckedSendableBox(blocks)
    let prepareBox = UncheckedSendableBox(prepare)
    sums.withUnsafeMutableBufferPointer { sp in
      let out = UnsafeSendablePointer(sp.baseAddress!)
      parallelFor(count: blocks.count) { _, range in
        for k in range {
          let (i, start, n) = work.value[k]
          prepareBox.value(i, start, n)
          out.base[k] = Double(Kernels.sumOfSquares(count: n, gradients.value[i].base + start))
        }
      }
    }
    return sums
  }

  /// Clips the gradients in place; returns the global norm before clipping.
  @discardableResult
  public func clip(_ buffers: [ParameterBuffer]) -> Double {
    let norm = AdamOptimizer.gradientNorm(buffers)
    switch configuration.clipping {
    case .none: break
    case .globalNorm(let c):
      if norm > Double(c) {
        let s = Float(Double(c) / norm)
        for b in buffers { Kernels.scale(count: b.count, b.gradients, by: s) }
      }
    case .perTensorNorm(let c):
      for b in buffers {
        for t in b.tensors {
          let n = Double(Kernels.sumOfSquares(count: t.count, b.gradients + t.offset)).squareRoot()
          if n > Double(c) { Kernels.scale(count: t.count, b.gradients + t.offset, by: Float(Double(c) / n)) }
        }
      }
    }
    return norm
  }

  /// Clips and applies one update with learning rate `learningRate`; returns the pre-clip gradient norm.
  ///
  /// One pass over each buffer reads the gradient, the moments, the values (and the EMA shadow) once and writes
  /// them once: global-norm clipping multiplies the gradient by `min(1, c / ‖g‖₂)` inside that pass, so the
  /// gradient buffers are left as they were (per-tensor clipping scales them in place first). `gradientNorm`,
  /// when the caller already has it, saves the pass that computes it. With `ema` the new values are folded into
  /// the average in the same pass, with the same arithmetic as `PowerEMA.update` called after this method.
  @discardableResult
  public func update(
    _ buffers: [ParameterBuffer], learningRate: Float, gradientNorm: Double? = nil, ema: PowerEMA? = nil
  ) -> Double {
    if m.isEmpty {
      m = buffers.map { [Float](repeating: 0, count: $0.count) }
      v = m
    }
    precondition(m.count == buffers.count && zip(m, buffers).allSatisfy { $0.count == $1.count },
                 "optimizer state does not match the parameter buffers")
    let c = configuration
    let norm: Double
    var gradientScale: Float = 1
    switch c.clipping {
    case .globalNorm(let limit):
      norm = gradientNorm ?? AdamOptimizer.gradientNorm(buffers)
      if norm > Double(limit) { gradientScale = Float(Double(limit) / norm) }
    case .none, .perTensorNorm:
      norm = clip(buffers)
    }
    step += 1
    let k = Double(step)
    let alpha = Float(Double(learningRate) * (1 - pow(Double(c.beta2), k)).squareRoot() / (1 - pow(Double(c.beta1), k)))
    let coefficients = UpdateCoefficients(
      beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon, alpha: alpha, decay: 1 - learningRate * c.weightDecay,
      gradientScale: gradientScale, emaBeta: ema?.beginFusedUpdate(buffers) ?? 0)
    for (i, b) in buffers.enumerated() {
      m[i].withUnsafeMutableBufferPointer { mp in
        v[i].withUnsafeMutableBufferPointer { vp in
          withShadowPointer(ema, index: i) { shadow in
            // Elementwise, so splitting over threads does not change the result.
            let mb = UnsafeSendablePointer(mp.baseAddress!), vb = UnsafeSendablePointer(vp.baseAddress!)
            let tb = UnsafeSendablePointer(b.values), gb = UnsafeSendablePointer(b.gradients)
            let sb = shadow.map { UnsafeSendablePointer($0) }
            parallelFor(count: b.count, chunks: 4 * Threading.count, minimumPerChunk: 1 << 15) { _, r in
              let o = r.lowerBound
              AdamOptimizer.kernel(
                count: r.count, theta: tb.base + o, g: gb.base + o, m: mb.base + o, v: vb.base + o,
                shadow: sb.map { $0.base + o }, coefficients)
            }
          }
        }
      }
    }
    return norm
  }

  /// The constants of one update.
  struct UpdateCoefficients {
    var beta1: Float, beta2: Float, epsilon: Float, alpha: Float, decay: Float, gradientScale: Float, emaBeta: Float
  }

  /// The fused update over one buffer: clip-scaled gradient, moments, (decoupled decay and) step, EMA fold.
  ///
  /// Every element sees the same operations in the same order as clipping in place, updating, and calling
  /// `PowerEMA.update` in three passes, so the results are bit-identical to those. The C kernel
  /// (Sources/CKernels/KernelBodies.h) takes the square root of the second moment with one vector instruction.
  static func kernel(
    count: Int, theta: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
    v: UnsafeMutablePointer<Float>, shadow: UnsafeMutablePointer<Float>?, _ k: UpdateCoefficients
  ) {
    let c = dsk_adam_coefficients(
      beta1: k.beta1, beta2: k.beta2, epsilon: k.epsilon, alpha: k.alpha, decay: k.decay,
      gradientScale: k.gradientScale, emaBeta: k.emaBeta)
    dsk_adam_update(count, theta, g, m, v, shadow, c)
  }

  /// Moments and step count, for checkpoints.
  public var state: (step: Int, m: [[Float]], v: [[Float]]) { (step, m, v) }
}

/// Learning rate as a function of the 0-based optimizer step (Keras `CosineDecay` with warm-up):
///
///     k < W:   η(k) = η₀ + (η_peak − η₀)·k/W,        η₀ = warmupStartFraction·η_peak
///     k ≥ W:   η(k) = η_peak·½(1 + cos(π·min(k − W, D)/D)),  D = total − W
///
/// with W = round(warmupFraction·total). The review uses η_peak = 5e-4, 5 % warm-up from 0.1·η_peak.
public struct LearningRateSchedule: Sendable, Codable, Equatable {
  public var peak: Float = 5e-4
  public var totalSteps: Int
  public var warmupFraction: Double = 0.05
  public var warmupStartFraction: Double = 0.1
  public var cosine = true

  public init(peak: Float = 5e-4, totalSteps: Int, warmupFraction: Double = 0.05, warmupStartFraction: Double = 0.1,
              cosine: Bool = true) {
    self.peak = peak
    self.totalSteps = totalSteps
    self.warmupFraction = warmupFraction
    self.warmupStartFraction = warmupStartFraction
    self.cosine = cosine
  }

  /// A constant rate.
  public static func constant(_ rate: Float) -> LearningRateSchedule {
    LearningRateSchedule(peak: rate, totalSteps: 1, warmupFraction: 0, cosine: false)
  }

  public var warmupSteps: Int { Int((warmupFraction * Double(totalSteps)).rounded()) }

  public func callAsFunction(_ step: Int) -> Float {
    let w = warmupSteps
    let peak = Double(self.peak)
    if step < w {
      let start = warmupStartFraction * peak
      return Float(start + (peak - start) * Double(step) / Double(w))
    }
    guard cosine else { return self.peak }
    let d = max(totalSteps - w, 1)
    let frac = Double(min(step - w, d)) / Double(d)
    return Float(peak * 0.5 * (1 + cos(Double.pi * frac)))
  }
}

/// Power-function EMA of the weights (Karras et al. 2024, "Analyzing and Improving the Training Dynamics of
/// Diffusion Models"): after optimizer step k (from 1), `β_k = (1 − 1/k)^{γ+1}` and
/// `shadow ← β_k·shadow + (1 − β_k)·θ`. γ = 6.94 corresponds to σ_rel ≈ 0.10. The shadow is kept separately.
public final class PowerEMA: @unchecked Sendable {
  public let gamma: Double
  public private(set) var step = 0
  /// Averaged values, one array per buffer.
  public private(set) var shadow: [[Float]] = []

  public init(gamma: Double = 6.94) { self.gamma = gamma }

  /// β for step k.
  public func beta(step k: Int) -> Double { pow(1 - 1 / Double(k), gamma + 1) }

  /// Starts an update that `AdamOptimizer.update(_:learningRate:gradientNorm:ema:)` folds into its pass:
  /// advances the step and returns β. A first update starts from a zero shadow, which β₁ = 0 turns into the
  /// values exactly, as `update(_:)` does.
  func beginFusedUpdate(_ buffers: [ParameterBuffer]) -> Float {
    if shadow.isEmpty { shadow = buffers.map { [Float](repeating: 0, count: $0.count) } }
    precondition(shadow.count == buffers.count && zip(shadow, buffers).allSatisfy { $0.count == $1.count },
                 "EMA state does not match the parameter buffers")
    step += 1
    return Float(beta(step: step))
  }

  /// Calls `body` with a pointer to the shadow of buffer `index`.
  func withShadow<R>(_ index: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    shadow[index].withUnsafeMutableBufferPointer { body($0.baseAddress!) }
  }

  /// Folds the current values of `buffers` into the average.
  public func update(_ buffers: [ParameterBuffer]) {
    if shadow.isEmpty { shadow = buffers.map { $0.valueArray } }
    step += 1
    let b = Float(beta(step: step))
    let bv = V8(repeating: b), cv = V8(repeating: 1 - b)
    for (i, buf) in buffers.enumerated() {
      shadow[i].withUnsafeMutableBufferPointer { sp in
        let s = sp.baseAddress!
        Kernels.apply2(count: buf.count, UnsafePointer(s), buf.values, into: s) { bv * $0 + cv * $1 }
      }
    }
  }

  /// Restores a saved average.
  public func restore(step: Int, shadow: [[Float]]) {
    self.step = step
    self.shadow = shadow
  }
}

/// Calls `body` with the shadow pointer of buffer `index` of `ema`, or nil.
private func withShadowPointer<R>(
  _ ema: PowerEMA?, index: Int, _ body: (UnsafeMutablePointer<Float>?) -> R
) -> R {
  guard let ema else { return body(nil) }
  return ema.withShadow(index) { body($0) }
}

// Adam and AdamW with gradient clipping, over flat parameter buffers.

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
  public static func gradientNorm(_ buffers: [ParameterBuffer]) -> Double {
    var s = 0.0
    for b in buffers { s += Double(Kernels.sumOfSquares(count: b.count, b.gradients)) }
    return s.squareRoot()
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
  /// Gradients are left clipped (not zeroed).
  @discardableResult
  public func update(_ buffers: [ParameterBuffer], learningRate: Float) -> Double {
    if m.isEmpty {
      m = buffers.map { [Float](repeating: 0, count: $0.count) }
      v = m
    }
    precondition(m.count == buffers.count && zip(m, buffers).allSatisfy { $0.count == $1.count },
                 "optimizer state does not match the parameter buffers")
    let norm = clip(buffers)
    step += 1
    let c = configuration
    let k = Double(step)
    let alpha = Float(Double(learningRate) * (1 - pow(Double(c.beta2), k)).squareRoot() / (1 - pow(Double(c.beta1), k)))
    let decay = 1 - learningRate * c.weightDecay
    for (i, b) in buffers.enumerated() {
      m[i].withUnsafeMutableBufferPointer { mp in
        v[i].withUnsafeMutableBufferPointer { vp in
          // Elementwise, so splitting over threads does not change the result.
          let mb = UnsafeSendablePointer(mp.baseAddress!), vb = UnsafeSendablePointer(vp.baseAddress!)
          let tb = UnsafeSendablePointer(b.values), gb = UnsafeSendablePointer(b.gradients)
          parallelFor(count: b.count, minimumPerChunk: 1 << 16) { _, r in
            AdamOptimizer.kernel(
              count: r.count, theta: tb.base + r.lowerBound, g: gb.base + r.lowerBound, m: mb.base + r.lowerBound,
              v: vb.base + r.lowerBound, beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon, alpha: alpha, decay: decay)
          }
        }
      }
    }
    return norm
  }

  /// The fused SIMD update over one buffer.
  static func kernel(
    count: Int, theta: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
    v: UnsafeMutablePointer<Float>, beta1: Float, beta2: Float, epsilon: Float, alpha: Float, decay: Float
  ) {
    let b1 = V8(repeating: beta1), c1 = V8(repeating: 1 - beta1)
    let b2 = V8(repeating: beta2), c2 = V8(repeating: 1 - beta2)
    let eps = V8(repeating: epsilon), a = V8(repeating: alpha), d = V8(repeating: decay)
    forEachChunk(count) { i, n in
      let gv = SIMDLoad.load(g + i, n)
      let mv = b1 * SIMDLoad.load(m + i, n) + c1 * gv
      let vv = b2 * SIMDLoad.load(v + i, n) + c2 * gv * gv
      let t = SIMDLoad.load(theta + i, n) * d - a * mv / (vv.squareRoot() + eps)
      SIMDLoad.store(mv, m + i, n)
      SIMDLoad.store(vv, v + i, n)
      SIMDLoad.store(t, theta + i, n)
    }
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

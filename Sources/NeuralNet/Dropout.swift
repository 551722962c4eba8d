// Inverted dropout (Srivastava et al. 2014).

import NumericCore

/// Inverted dropout with rate `p`.
///
/// Training: `y = x ⊙ m`, `m_i = s·Bernoulli(1 − p)` with `s` chosen so that `E[m_i] = 1` exactly; inference:
/// `y = x`. Backward: `dx = dy ⊙ m`. Keep decisions use 16 random bits each (four per 64-bit draw), so `p` is
/// rounded to a multiple of 2⁻¹⁶ and `s = 1/(1 − p̃)` for the rounded rate `p̃`.
public struct Dropout: Sendable, Equatable {
  public let rate: Float
  let threshold: UInt64
  let scale: Float

  public init(rate: Float) {
    precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1)")
    self.rate = rate
    threshold = UInt64((Double(rate) * 65536).rounded())
    scale = threshold == 0 ? 1 : Float(65536.0 / Double(65536 - threshold))
  }

  /// True when the layer changes anything in training mode.
  public var isActive: Bool { threshold > 0 }

  /// Fills `count` mask entries with 0 or `s`.
  func fillMask(_ m: UnsafeMutablePointer<Float>, count: Int, rng: inout Xoshiro) {
    let t = SIMD8<UInt32>(repeating: UInt32(threshold))
    let s = V8(repeating: scale), zero = V8(repeating: 0)
    var i = 0
    while i + 8 <= count {
      // Eight 16-bit uniforms from two draws, lanes in the same order as the scalar tail below.
      let h = unsafeBitCast(SIMD2<UInt64>(rng.next(), rng.next()), to: SIMD8<UInt16>.self)
      let keep = SIMD8<UInt32>(truncatingIfNeeded: h) .>= t
      SIMDLoad.store8(zero.replacing(with: s, where: keep), m + i)
      i += 8
    }
    while i < count {
      var u = rng.next()
      for _ in 0..<min(4, count - i) {
        m[i] = (u & 0xffff) < threshold ? 0 : scale
        u >>= 16
        i += 1
      }
    }
  }

  /// A fresh mask of the given shape (training mode).
  public func mask(rows: Int, cols: Int, rng: inout Xoshiro) -> Matrix {
    var m = Matrix(rows: rows, cols: cols, repeating: 1)
    if isActive { m.withUnsafeMutableBufferPointer { fillMask($0.baseAddress!, count: rows * cols, rng: &rng) } }
    return m
  }

  /// `x ⊙ m` in training mode, `x` in inference mode; returns the output and the mask used.
  public func forward(_ x: Matrix, training: Bool, rng: inout Xoshiro) -> (output: Matrix, mask: Matrix) {
    guard training && isActive else { return (x, Matrix(rows: x.rows, cols: x.cols, repeating: 1)) }
    var m = mask(rows: x.rows, cols: x.cols, rng: &rng)
    let mm = m
    m.multiply(x)
    return (m, mm)
  }
}

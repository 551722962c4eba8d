// Vectorized transcendental functions on SIMD8<Float>.
//
// Polynomials are the Cephes single-precision ones (S. L. Moshier, "Cephes Math Library"), evaluated with
// explicit SIMD. Each function is accurate to about 1e-7 relative against Double over the finite range, finite
// for every finite input (overflowing to ±inf only where the true value does), and correct at ±inf and NaN.
//
//     exp(x)      = 2^n · p(r),  n = round(x / ln 2), r = x − n ln 2 (ln 2 split in two for exactness)
//     log(x)      = e ln 2 + log(m), m ∈ [√½, √2), log(1 + f) by a degree-9 polynomial
//     log1p(x)    = log(u) · x / (u − 1), u = 1 + x       (Goldberg's trick; exact when u == 1)
//     tanh(x)     = x + x³ P(x²) for |x| < 0.625, else sign(x) (1 − 2 / (e^{2|x|} + 1))
//     sigmoid(x)  = 1 / (1 + e^{−x}) for x ≥ 0, e^{x} / (1 + e^{x}) otherwise
//     softplus(x) = max(x, 0) + log1p(e^{−|x|})
//     mish(x)     = x tanh(softplus(x)) = x · n / (n + 2), n = e (e + 2), e = e^{min(x, 20)}
//     mish'(x)    = t + x s (1 − t²),  t = tanh(softplus(x)), s = sigmoid(x)
//
// One-exp Mish: Documentation/Numerics.md §3; with x clamped at 20, t and s round to exactly 1 in Float.

public enum VectorMath {
  public typealias V = SIMD8<Float>
  public typealias I = SIMD8<Int32>

  @inline(__always) @usableFromInline
  static func bits(_ v: V) -> I { unsafeBitCast(v, to: I.self) }
  @inline(__always) @usableFromInline
  static func float(_ v: I) -> V { unsafeBitCast(v, to: V.self) }

  /// e^x.
  @inlinable @inline(__always)
  public static func exp(_ x: V) -> V {
    let hiLimit = V(repeating: 88.722839)
    let loLimit = V(repeating: -104)
    var v = x
    v.replace(with: hiLimit, where: x .> hiLimit)
    v.replace(with: loLimit, where: x .< loLimit)
    var y = expCore(v)
    y.replace(with: V(repeating: .infinity), where: x .> hiLimit)
    y.replace(with: V(repeating: 0), where: x .< loLimit)
    y.replace(with: x, where: x .!= x)
    return y
  }

  /// e^x for x already in [−104, 88.7228] (no special-value handling; NaN in gives an unspecified result).
  @inlinable @inline(__always)
  public static func expCore(_ v: V) -> V {
    // n = round(v · log2 e) with the 1.5·2^23 trick (valid for |n| < 2^22, branch-free on SSE2).
    let magic = V(repeating: 12582912)
    let t = v * V(repeating: 1.44269504088896341) + magic
    let nf = t - magic
    let n = bits(t) &- bits(magic)
    var r = v - nf * V(repeating: 0.693359375)
    r = r - nf * V(repeating: -2.12194440e-4)
    let z = r * r
    var p = V(repeating: 1.9875691500e-4)
    p = p * r + V(repeating: 1.3981999507e-3)
    p = p * r + V(repeating: 8.3334519073e-3)
    p = p * r + V(repeating: 4.1665795894e-2)
    p = p * r + V(repeating: 1.6666665459e-1)
    p = p * r + V(repeating: 5.0000001201e-1)
    p = p * z + r + V(repeating: 1)
    // 2^n as 2^n1 · 2^n2 so that n ∈ [−150, 128] never leaves the normal exponent range.
    let n1 = n &>> 1
    let n2 = n &- n1
    let bias = I(repeating: 127)
    let s1 = float((n1 &+ bias) &<< 23)
    let s2 = float((n2 &+ bias) &<< 23)
    return p * s1 * s2
  }

  /// Natural logarithm; NaN for x < 0, −inf at 0.
  @inlinable @inline(__always)
  public static func log(_ x: V) -> V {
    // Scale subnormals into the normal range first.
    let tiny = x .< V(repeating: Float.leastNormalMagnitude)
    var v = x
    v.replace(with: x * V(repeating: 8388608), where: tiny)  // 2^23
    var xb = bits(v)
    var e = ((xb &>> 23) & I(repeating: 0xff)) &- I(repeating: 126)
    e.replace(with: e &- I(repeating: 23), where: tiny)
    xb = (xb & I(repeating: Int32(bitPattern: 0x807f_ffff))) | I(repeating: 0x3f00_0000)
    var m = float(xb)  // in [0.5, 1)
    let small = m .< V(repeating: 0.707106781186547524)
    e.replace(with: e &- I(repeating: 1), where: small)
    m.replace(with: m + m, where: small)
    m = m - V(repeating: 1)
    let ef = V(e)
    let z = m * m
    var p = V(repeating: 7.0376836292e-2)
    p = p * m + V(repeating: -1.1514610310e-1)
    p = p * m + V(repeating: 1.1676998740e-1)
    p = p * m + V(repeating: -1.2420140846e-1)
    p = p * m + V(repeating: 1.4249322787e-1)
    p = p * m + V(repeating: -1.6668057665e-1)
    p = p * m + V(repeating: 2.0000714765e-1)
    p = p * m + V(repeating: -2.4999993993e-1)
    p = p * m + V(repeating: 3.3333331174e-1)
    var y = p * m * z
    y = y + ef * V(repeating: -2.12194440e-4)
    y = y - V(repeating: 0.5) * z
    var r = m + y
    r = r + ef * V(repeating: 0.693359375)
    r.replace(with: V(repeating: -.infinity), where: x .== V(repeating: 0))
    r.replace(with: V(repeating: .nan), where: x .< V(repeating: 0))
    r.replace(with: x, where: x .== V(repeating: .infinity))
    r.replace(with: x, where: x .!= x)
    return r
  }

  /// log(1 + x), accurate for small |x|.
  @inlinable @inline(__always)
  public static func log1p(_ x: V) -> V {
    let u = x + V(repeating: 1)
    let d = u - V(repeating: 1)
    var r = log(u) * (x / d)
    r.replace(with: x, where: d .== V(repeating: 0))
    r.replace(with: x, where: x .== V(repeating: .infinity))
    r.replace(with: V(repeating: -.infinity), where: x .== V(repeating: -1))
    return r
  }

  /// Hyperbolic tangent.
  @inlinable @inline(__always)
  public static func tanh(_ x: V) -> V {
    let signMask = I(repeating: Int32(bitPattern: 0x8000_0000))
    let ax = float(bits(x) & ~signMask)
    let z = x * x
    var p = V(repeating: -5.70498872745e-3)
    p = p * z + V(repeating: 2.06390887954e-2)
    p = p * z + V(repeating: -5.37397155531e-2)
    p = p * z + V(repeating: 1.33314422036e-1)
    p = p * z + V(repeating: -3.33332819422e-1)
    let smallResult = p * z * x + x
    let e = exp(ax + ax)
    let big = V(repeating: 1) - V(repeating: 2) / (e + V(repeating: 1))
    var r = float(bits(big) | (bits(x) & signMask))
    r.replace(with: smallResult, where: ax .< V(repeating: 0.625))
    r.replace(with: x, where: x .!= x)
    return r
  }

  /// Logistic sigmoid 1 / (1 + e^{−x}).
  @inlinable @inline(__always)
  public static func sigmoid(_ x: V) -> V {
    let signMask = I(repeating: Int32(bitPattern: 0x8000_0000))
    let negAbs = float(bits(x) | signMask)  // −|x|
    let e = exp(negAbs)
    let one = V(repeating: 1)
    var r = one / (one + e)
    r.replace(with: e / (one + e), where: x .< V(repeating: 0))
    r.replace(with: x, where: x .!= x)
    return r
  }

  /// Softplus log(1 + e^x), without overflow.
  @inlinable @inline(__always)
  public static func softplus(_ x: V) -> V {
    let signMask = I(repeating: Int32(bitPattern: 0x8000_0000))
    let negAbs = float(bits(x) | signMask)
    var pos = x
    pos.replace(with: V(repeating: 0), where: x .< V(repeating: 0))
    var r = pos + log1p(exp(negAbs))
    r.replace(with: x, where: x .!= x)
    return r
  }

  /// Mish x · tanh(softplus(x)) with a single exp.
  @inlinable @inline(__always)
  public static func mish(_ x: V) -> V {
    var c = x
    c.replace(with: V(repeating: 20), where: x .> V(repeating: 20))
    c.replace(with: V(repeating: -104), where: x .< V(repeating: -104))
    let e = expCore(c)
    let n = e * (e + V(repeating: 2))
    let t = n / (n + V(repeating: 2))
    var r = x * t
    r.replace(with: V(repeating: 0), where: x .== V(repeating: -.infinity))
    r.replace(with: x, where: x .!= x)
    return r
  }

  /// Mish value and derivative at once.
  @inlinable @inline(__always)
  public static func mishWithDerivative(_ x: V) -> (value: V, derivative: V) {
    var c = x
    c.replace(with: V(repeating: 20), where: x .> V(repeating: 20))
    c.replace(with: V(repeating: -104), where: x .< V(repeating: -104))
    let one = V(repeating: 1)
    let e = expCore(c)
    let n = e * (e + V(repeating: 2))
    let t = n / (n + V(repeating: 2))
    let s = e / (one + e)
    var value = x * t
    var d = t + x * s * (one - t * t)
    value.replace(with: V(repeating: 0), where: x .== V(repeating: -.infinity))
    d.replace(with: V(repeating: 0), where: x .== V(repeating: -.infinity))
    d.replace(with: one, where: x .== V(repeating: .infinity))
    value.replace(with: x, where: x .!= x)
    d.replace(with: x, where: x .!= x)
    return (value, d)
  }

  /// d mish / dx.
  @inlinable @inline(__always)
  public static func mishDerivative(_ x: V) -> V { mishWithDerivative(x).derivative }
}

// MARK: - Array kernels

extension Kernels {
  public static func exp(count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    apply(count: count, x, into: y, VectorMath.exp)
  }
  public static func log(count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    apply(count: count, x, into: y, VectorMath.log)
  }
  public static func log1p(count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    apply(count: count, x, into: y, VectorMath.log1p)
  }
  public static func tanh(count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    apply(count: count, x, into: y, VectorMath.tanh)
  }
  public static func sigmoid(count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    apply(count: count, x, into: y, VectorMath.sigmoid)
  }
  public static func softplus(count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    apply(count: count, x, into: y, VectorMath.softplus)
  }
  public static func mish(count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    apply(count: count, x, into: y, VectorMath.mish)
  }
  /// `dx = dy · mish'(x)` (`dx` may alias `dy`).
  public static func mishBackward(
    count: Int, x: UnsafePointer<Float>, dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>
  ) {
    apply2(count: count, x, dy, into: dx) { xv, g in g * VectorMath.mishDerivative(xv) }
  }
}

// Pointwise activations with their derivatives, evaluated eight lanes at a time.
//
//   mish(x) = x·tanh(softplus(x))                 mish'(x) = t + x·σ(x)·(1 − t²), t = tanh(softplus(x))
//   silu(x) = x·σ(x)                              silu'(x) = σ(x)·(1 + x·(1 − σ(x)))
//   gelu(x) = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³)   (tanh approximation, Hendrycks & Gimpel 2016)
//   gelu'(x) = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)
//   relu(x) = max(x, 0)                           relu'(x) = 1[x > 0]
//
// Training passes compute value and derivative together and keep the derivative, so the backward pass is a
// single multiply (`dx = dy · f'(x)`).

import NumericCore

typealias V8 = SIMD8<Float>

/// Statically dispatched activation kernels: hot loops are generic over this protocol and specialized once
/// per activation, so the activation inlines into the loop body.
protocol ActivationKernel {
  static func value(_ x: V8) -> V8
  static func valueAndDerivative(_ x: V8) -> (V8, V8)
}

enum MishKernel: ActivationKernel {
  @inline(__always) static func value(_ x: V8) -> V8 { VectorMath.mish(x) }

  /// Value and derivative, one exp (Documentation/Numerics.md §3): e = exp(min(x, 20)), n = e(e + 2), t = n/(n + 2),
  /// s = e/(1 + e), mish = x·t, mish' = t + x·s·(1 − t²). Below x = −88 both are 0 to Float precision.
  @inline(__always) static func valueAndDerivative(_ x: V8) -> (V8, V8) {
    let one = V8(repeating: 1), two = V8(repeating: 2)
    var c = x
    c.replace(with: V8(repeating: 20), where: x .> V8(repeating: 20))
    c.replace(with: V8(repeating: -88), where: x .< V8(repeating: -88))
    let e = VectorMath.exp(c)
    let n = e * (e + two)
    let t = n / (n + two)
    let s = e / (one + e)
    var v = c * t
    v.replace(with: x, where: x .> V8(repeating: 20))
    let d = t + c * s * (one - t * t)
    return (v, d)
  }
}

enum SiLUKernel: ActivationKernel {
  @inline(__always) static func value(_ x: V8) -> V8 { x * VectorMath.sigmoid(x) }
  @inline(__always) static func valueAndDerivative(_ x: V8) -> (V8, V8) { Activation.silu.valueAndDerivative(x) }
}

enum GELUKernel: ActivationKernel {
  @inline(__always) static func value(_ x: V8) -> V8 { Activation.gelu.valueAndDerivative(x).0 }
  @inline(__always) static func valueAndDerivative(_ x: V8) -> (V8, V8) { Activation.gelu.valueAndDerivative(x) }
}

enum ReLUKernel: ActivationKernel {
  @inline(__always) static func value(_ x: V8) -> V8 { x.replacing(with: 0, where: x .< 0) }
  @inline(__always) static func valueAndDerivative(_ x: V8) -> (V8, V8) {
    let neg = x .<= 0
    return (x.replacing(with: 0, where: neg), V8(repeating: 1).replacing(with: 0, where: neg))
  }
}

enum IdentityKernel: ActivationKernel {
  @inline(__always) static func value(_ x: V8) -> V8 { x }
  @inline(__always) static func valueAndDerivative(_ x: V8) -> (V8, V8) { (x, V8(repeating: 1)) }
}

/// A pointwise activation function.
public enum Activation: String, Sendable, Codable, CaseIterable {
  case mish, silu, gelu, relu, identity

  @inline(__always)
  func value(_ x: V8) -> V8 {
    switch self {
    case .mish: return VectorMath.mish(x)
    case .silu: return x * VectorMath.sigmoid(x)
    case .gelu: return geluPair(x).0
    case .relu: return x.replacing(with: 0, where: x .< 0)
    case .identity: return x
    }
  }

  @inline(__always)
  func valueAndDerivative(_ x: V8) -> (V8, V8) {
    switch self {
    case .mish:
      let r = VectorMath.mishWithDerivative(x)
      return (r.value, r.derivative)
    case .silu:
      let s = VectorMath.sigmoid(x)
      let one = V8(repeating: 1)
      return (x * s, s * (one + x * (one - s)))
    case .gelu: return geluPair(x)
    case .relu:
      let neg = x .<= 0
      return (x.replacing(with: 0, where: neg), V8(repeating: 1).replacing(with: 0, where: neg))
    case .identity: return (x, V8(repeating: 1))
    }
  }

  @inline(__always)
  private func geluPair(_ x: V8) -> (V8, V8) {
    let c = V8(repeating: 0.7978845608028654)
    let k = V8(repeating: 0.044715)
    let one = V8(repeating: 1)
    let half = V8(repeating: 0.5)
    // Beyond |x| = 10, tanh u is ±1 in Float; clamping keeps x³ finite.
    var xc = x
    xc.replace(with: V8(repeating: 10), where: x .> V8(repeating: 10))
    xc.replace(with: V8(repeating: -10), where: x .< V8(repeating: -10))
    let x2 = xc * xc
    let u = c * (xc + k * x2 * xc)
    let t = VectorMath.tanh(u)
    let value = half * x * (one + t)
    let du = c * (one + V8(repeating: 3) * k * x2)
    let d = half * (one + t) + half * xc * (one - t * t) * du
    return (value, d)
  }

  /// `y = f(x)` over `count` elements (`y` may alias `x`).
  public func forward(count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    switch self {
    case .identity: if UnsafePointer(y) != x { y.update(from: x, count: count) }
    case .mish: Activation.values(MishKernel.self, count, x, y)
    case .silu: Activation.values(SiLUKernel.self, count, x, y)
    case .gelu: Activation.values(GELUKernel.self, count, x, y)
    case .relu: Activation.values(ReLUKernel.self, count, x, y)
    }
  }

  /// `y = f(x)` over `count` elements, specialized for one activation (`y` may alias `x`).
  ///
  /// An explicit loop over full 8-lane chunks, as `pairs`: passed as a closure to a chunk helper, the activation
  /// was called out of line once per chunk and cost about a third of an inference pass.
  @inline(__always)
  static func values<A: ActivationKernel>(
    _: A.Type, _ count: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>
  ) {
    var i = 0
    while i + 8 <= count {
      SIMDLoad.store8(A.value(SIMDLoad.load8(x + i)), y + i)
      i += 8
    }
    if i < count {
      let n = count - i
      SIMDLoad.store(A.value(SIMDLoad.load(x + i, n)), y + i, n)
    }
  }

  /// `y = f(x)` and `derivative = f'(x)` over `count` elements (`y` may alias `x`).
  public func forward(
    count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
    derivative: UnsafeMutablePointer<Float>
  ) {
    switch self {
    case .mish: Activation.pairs(MishKernel.self, count, x, y, derivative)
    case .silu: Activation.pairs(SiLUKernel.self, count, x, y, derivative)
    case .gelu: Activation.pairs(GELUKernel.self, count, x, y, derivative)
    case .relu: Activation.pairs(ReLUKernel.self, count, x, y, derivative)
    case .identity: Activation.pairs(IdentityKernel.self, count, x, y, derivative)
    }
  }

  static func pairs<A: ActivationKernel>(
    _: A.Type, _ count: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
    _ derivative: UnsafeMutablePointer<Float>
  ) {
    var i = 0
    while i + 8 <= count {
      let (v, d) = A.valueAndDerivative(SIMDLoad.load8(x + i))
      SIMDLoad.store8(v, y + i)
      SIMDLoad.store8(d, derivative + i)
      i += 8
    }
    if i < count {
      let n = count - i
      let (v, d) = A.valueAndDerivative(SIMDLoad.load(x + i, n))
      SIMDLoad.store(v, y + i, n)
      SIMDLoad.store(d, derivative + i, n)
    }
  }
}

/// Loads and stores of up to eight floats, with a zero-padded path for the tail of a row.
enum SIMDLoad {
  @inline(__always)
  static func load8(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }

  @inline(__always)
  static func store8(_ v: V8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self)
  }

  @inline(__always)
  static func load(_ p: UnsafePointer<Float>, _ n: Int) -> V8 {
    if n == 8 { return UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
    var v = V8(repeating: 0)
    for l in 0..<n { v[l] = p[l] }
    return v
  }

  @inline(__always)
  static func store(_ v: V8, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    if n == 8 {
      UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self)
      return
    }
    for l in 0..<n { p[l] = v[l] }
  }
}

/// Lane-wise square root of a vector whose lanes are ≥ 0 (a negative lane gets the root of its magnitude).
///
/// `V8.squareRoot()` compiles to a scalar square root per lane (with a call to C's `sqrtf` for negative lanes,
/// which sets `errno` on Linux); the root of `abs(x)` cannot be negative-domain, so the compiler emits one vector
/// square root instruction instead, with no extra flags. Identical results for lanes ≥ 0 or NaN.
@inline(__always)
func nonNegativeSquareRoot(_ x: V8) -> V8 {
  var r = x
  for l in 0..<8 { r[l] = abs(x[l]).squareRoot() }
  return r
}

/// Calls `body(offset, n)` for consecutive chunks of 8 elements (n = 8) and one final partial chunk
/// (n < 8). Inlined, the full chunks see the constant 8, so the partial-load paths vanish from the main loop.
@inline(__always)
func forEachChunk(_ count: Int, _ body: (_ offset: Int, _ n: Int) -> Void) {
  var k = 0
  while k + 8 <= count {
    body(k, 8)
    k += 8
  }
  if k < count { body(k, count - k) }
}

// Pointwise activations with their derivatives (C kernels, eight lanes at a time), and the 8-lane load/store
// helpers of the Swift kernels.
//
//   mish(x) = x·tanh(softplus(x))                 mish'(x) = t + x·σ(x)·(1 − t²), t = tanh(softplus(x))
//   silu(x) = x·σ(x)                              silu'(x) = σ(x)·(1 + x·(1 − σ(x)))
//   gelu(x) = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³)   (tanh approximation, Hendrycks & Gimpel 2016)
//   gelu'(x) = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)
//   relu(x) = max(x, 0)                           relu'(x) = 1[x > 0]
//
// Training passes compute value and derivative together and keep the derivative, so the backward pass is a
// single multiply (`dx = dy · f'(x)`).

import CKernels
import NumericCore

typealias V8 = SIMD8<Float>

/// A pointwise activation function.
///
/// The kernels are C (Sources/CKernels/KernelBodies.h, the formulas above), with the AVX2+FMA variant chosen at
/// run time; training passes compute value and derivative together (one exp for Mish,
/// Documentation/Numerics.md §3).
public enum Activation: String, Sendable, Codable, CaseIterable {
  case mish, silu, gelu, relu, identity

  /// The C kernels' name for this activation.
  var kernel: dsk_activation {
    switch self {
    case .mish: return DSK_MISH
    case .silu: return DSK_SILU
    case .gelu: return DSK_GELU
    case .relu: return DSK_RELU
    case .identity: return DSK_IDENTITY
    }
  }

  /// `y = f(x)` over `count` elements (`y` may alias `x`).
  public func forward(count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    dsk_activation_values(kernel, count, x, y)
  }

  /// `y = f(x)` and `derivative = f'(x)` over `count` elements (`y` may alias `x`).
  public func forward(
    count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
    derivative: UnsafeMutablePointer<Float>
  ) {
    dsk_activation_pairs(kernel, count, x, y, derivative)
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

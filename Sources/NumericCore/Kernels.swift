// Elementwise kernels over raw pointers, written with SIMD8<Float>.
//
// Explicit SIMD keeps these fast even in a plain `swift build -c release` (baseline SSE2 target): the compiler
// lowers SIMD8 to two SSE registers there and to one AVX register with `-march=x86-64-v3`. Clamping uses
// comparisons plus `replacing(with:where:)`, never `pointwiseMin/Max` or `clamped`, which are not inlined
// (Documentation/Numerics.md §3). No kernel allocates. The sum of squares (the gradient norm of every training
// step) runs in C, as the networks' hot passes do (Sources/CKernels, AVX2+FMA variant chosen at run time).

import CKernels

public typealias FloatVector = SIMD8<Float>

/// Elementwise kernels: `count` elements, contiguous, pointers may alias only where stated.
public enum Kernels {
  @inline(__always) @usableFromInline
  static func load(_ p: UnsafePointer<Float>) -> FloatVector {
    UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self)
  }

  @inline(__always) @usableFromInline
  static func store(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatVector.self)
  }

  /// Applies a vector function to `count` elements of `x`, writing `y` (may alias `x`).
  @inlinable @inline(__always)
  public static func apply(
    count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
    _ f: (FloatVector) -> FloatVector
  ) {
    var i = 0
    while i + 8 <= count {
      store(f(load(x + i)), y + i)
      i += 8
    }
    if i < count {
      var v = FloatVector(repeating: 0)
      for l in 0..<(count - i) { v[l] = x[i + l] }
      let r = f(v)
      for l in 0..<(count - i) { y[i + l] = r[l] }
    }
  }

  /// Applies a binary vector function elementwise: `z = f(x, y)` (`z` may alias `x` or `y`).
  @inlinable @inline(__always)
  public static func apply2(
    count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>,
    _ f: (FloatVector, FloatVector) -> FloatVector
  ) {
    var i = 0
    while i + 8 <= count {
      store(f(load(x + i), load(y + i)), z + i)
      i += 8
    }
    if i < count {
      var a = FloatVector(repeating: 0)
      var b = FloatVector(repeating: 0)
      for l in 0..<(count - i) {
        a[l] = x[i + l]
        b[l] = y[i + l]
      }
      let r = f(a, b)
      for l in 0..<(count - i) { z[i + l] = r[l] }
    }
  }

  /// `z = x + y`.
  public static func add(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>) {
    apply2(count: count, x, y, into: z) { $0 + $1 }
  }

  /// `z = x * y`.
  public static func mul(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>) {
    apply2(count: count, x, y, into: z) { $0 * $1 }
  }

  /// `y += alpha * x`.
  public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let a = FloatVector(repeating: alpha)
    apply2(count: count, x, UnsafePointer(y), into: y) { xv, yv in yv + a * xv }
  }

  /// `z = a·x + Σⱼ cⱼ·yⱼ` in one pass over the data (the samplers' per-step updates; `z` may alias `x` or any
  /// `yⱼ`: each 8-element block is read before it is written). The terms are added in order, each with one
  /// multiply-add, so the result equals the chain `z = a·x; z += c₁y₁; z += c₂y₂; …` to the rounding of the fused
  /// multiply-adds.
  public static func linearCombination(
    count: Int, _ a: Float, _ x: UnsafePointer<Float>, terms: [(Float, UnsafePointer<Float>)],
    into z: UnsafeMutablePointer<Float>
  ) {
    terms.withUnsafeBufferPointer { tp in
      let m = tp.count
      let av = FloatVector(repeating: a)
      var i = 0
      while i + 8 <= count {
        var acc = av * load(x + i)
        for j in 0..<m { acc += FloatVector(repeating: tp[j].0) * load(tp[j].1 + i) }
        store(acc, z + i)
        i += 8
      }
      while i < count {
        var acc = a * x[i]
        for j in 0..<m { acc += tp[j].0 * tp[j].1[i] }
        z[i] = acc
        i += 1
      }
    }
  }

  /// `x *= s` in place.
  public static func scale(count: Int, _ x: UnsafeMutablePointer<Float>, by s: Float) {
    let v = FloatVector(repeating: s)
    apply(count: count, UnsafePointer(x), into: x) { $0 * v }
  }

  /// `y = clamp(x, lo, hi)`; NaN stays NaN.
  public static func clamp(count: Int, _ x: UnsafePointer<Float>, lower: Float, upper: Float, into y: UnsafeMutablePointer<Float>) {
    let lo = FloatVector(repeating: lower)
    let hi = FloatVector(repeating: upper)
    apply(count: count, x, into: y) { v in
      var r = v
      r.replace(with: lo, where: v .< lo)
      r.replace(with: hi, where: v .> hi)
      return r
    }
  }

  /// Sum of `count` elements, with 8 parallel Float accumulators per lane block summed in Double at the end.
  public static func sum(count: Int, _ x: UnsafePointer<Float>) -> Float {
    var acc = FloatVector(repeating: 0)
    var i = 0
    var total: Double = 0
    var block = 0
    while i + 8 <= count {
      acc += load(x + i)
      i += 8
      block += 1
      if block == 512 {  // flush periodically to bound Float rounding error
        for l in 0..<8 { total += Double(acc[l]) }
        acc = FloatVector(repeating: 0)
        block = 0
      }
    }
    for l in 0..<8 { total += Double(acc[l]) }
    while i < count {
      total += Double(x[i])
      i += 1
    }
    return Float(total)
  }

  /// Sum of squares of `count` elements (Sources/CKernels: 8 Float accumulators, summed in Double every 4,096
  /// elements and at the end).
  public static func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float {
    dsk_sum_of_squares(count, x)
  }
}

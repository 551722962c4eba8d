import Foundation
import Testing
import NumericCore

/// SIMD transcendental kernels against Double references over wide ranges, extremes and specials.
@Suite struct VectorMathTests {
  typealias V = SIMD8<Float>

  /// Evaluates `f` on `xs` eight at a time.
  func eval(_ xs: [Float], _ f: (V) -> V) -> [Float] {
    var out = [Float](repeating: 0, count: xs.count)
    xs.withUnsafeBufferPointer { px in
      out.withUnsafeMutableBufferPointer { po in
        Kernels.apply(count: xs.count, px.baseAddress!, into: po.baseAddress!, f)
      }
    }
    return out
  }

  /// Max relative error where the reference is a normal Float; absolute error near zero results.
  func maxRelativeError(_ xs: [Float], _ f: (V) -> V, _ ref: (Double) -> Double, absFloor: Double = 1e-30) -> Double {
    let ys = eval(xs, f)
    var worst = 0.0
    for (x, y) in zip(xs, ys) {
      let r = ref(Double(x))
      if !r.isFinite || abs(r) > Double(Float.greatestFiniteMagnitude) {
        continue
      }
      if abs(r) < Double(Float.leastNormalMagnitude) { continue }
      let err = abs(Double(y) - r) / max(abs(r), absFloor)
      worst = max(worst, err)
    }
    return worst
  }

  func grid(_ lo: Float, _ hi: Float, _ n: Int = 20001) -> [Float] {
    (0..<n).map { lo + (hi - lo) * Float($0) / Float(n - 1) }
  }

  /// A log-spaced grid of positive values covering many binades, including subnormals.
  func logGrid() -> [Float] {
    var xs: [Float] = []
    var e = -149
    while e <= 127 {
      for m in stride(from: 1.0, to: 2.0, by: 0.0625) { xs.append(Float(m * pow(2.0, Double(e)))) }
      e += 1
    }
    return xs.filter { $0.isFinite && $0 > 0 }
  }

  @Test func expAccuracy() {
    #expect(maxRelativeError(grid(-87, 88.7), VectorMath.exp, Foundation.exp) < 2e-7)
    let s = eval([0, -0.0, .infinity, -.infinity, .nan, 89, -200, 88.72, -87.3, 1e-30], VectorMath.exp)
    #expect(s[0] == 1 && s[1] == 1)
    #expect(s[2] == .infinity && s[3] == 0 && s[4].isNaN)
    #expect(s[5] == .infinity && s[6] == 0)
    #expect(s[7].isFinite && s[8] > 0 && s[9] == 1)
  }

  @Test func logAccuracy() {
    #expect(maxRelativeError(logGrid(), VectorMath.log, Foundation.log) < 2e-7)
    #expect(maxRelativeError(grid(0.5, 2), VectorMath.log, Foundation.log, absFloor: 1e-7) < 2e-7)
    let s = eval([0, -1, .infinity, .nan, 1, Float.leastNonzeroMagnitude, Float.greatestFiniteMagnitude], VectorMath.log)
    #expect(s[0] == -.infinity && s[1].isNaN && s[2] == .infinity && s[3].isNaN && s[4] == 0)
    #expect(abs(Double(s[5]) - log(Double(Float.leastNonzeroMagnitude))) < 1e-4)
    #expect(abs(Double(s[6]) - log(Double(Float.greatestFiniteMagnitude))) < 1e-4)
  }

  @Test func log1pAccuracy() {
    let xs = grid(-0.999, 10) + logGrid().filter { $0 < 1e30 } + logGrid().map { -$0 }.filter { $0 > -0.99 }
    #expect(maxRelativeError(xs, VectorMath.log1p, Foundation.log1p) < 3e-7)
    let s = eval([-1, -2, .infinity, .nan, 0, 1e-30], VectorMath.log1p)
    #expect(s[0] == -.infinity && s[1].isNaN && s[2] == .infinity && s[3].isNaN && s[4] == 0 && s[5] == 1e-30)
  }

  @Test func tanhAccuracy() {
    let xs = grid(-12, 12) + logGrid().filter { $0 < 100 } + logGrid().map { -$0 }.filter { $0 > -100 }
    #expect(maxRelativeError(xs, VectorMath.tanh, Foundation.tanh) < 3e-7)
    let s = eval([.infinity, -.infinity, .nan, 0, 50, -50], VectorMath.tanh)
    #expect(s[0] == 1 && s[1] == -1 && s[2].isNaN && s[3] == 0 && s[4] == 1 && s[5] == -1)
  }

  @Test func sigmoidAndSoftplusAccuracy() {
    let sig: (Double) -> Double = { $0 >= 0 ? 1 / (1 + exp(-$0)) : exp($0) / (1 + exp($0)) }
    let sp: (Double) -> Double = { max($0, 0) + log1p(exp(-abs($0))) }
    #expect(maxRelativeError(grid(-80, 80), VectorMath.sigmoid, sig) < 3e-7)
    #expect(maxRelativeError(grid(-80, 80), VectorMath.softplus, sp) < 3e-7)
    let s = eval([.infinity, -.infinity, .nan], VectorMath.sigmoid)
    #expect(s[0] == 1 && s[1] == 0 && s[2].isNaN)
    let p = eval([.infinity, -.infinity, .nan, 1e30, -1e30], VectorMath.softplus)
    #expect(p[0] == .infinity && p[1] == 0 && p[2].isNaN && p[3] == 1e30 && p[4] == 0)
  }

  @Test func mishAndDerivative() {
    let mish: (Double) -> Double = { $0 * tanh(max($0, 0) + log1p(exp(-abs($0)))) }
    let dmish: (Double) -> Double = { x in
      let t = tanh(max(x, 0) + log1p(exp(-abs(x))))
      let s = x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
      return t + x * s * (1 - t * t)
    }
    let xs = grid(-60, 60) + logGrid().filter { $0 < 1e30 } + logGrid().map { -$0 }.filter { $0 > -80 }
    #expect(maxRelativeError(xs, VectorMath.mish, mish) < 1e-6)
    // The derivative crosses zero near x ≈ −1.19: there the error is absolute (≤ 1e-7) rather than relative.
    #expect(maxRelativeError(xs, { VectorMath.mishDerivative($0) }, dmish, absFloor: 0.1) < 2e-6)
    let s = eval([.infinity, -.infinity, .nan, 1e38, -1e38], VectorMath.mish)
    #expect(s[0] == .infinity && s[1] == 0 && s[2].isNaN && s[3] == 1e38 && s[4] == 0)
    let d = eval([.infinity, -.infinity, .nan, 1e38, -1e38], VectorMath.mishDerivative)
    #expect(d[0] == 1 && d[1] == 0 && d[2].isNaN && d[3] == 1 && d[4] == 0)
    // Finite everywhere on finite inputs.
    let wide = (0...1000).map { Float(-Double(Float.greatestFiniteMagnitude) + 2 * Double(Float.greatestFiniteMagnitude) * Double($0) / 1000) }
    let all = eval(wide, VectorMath.mishDerivative) + eval(wide, VectorMath.mish) + eval(wide, VectorMath.tanh)
      + eval(wide, VectorMath.sigmoid) + eval(wide.map { abs($0) }.filter { $0 > 0 }, VectorMath.log)
    #expect(all.allSatisfy { $0.isFinite })
  }

  @Test func mishBackwardKernel() {
    let xs: [Float] = grid(-5, 5, 37)
    let dy = [Float](repeating: 2, count: xs.count)
    var dx = [Float](repeating: 0, count: xs.count)
    xs.withUnsafeBufferPointer { px in
      dy.withUnsafeBufferPointer { pd in
        dx.withUnsafeMutableBufferPointer { po in
          Kernels.mishBackward(count: xs.count, x: px.baseAddress!, dy: pd.baseAddress!, into: po.baseAddress!)
        }
      }
    }
    let h = 1e-3
    for (i, x) in xs.enumerated() {
      let f: (Double) -> Double = { $0 * tanh(log1p(exp($0))) }
      let fd = (f(Double(x) + h) - f(Double(x) - h)) / (2 * h)
      #expect(abs(Double(dx[i]) - 2 * fd) < 1e-4)
    }
  }
}

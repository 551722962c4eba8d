// `diffsbi-bench kernels`: ns/element of each elementwise kernel over 1M floats, one thread, next to libm loops.

import DiffusionSBI
import Foundation

func runKernelBenchmark() {
  let n = 1 << 20
  var rng = Xoshiro(seed: 3)
  var x = [Float](repeating: 0, count: n)
  var y = [Float](repeating: 0, count: n)
  var z = [Float](repeating: 0, count: n)
  x.withUnsafeMutableBufferPointer { rng.fillNormal($0, mean: 0, std: 3) }
  y.withUnsafeMutableBufferPointer { rng.fillNormal($0) }
  print("Elementwise kernels, ns/element over 2^20 floats (median of 7, one thread, thread CPU clock); \(machineDescription())")
  print("| kernel | ns/element |")
  print("|---|---|")
  func bench(_ name: String, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
    let t = x.withUnsafeMutableBufferPointer { px in
      y.withUnsafeMutableBufferPointer { py in
        z.withUnsafeMutableBufferPointer { pz in
          medianTime(inner: 5, clock: threadCPUTime) { body(px.baseAddress!, py.baseAddress!, pz.baseAddress!) }
        }
      }
    }
    print("| \(name) | \(fmt(t / Double(n) * 1e9, 2)) |")
  }
  bench("add") { a, b, c in Kernels.add(count: n, a, b, into: c) }
  bench("mul") { a, b, c in Kernels.mul(count: n, a, b, into: c) }
  bench("axpy") { a, _, c in Kernels.axpy(count: n, alpha: 0.5, x: a, y: c) }
  bench("scale") { _, _, c in Kernels.scale(count: n, c, by: 0.999) }
  bench("clamp") { a, _, c in Kernels.clamp(count: n, a, lower: -1, upper: 1, into: c) }
  bench("exp") { a, _, c in Kernels.exp(count: n, a, into: c) }
  bench("log") { a, _, c in Kernels.log(count: n, a, into: c) }
  bench("log1p") { a, _, c in Kernels.log1p(count: n, a, into: c) }
  bench("tanh") { a, _, c in Kernels.tanh(count: n, a, into: c) }
  bench("sigmoid") { a, _, c in Kernels.sigmoid(count: n, a, into: c) }
  bench("softplus") { a, _, c in Kernels.softplus(count: n, a, into: c) }
  bench("mish forward") { a, _, c in Kernels.mish(count: n, a, into: c) }
  bench("mish backward") { a, b, c in Kernels.mishBackward(count: n, x: a, dy: b, into: c) }
  bench("mish forward+backward (fused)") { a, b, c in
    Kernels.apply2(count: n, a, b, into: c) { xv, g in
      let (v, d) = VectorMath.mishWithDerivative(xv)
      return v + g * d
    }
  }
  bench("mish fwd+bwd, scalar libm loop (reference)") { a, b, c in
    for i in 0..<n {
      let xv = a[i]
      let sp = Foundation.log1p(Foundation.exp(xv))
      let t = Foundation.tanh(sp)
      let s = 1 / (1 + Foundation.exp(-xv))
      c[i] = xv * t + b[i] * (t + xv * s * (1 - t * t))
    }
  }
}

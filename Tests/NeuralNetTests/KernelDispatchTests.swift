// The run-time choice of the C kernels (Sources/CKernels): the portable variant, forced, gives the same outputs
// as the variant chosen automatically (AVX2+FMA on processors that have them), kernel by kernel and for whole
// training steps of TimeMLP, SetTransformer and TimeSeriesNetwork.

import Foundation
import NeuralNet
import NumericCore
import Testing

extension NeuralNetSuite {
  /// Serialized: the tests switch the process-wide kernel variant (the two variants give equal results, so a test
  /// that runs beside them would not notice).
  @Suite(.serialized) struct KernelDispatchTests {
    /// `body` once with the automatic choice and once with the portable kernels forced; returns both outputs.
    func bothVariants<T>(_ body: () -> T) -> (automatic: T, portable: T) {
      KernelDispatch.forcePortable(false)
      let automatic = body()
      KernelDispatch.forcePortable(true)
      defer { KernelDispatch.forcePortable(false) }
      #expect(!KernelDispatch.usesAVX2)
      return (automatic, body())
    }

    /// Largest |a − b| / (1 + |b|) over two arrays of equal length (∞ when a NaN or an infinity differs).
    func worstDifference(_ a: [Float], _ b: [Float]) -> Double {
      #expect(a.count == b.count)
      var worst = 0.0
      for (x, y) in zip(a, b) {
        if x.isNaN || y.isNaN || x.isInfinite || y.isInfinite {
          if !(x.isNaN && y.isNaN) && x != y { return .infinity }
          continue
        }
        worst = max(worst, abs(Double(x) - Double(y)) / (1 + abs(Double(y))))
      }
      return worst
    }

    @Test func automaticChoiceFollowsTheProcessor() {
      // DIFFSBI_PORTABLE_KERNELS in the test's environment (a run of the suite on the portable kernels) wins.
      let variable = ProcessInfo.processInfo.environment["DIFFSBI_PORTABLE_KERNELS"] ?? ""
      let expected = KernelDispatch.avx2Available && (variable.isEmpty || variable == "0")
      KernelDispatch.forcePortable(false)
      #expect(KernelDispatch.usesAVX2 == expected)
      KernelDispatch.forcePortable(true)
      #expect(!KernelDispatch.usesAVX2)
      KernelDispatch.forcePortable(false)
      #expect(KernelDispatch.usesAVX2 == expected)
    }

    @Test func environmentVariableForcesThePortableKernels() {
      let saved = ProcessInfo.processInfo.environment["DIFFSBI_PORTABLE_KERNELS"]
      setenv("DIFFSBI_PORTABLE_KERNELS", "1", 1)
      KernelDispatch.forcePortable(false)  // chooses again, reading the variable
      #expect(!KernelDispatch.usesAVX2)
      setenv("DIFFSBI_PORTABLE_KERNELS", "0", 1)
      KernelDispatch.forcePortable(false)
      #expect(KernelDispatch.usesAVX2 == KernelDispatch.avx2Available)
      unsetenv("DIFFSBI_PORTABLE_KERNELS")
      KernelDispatch.forcePortable(false)
      #expect(KernelDispatch.usesAVX2 == KernelDispatch.avx2Available)
      if let saved {
        setenv("DIFFSBI_PORTABLE_KERNELS", saved, 1)
        KernelDispatch.forcePortable(false)
      }
    }

    @Test(arguments: Activation.allCases)
    func activationsAgree(_ act: Activation) {
      var rng = Xoshiro(seed: 11)
      // 1,037 values: many 8-lane chunks and a partial tail; extremes and special values at the start.
      var xs: [Float] = [0, -0.0, 1e-30, -1e-30, 19.9, 20.1, -87.9, -88.1, -103, -105, 1e4, -1e4, .infinity,
                         -.infinity, .nan]
      xs += (xs.count..<1037).map { _ in Float(rng.nextNormal() * 6) }
      let r = bothVariants { () -> [Float] in
        var y = [Float](repeating: 0, count: xs.count), d = y, v = y
        xs.withUnsafeBufferPointer { act.forward(count: xs.count, $0.baseAddress!, into: &y, derivative: &d) }
        xs.withUnsafeBufferPointer { act.forward(count: xs.count, $0.baseAddress!, into: &v) }
        return y + d + v
      }
      #expect(worstDifference(r.automatic, r.portable) <= 1e-6, "\(act)")
    }

    @Test(arguments: [13, 256])
    func layerNormAgrees(_ features: Int) {
      var layout = ParameterLayout()
      let ln = LayerNorm("n", features: features, layout: &layout)
      var rng = Xoshiro(seed: 3)
      let pb = ParameterBuffer(layout: layout, rng: &rng)
      for i in 0..<pb.count { pb.values[i] = 1 + Float(rng.nextNormal()) * 0.3 }
      let x = rng.normalMatrix(rows: 7, cols: features)
      let dy = rng.normalMatrix(rows: 7, cols: features)
      let r = bothVariants { () -> [Float] in
        pb.zeroGradients()
        let (y, cache) = ln.forward(x, parameters: pb)
        let dx = ln.backward(outputGradient: dy, cache: cache, parameters: pb)
        return y.storage + cache.rstd + dx.storage + pb.gradientArray
      }
      #expect(worstDifference(r.automatic, r.portable) <= 1e-6)
    }

    @Test func optimizerAndNormAgree() {
      var rng = Xoshiro(seed: 5)
      let n = 1037
      let theta0 = (0..<n).map { _ in Float(rng.nextNormal()) }
      let grads = (0..<3).map { _ in (0..<n).map { _ in Float(rng.nextNormal()) } }
      let r = bothVariants { () -> [Float] in
        var layout = ParameterLayout()
        layout.add("w", shape: [n], initializer: .zeros)
        var initRNG = Xoshiro(seed: 0)
        let b = ParameterBuffer(layout: layout, rng: &initRNG)
        b.valueArray = theta0
        let opt = AdamOptimizer(configuration: .adamW)
        let ema = PowerEMA()
        var norms: [Float] = []
        for g in grads {
          for i in 0..<n { b.gradients[i] = g[i] }
          norms.append(Float(opt.update([b], learningRate: 1e-2, ema: ema)))
        }
        return b.valueArray + ema.shadow[0] + opt.state.m[0] + opt.state.v[0] + norms
      }
      #expect(worstDifference(r.automatic, r.portable) <= 1e-6)
    }

    /// One training step's forward and backward through every fused block pass (FiLM with and without scale,
    /// dropout on, a residual projector).
    @Test(arguments: [false, true])
    func timeMLPPassesAgree(_ scaled: Bool) {
      var c = TimeMLPConfiguration(inputDimension: 3, conditionDimension: 4)
      c.widths = [20, 36, 36]
      c.dropout = 0.2
      c.filmUseScale = scaled
      let net = TimeMLP(configuration: c, seed: 5)
      var rng = Xoshiro(seed: 6)
      let b = 9
      let x = rng.normalMatrix(rows: b, cols: 3)
      let t = (0..<b).map { _ in Float(rng.nextDouble() * 2 - 1) }
      let cond = rng.normalMatrix(rows: b, cols: 4)
      let w = rng.normalMatrix(rows: b, cols: 3)
      let r = bothVariants { () -> [Float] in
        var dropRNG = Xoshiro(seed: 77)
        let y = net.forward(x, time: t, condition: cond, training: true, rng: &dropRNG)
        net.parameters.zeroGradients()
        let dc = net.backward(w)
        var inferRNG = Xoshiro(seed: 78)
        let yi = net.forward(x, time: t, condition: cond, training: false, rng: &inferRNG)
        return y.storage + net.parameters.gradientArray + (dc?.storage ?? []) + yi.storage
      }
      #expect(worstDifference(r.automatic, r.portable) <= 1e-6)
    }

    /// Attention heads' products: 37 elements per set (odd row counts, 32-, 16- and 8-column blocks and a scalar
    /// column tail), width 64 in two heads.
    @Test func setTransformerAgrees() {
      var c = SetTransformerConfiguration(elementDimension: 3, setSize: 37, summaryDimension: 5)
      c.width = 64
      c.heads = 2
      c.blocks = 2
      var initRNG = Xoshiro(seed: 1)
      let net = SetTransformer(configuration: c, rng: &initRNG)
      var rng = Xoshiro(seed: 2)
      let x = rng.normalMatrix(rows: 3, cols: 37 * 3)
      let w = rng.normalMatrix(rows: 3, cols: 5)
      let r = bothVariants { () -> [Float] in
        var dropRNG = Xoshiro(seed: 3)
        let y = net.forward(x, training: true, rng: &dropRNG)
        net.parameters.zeroGradients()
        net.backward(w)
        return y.storage + net.parameters.gradientArray
      }
      #expect(worstDifference(r.automatic, r.portable) <= 1e-6)
    }

    /// GRU gates with H = 11 (a full and a partial 8-lane chunk), padded rows included.
    @Test func timeSeriesNetworkAgrees() {
      var c = TimeSeriesConfiguration(featureDimension: 2, steps: 9, summaryDimension: 3)
      c.filters = 5
      c.kernelSize = 2
      c.recurrentDimension = 11
      var initRNG = Xoshiro(seed: 1)
      let net = TimeSeriesNetwork(configuration: c, rng: &initRNG)
      var rng = Xoshiro(seed: 2)
      var x = rng.normalMatrix(rows: 4, cols: 18)
      for k in 12..<18 { x[3, k] = .nan }  // row 3 has six steps
      let w = rng.normalMatrix(rows: 4, cols: 3)
      let r = bothVariants { () -> [Float] in
        var dropRNG = Xoshiro(seed: 3)
        let y = net.forward(x, training: true, rng: &dropRNG)
        net.parameters.zeroGradients()
        net.backward(w)
        return y.storage + net.parameters.gradientArray
      }
      #expect(worstDifference(r.automatic, r.portable) <= 1e-6)
    }
  }
}

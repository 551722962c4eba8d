import TestSupport
import Foundation
import NumericCore
import Testing
import NeuralNet

extension NeuralNetSuite {
  @Suite struct LayerTests {
    @Test func denseForwardAndGradients() {
      var layout = ParameterLayout()
      let dense = Dense("d", inputs: 5, outputs: 7, layout: &layout)
      var rng = Xoshiro(seed: 1)
      let pb = ParameterBuffer(layout: layout, rng: &rng)
      for i in 0..<7 { pb.values[dense.biasOffset! + i] = Float(i) * 0.1 }
      var x = rng.normalMatrix(rows: 4, cols: 5)
      let y = dense.forward(x, parameters: pb)
      // Reference product.
      for r in 0..<4 {
        for j in 0..<7 {
          var s = Double(pb.values[dense.biasOffset! + j])
          for k in 0..<5 { s += Double(x[r, k]) * Double(pb.values[dense.kernelOffset + k * 7 + j]) }
          #expect(abs(Double(y[r, j]) - s) < 1e-5)
        }
      }
      let w = rng.normalMatrix(rows: 4, cols: 7)
      pb.zeroGradients()
      let dx = dense.backward(input: x, outputGradient: w, parameters: pb)
      let check = GradientCheck()
      let analytic = pb.gradientArray
      let r1 = check.worstError(indices: Array(0..<pb.count), values: pb.values, analytic: analytic) {
        weightedSum(dense.forward(x, parameters: pb), w)
      }
      #expect(r1.error <= 1, "dense parameter gradient \(r1)")
      let r2 = x.withUnsafeMutableBufferPointer { xp in
        check.worstError(indices: Array(0..<20), values: xp.baseAddress!, analytic: dx.storage) {
          weightedSum(dense.forward(Matrix(rows: 4, cols: 5, storage: Array(xp)), parameters: pb), w)
        }
      }
      #expect(r2.error <= 1, "dense input gradient \(r2)")
    }

    @Test(arguments: Activation.allCases)
    func activationDerivatives(_ act: Activation) {
      let xs: [Float] = stride(from: -6, through: 6, by: 0.37).map { Float($0) }
      var y = [Float](repeating: 0, count: xs.count)
      var d = [Float](repeating: 0, count: xs.count)
      xs.withUnsafeBufferPointer { act.forward(count: xs.count, $0.baseAddress!, into: &y, derivative: &d) }
      let h: Float = 1e-2
      for (i, x) in xs.enumerated() where act != .relu || abs(x) > 2 * h {
        var pair: [Float] = [x + h, x - h]
        var out = [Float](repeating: 0, count: 2)
        pair.withUnsafeMutableBufferPointer { act.forward(count: 2, $0.baseAddress!, into: &out) }
        let fd = (Double(out[0]) - Double(out[1])) / Double(2 * h)
        #expect(abs(fd - Double(d[i])) < 2e-3 * (1 + abs(fd)), "\(act) at \(x): \(d[i]) vs \(fd)")
      }
      // Value-only and value-with-derivative paths agree.
      var y2 = [Float](repeating: 0, count: xs.count)
      xs.withUnsafeBufferPointer { act.forward(count: xs.count, $0.baseAddress!, into: &y2) }
      #expect(y == y2)
    }

    @Test func activationsAtExtremeInputs() {
      let xs: [Float] = [-1e30, -1e4, -100, -30, 30, 100, 1e4, 1e30, 0, -0.0]
      for act in Activation.allCases {
        var y = [Float](repeating: 0, count: xs.count)
        var d = [Float](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { act.forward(count: xs.count, $0.baseAddress!, into: &y, derivative: &d) }
        #expect(y.allSatisfy { $0.isFinite } && d.allSatisfy { $0.isFinite }, "\(act): \(y) \(d)")
      }
      var y = [Float](repeating: 0, count: 4)
      [Float(-100), 100, 0, 1].withUnsafeBufferPointer { Activation.mish.forward(count: 4, $0.baseAddress!, into: &y) }
      #expect(abs(y[0]) < 1e-30 && y[1] == 100 && y[2] == 0)
      #expect(abs(Double(y[3]) - 1 * tanh(log1p(exp(1.0)))) < 1e-6)
    }

    @Test func layerNormGradientsAndExtremes() {
      var layout = ParameterLayout()
      let ln = LayerNorm("n", features: 13, layout: &layout)
      var rng = Xoshiro(seed: 2)
      let pb = ParameterBuffer(layout: layout, rng: &rng)
      for i in 0..<pb.count { pb.values[i] += Float(rng.nextNormal()) * 0.3 }
      var x = rng.normalMatrix(rows: 3, cols: 13, mean: 0.5, std: 2)
      let w = rng.normalMatrix(rows: 3, cols: 13)
      let (y, cache) = ln.forward(x, parameters: pb)
      // Normalized rows have mean β̄-shifted, variance ≈ σ²/(σ² + ε).
      #expect(y.allFinite)
      pb.zeroGradients()
      let dx = ln.backward(outputGradient: w, cache: cache, parameters: pb)
      let check = GradientCheck()
      let rp = check.worstError(indices: Array(0..<pb.count), values: pb.values, analytic: pb.gradientArray) {
        weightedSum(ln.forward(x, parameters: pb).output, w)
      }
      #expect(rp.error <= 1, "layer norm parameter gradient \(rp)")
      let rx = x.withUnsafeMutableBufferPointer { xp in
        check.worstError(indices: Array(0..<39), values: xp.baseAddress!, analytic: dx.storage) {
          weightedSum(ln.forward(Matrix(rows: 3, cols: 13, storage: Array(xp)), parameters: pb).output, w)
        }
      }
      #expect(rx.error <= 1, "layer norm input gradient \(rx)")
      // Extremes: a constant row, huge offsets, huge scale.
      let ext = Matrix([
        [Float](repeating: 7, count: 13),
        (0..<13).map { 1e6 + Float($0) },
        (0..<13).map { Float($0) * 1e15 },
      ])
      let fresh = ParameterBuffer(layout: layout, rng: &rng)
      let (ye, ce) = ln.forward(ext, parameters: fresh)
      #expect(ye.allFinite)
      #expect(ye.row(0).allSatisfy { $0 == 0 })
      let row2 = ye.row(2).map(Double.init)
      let mean = row2.reduce(0, +) / 13
      let variance = row2.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 13
      #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-4)
      let de = ln.backward(outputGradient: Matrix(rows: 3, cols: 13, repeating: 1), cache: ce, parameters: fresh)
      #expect(de.allFinite)
    }

    @Test func dropoutMasks() {
      let drop = Dropout(rate: 0.25)
      var rng = Xoshiro(seed: 3)
      let x = Matrix(rows: 200, cols: 100, repeating: 1)
      let (y, m) = drop.forward(x, training: true, rng: &rng)
      #expect(y == m)
      let zeros = m.storage.filter { $0 == 0 }.count
      #expect(abs(Double(zeros) / 20000 - 0.25) < 0.02)
      #expect(abs(m.sum() / 20000 - 1) < 0.03)
      #expect(Set(m.storage).count == 2)
      let (yi, _) = drop.forward(x, training: false, rng: &rng)
      #expect(yi == x)
      #expect(!Dropout(rate: 0).isActive)
    }

    @Test func fourierEmbeddingValuesAndGradient() {
      var layout = ParameterLayout()
      let fe = FourierEmbedding("e", embedDimension: 8, scale: 30, layout: &layout)
      var rng = Xoshiro(seed: 4)
      let pb = ParameterBuffer(layout: layout, rng: &rng)
      let t: [Float] = [-0.7, 0.1, 0.35, 0.9]
      let e = fe.forward(t, parameters: pb)
      #expect(e.cols == 9)
      let w0 = Double(pb.values[0])
      #expect(e[2, 0] == 0.35)
      #expect(abs(Double(e[2, 1]) - sin(2 * .pi * 30 * 0.35 * w0)) < 1e-5)
      #expect(abs(Double(e[2, 5]) - cos(2 * .pi * 30 * 0.35 * w0)) < 1e-5)
      let dw = rng.normalMatrix(rows: 4, cols: 9)
      pb.zeroGradients()
      fe.backward(t, embedding: e, embeddingGradient: dw, parameters: pb)
      let r = GradientCheck(step: 1e-3).worstError(indices: Array(0..<4), values: pb.values, analytic: pb.gradientArray) {
        weightedSum(fe.forward(t, parameters: pb), dw)
      }
      #expect(r.error <= 1, "fourier gradient \(r)")
    }
  }
}

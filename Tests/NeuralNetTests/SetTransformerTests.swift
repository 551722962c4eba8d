import TestSupport
import Foundation
import NumericCore
import Testing
import NeuralNet

extension NeuralNetSuite {
  @Suite struct SetTransformerTests {
    func makeNet(seed: UInt64, blocks: Int = 2) -> SetTransformer {
      var c = SetTransformerConfiguration(elementDimension: 3, setSize: 4, summaryDimension: 5)
      c.width = 8
      c.heads = 2
      c.blocks = blocks
      var rng = Xoshiro(seed: seed)
      return SetTransformer(configuration: c, rng: &rng)
    }

    @Test func permutationAndPaddingInvariance() {
      let net = makeNet(seed: 1)
      var rng = Xoshiro(seed: 2)
      let e: [[Float]] = (0..<3).map { _ in (0..<3).map { _ in Float(rng.nextNormal()) } }
      let nan = [Float](repeating: .nan, count: 3)
      let x = Matrix([e[0] + e[1] + e[2] + nan, e[2] + nan + e[0] + e[1], nan + e[1] + e[2] + e[0]])
      let s = net.forward(x, training: false, rng: &rng)
      #expect(s.allFinite)
      for r in 1..<3 {
        for j in 0..<5 { #expect(abs(s[r, j] - s[0, j]) < 1e-5) }
      }
    }

    @Test(arguments: [0, 2])
    func gradientsMatchFiniteDifferences(_ blocks: Int) {
      let net = makeNet(seed: 3, blocks: blocks)
      var rng = Xoshiro(seed: 4)
      for i in 0..<net.parameters.count { net.parameters.values[i] += Float(rng.nextNormal()) * 0.05 }
      var x = rng.normalMatrix(rows: 3, cols: 12)
      for k in 9..<12 { x[1, k] = .nan }
      let w = rng.normalMatrix(rows: 3, cols: 5)
      _ = net.forward(x, training: true, rng: &rng)
      net.parameters.zeroGradients()
      net.backward(w)
      let res = GradientCheck().worstError(
        indices: sampleIndices(net.parameters, perTensor: 8, rng: &rng), values: net.parameters.values,
        analytic: net.parameters.gradientArray
      ) {
        var r = Xoshiro(seed: 0)
        return weightedSum(net.forward(x, training: true, rng: &r), w)
      }
      #expect(res.error <= 1, "set transformer gradient \(res) \(net.parameters.tensors.first { $0.offset <= res.index && res.index < $0.offset + $0.count }?.name ?? "")")
    }
  }
}

import TestSupport
import Foundation
import NumericCore
import Testing
import NeuralNet

extension NeuralNetSuite {
  @Suite struct DeepSetTests {
    func makeSet(seed: UInt64) -> DeepSet {
      var c = DeepSetConfiguration(elementDimension: 3, setSize: 4, summaryDimension: 5)
      c.innerWidths = [8, 12]
      c.outerWidths = [9]
      var rng = Xoshiro(seed: seed)
      return DeepSet(configuration: c, rng: &rng)
    }

    @Test func permutationAndPaddingInvariance() {
      let net = makeSet(seed: 1)
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

    @Test func gradientsMatchFiniteDifferences() {
      let net = makeSet(seed: 3)
      var rng = Xoshiro(seed: 4)
      for i in 0..<net.parameters.count { net.parameters.values[i] += Float(rng.nextNormal()) * 0.05 }
      var x = rng.normalMatrix(rows: 3, cols: 12)
      for k in 9..<12 { x[1, k] = .nan }  // row 1 has three elements
      let w = rng.normalMatrix(rows: 3, cols: 5)
      _ = net.forward(x, training: true, rng: &rng)
      net.parameters.zeroGradients()
      net.backward(w)
      let res = GradientCheck().worstError(
        indices: Array(0..<net.parameters.count), values: net.parameters.values, analytic: net.parameters.gradientArray
      ) {
        var r = Xoshiro(seed: 0)
        return weightedSum(net.forward(x, training: true, rng: &r), w)
      }
      #expect(res.error <= 1, "deep set gradient \(res)")
    }

    /// Joint training: the summary network's gradients arrive through the TimeMLP's condition gradient.
    @Test func jointGradientThroughTimeMLP() {
      let set = makeSet(seed: 5)
      var c = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 5)
      c.widths = [16, 16]
      c.timeEmbeddingDimension = 4
      c.dropout = 0
      let model = TrainableModel(network: TimeMLP(configuration: c, seed: 6), summary: set)
      var rng = Xoshiro(seed: 7)
      let theta = rng.normalMatrix(rows: 4, cols: 2)
      let x = rng.normalMatrix(rows: 4, cols: 12)
      let t: [Float] = [0.1, 0.5, -0.3, 0.9]
      let w = rng.normalMatrix(rows: 4, cols: 2)
      func loss() -> Double {
        var r = Xoshiro(seed: 1)
        let s = model.embed(x, training: true, rng: &r)
        return weightedSum(model.network.forward(theta, time: t, condition: s, training: true, rng: &r), w)
      }
      _ = loss()
      model.zeroGradients()
      model.backpropagateCondition(model.network.backward(w))
      let res = GradientCheck().worstError(
        indices: Array(0..<set.parameters.count), values: set.parameters.values, analytic: set.parameters.gradientArray,
        loss: loss)
      #expect(res.error <= 1, "joint gradient \(res)")
    }
  }
}

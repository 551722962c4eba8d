import TestSupport
import Foundation
import NumericCore
import Testing
import NeuralNet

extension NeuralNetSuite {
  @Suite struct TimeSeriesNetworkTests {
    @Test func gradientsMatchFiniteDifferences() {
      var c = TimeSeriesConfiguration(featureDimension: 2, steps: 6, summaryDimension: 3)
      c.filters = 5
      c.kernelSize = 2
      c.recurrentDimension = 4
      var rng = Xoshiro(seed: 1)
      let net = TimeSeriesNetwork(configuration: c, rng: &rng)
      for i in 0..<net.parameters.count { net.parameters.values[i] += Float(rng.nextNormal()) * 0.1 }
      var x = rng.normalMatrix(rows: 3, cols: 12)
      for k in 8..<12 { x[2, k] = .nan }  // row 2 has four steps
      let w = rng.normalMatrix(rows: 3, cols: 3)
      let y = net.forward(x, training: true, rng: &rng)
      #expect(y.allFinite)
      net.parameters.zeroGradients()
      net.backward(w)
      let res = GradientCheck().worstError(
        indices: Array(0..<net.parameters.count), values: net.parameters.values, analytic: net.parameters.gradientArray
      ) {
        var r = Xoshiro(seed: 0)
        return weightedSum(net.forward(x, training: true, rng: &r), w)
      }
      #expect(res.error <= 1, "GRU gradient \(res) \(net.parameters.tensors.first { $0.offset <= res.index && res.index < $0.offset + $0.count }?.name ?? "")")
    }

    /// Padding at the end leaves the summary of the observed steps unchanged.
    @Test func trailingPaddingIsIgnored() {
      var c = TimeSeriesConfiguration(featureDimension: 1, steps: 5, summaryDimension: 2)
      c.kernelSize = 2
      var rng = Xoshiro(seed: 2)
      let net = TimeSeriesNetwork(configuration: c, rng: &rng)
      let a = net.forward(Matrix([[0.1, -0.4, 0.7, .nan, .nan], [0.1, -0.4, 0.7, .nan, .nan]]), training: false, rng: &rng)
      var c2 = c
      c2.steps = 3
      let short = TimeSeriesNetwork(configuration: c2, rng: &rng)
      short.parameters.valueArray = net.parameters.valueArray
      let b = short.forward(Matrix([[0.1, -0.4, 0.7]]), training: false, rng: &rng)
      for j in 0..<2 { #expect(abs(a[0, j] - b[0, j]) < 1e-6 && a[1, j] == a[0, j]) }
    }
  }
}

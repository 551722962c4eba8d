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

    /// Several step blocks (130 rows), partial SIMD chunks (H = 11) and padded rows, some with a gap, with a unit
    /// and a strided convolution: the summary matches a Double reference of the formulas, and the gradients match
    /// finite differences.
    @Test(arguments: [(2, 1), (3, 2)])
    func blocksAndPartialChunks(kernel: Int, stride: Int) {
      var c = TimeSeriesConfiguration(featureDimension: 2, steps: 9, summaryDimension: 3)
      c.filters = 5
      c.kernelSize = kernel
      c.stride = stride
      c.recurrentDimension = 11
      #expect(c.windows == (stride == 1 ? 8 : 4))
      var rng = Xoshiro(seed: 3)
      let net = TimeSeriesNetwork(configuration: c, rng: &rng)
      for i in 0..<net.parameters.count { net.parameters.values[i] += Float(rng.nextNormal()) * 0.1 }
      var x = rng.normalMatrix(rows: 130, cols: 18)
      for r in 0..<130 {
        if r % 5 == 1 { for k in (2 * (4 + r % 4))..<18 { x[r, k] = .nan } }  // 4 to 7 steps
        if r % 7 == 3 { x[r, 5] = .nan }  // one feature of step 2 missing
      }
      let y = net.forward(x, training: true, rng: &rng)
      let reference = referenceSummary(net, x)
      var worst = 0.0
      for r in 0..<130 { for j in 0..<3 { worst = max(worst, abs(Double(y[r, j]) - reference[r][j])) } }
      #expect(worst < 1e-4, "largest difference from the reference \(worst)")
      let w = rng.normalMatrix(rows: 130, cols: 3)
      net.parameters.zeroGradients()
      net.backward(w)
      let res = GradientCheck().worstError(
        indices: Array(0..<net.parameters.count), values: net.parameters.values, analytic: net.parameters.gradientArray
      ) {
        var r = Xoshiro(seed: 0)
        return weightedSum(net.forward(x, training: true, rng: &r), w)
      }
      #expect(res.error <= 1, "GRU gradient \(res)")
    }

    /// Configurations stored before the stride existed decode with stride 1; the stride round-trips.
    @Test func strideDecodesWithADefault() throws {
      let old = #"{"featureDimension":2,"steps":9,"summaryDimension":3,"filters":5,"kernelSize":2,"recurrentDimension":4,"activation":"mish"}"#
      let c = try JSONDecoder().decode(TimeSeriesConfiguration.self, from: Data(old.utf8))
      #expect(c.stride == 1 && c.windows == 8)
      var strided = c
      strided.stride = 4
      let again = try JSONDecoder().decode(TimeSeriesConfiguration.self, from: try JSONEncoder().encode(strided))
      #expect(again == strided && again.windows == 2)
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

/// The summary of each row in Double, straight from the formulas in Sources/NeuralNet/TimeSeriesNetwork.swift: a
/// window with a NaN leaves the state unchanged.
func referenceSummary(_ net: TimeSeriesNetwork, _ x: Matrix) -> [[Double]] {
  let c = net.configuration, d = c.featureDimension, kd = c.kernelSize * d, f = c.filters, h = c.recurrentDimension
  func param(_ name: String) -> [Double] {
    let t = net.parameters.tensor(named: name)!
    return (0..<t.count).map { Double(net.parameters.values[t.offset + $0]) }
  }
  let cw = param("conv.kernel"), cb = param("conv.bias"), w = param("gru.input.kernel"), wb = param("gru.input.bias")
  let u = param("gru.recurrent.kernel"), ub = param("gru.recurrent.bias")
  let o = param("output.kernel"), ob = param("output.bias"), s = c.summaryDimension
  func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
  func mish(_ v: Double) -> Double { v * tanh(log1p(exp(v))) }
  return (0..<x.rows).map { row in
    var state = [Double](repeating: 0, count: h)
    for t in 0..<c.windows {
      let window = (0..<kd).map { Double(x[row, t * c.stride * d + $0]) }
      if window.contains(where: \.isNaN) { continue }
      let conv = (0..<f).map { j in mish(cb[j] + (0..<kd).reduce(0.0) { $0 + window[$1] * cw[$1 * f + j] }) }
      let gx = (0..<(3 * h)).map { j in wb[j] + (0..<f).reduce(0.0) { $0 + conv[$1] * w[$1 * 3 * h + j] } }
      let gh = (0..<(3 * h)).map { j in ub[j] + (0..<h).reduce(0.0) { $0 + state[$1] * u[$1 * 3 * h + j] } }
      state = (0..<h).map { j in
        let z = sigmoid(gx[j] + gh[j]), r = sigmoid(gx[h + j] + gh[h + j])
        let n = tanh(gx[2 * h + j] + r * gh[2 * h + j])
        return z * state[j] + (1 - z) * n
      }
    }
    return (0..<s).map { j in ob[j] + (0..<h).reduce(0.0) { $0 + state[$1] * o[$1 * s + j] } }
  }
}

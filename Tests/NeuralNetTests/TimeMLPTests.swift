import TestSupport
import Foundation
import NumericCore
import Testing
import NeuralNet

extension NeuralNetSuite {
  @Suite struct TimeMLPTests {
    @Test(arguments: [(2, 2, 508_434), (4, 20, 514_068), (5, 100, 535_061)])
    func parameterCountMatchesReference(_ dims: (Int, Int, Int)) {
      let c = TimeMLPConfiguration(inputDimension: dims.0, conditionDimension: dims.1)
      #expect(TimeMLP.parameterCount(c) == dims.2)
    }

    /// Full-network finite-difference check over every tensor, the condition gradient, in training mode with
    /// dropout (the same seed reproduces the masks).
    @Test(arguments: [
      (false, false, true), (true, true, true), (true, false, false),
    ])
    func gradientsMatchFiniteDifferences(_ variant: (scale: Bool, projector: Bool, condition: Bool)) {
      var c = TimeMLPConfiguration(inputDimension: 3, conditionDimension: variant.condition ? 4 : 0)
      c.widths = variant.projector ? [16, 24, 24] : [16, 16]
      c.timeEmbeddingDimension = 6
      c.fourierScale = 3
      c.dropout = 0.2
      c.filmUseScale = variant.scale
      let net = TimeMLP(configuration: c, seed: 5)
      var rng = Xoshiro(seed: 6)
      // Non-trivial LayerNorm and bias parameters.
      for i in 0..<net.parameterCount { net.parameters.values[i] += Float(rng.nextNormal()) * 0.05 }
      let b = 5
      let x = rng.normalMatrix(rows: b, cols: 3)
      let t = (0..<b).map { _ in Float(rng.nextDouble() * 2 - 1) }
      var cond: Matrix? = variant.condition ? rng.normalMatrix(rows: b, cols: 4) : nil
      let w = rng.normalMatrix(rows: b, cols: 3)
      func loss() -> Double {
        var r = Xoshiro(seed: 77)
        return weightedSum(net.forward(x, time: t, condition: cond, training: true, rng: &r), w)
      }
      var r = Xoshiro(seed: 77)
      _ = net.forward(x, time: t, condition: cond, training: true, rng: &r)
      net.parameters.zeroGradients()
      let dc = net.backward(w)
      let analytic = net.parameters.gradientArray
      // The Fourier frequencies oscillate fast (phase 2π·s·t per unit of w): they get a smaller step.
      let fourier = net.parameters.tensor(named: "time_embedding.w")!
      let indices = sampleIndices(net.parameters, perTensor: 6, rng: &rng).filter { $0 >= fourier.count }
      let res = GradientCheck().worstError(indices: indices, values: net.parameters.values, analytic: analytic, loss: loss)
      let resW = GradientCheck(step: 1e-3).worstError(
        indices: Array(0..<fourier.count), values: net.parameters.values, analytic: analytic, loss: loss)
      #expect(fourier.offset == 0 && resW.error <= 1, "Fourier gradient \(resW)")
      #expect(res.error <= 1, "parameter gradient \(res) \(net.parameters.tensors.first { $0.offset <= res.index && res.index < $0.offset + $0.count }?.name ?? "")")
      if variant.condition {
        var condStorage = cond!.storage
        let rc = condStorage.withUnsafeMutableBufferPointer { cp in
          GradientCheck().worstError(indices: Array(0..<cp.count), values: cp.baseAddress!, analytic: dc!.storage) {
            cond = Matrix(rows: b, cols: 4, storage: Array(cp))
            return loss()
          }
        }
        #expect(rc.error <= 1, "condition gradient \(rc)")
      } else {
        #expect(dc == nil)
      }
    }

    @Test func predictMatchesEvaluationForwardAndReplicasShareValues() {
      let c = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 3)
      let net = TimeMLP(configuration: c, seed: 9)
      var rng = Xoshiro(seed: 10)
      let b = 600
      let x = rng.normalMatrix(rows: b, cols: 2)
      let cond = rng.normalMatrix(rows: b, cols: 3)
      let t = (0..<b).map { _ in Float(rng.nextDouble()) }
      let y1 = net.forward(x, time: t, condition: cond, training: false, rng: &rng)
      let y2 = net.predict(x, time: t, condition: cond)
      #expect(y1.count == y2.count)
      #expect(zip(y1.storage, y2.storage).allSatisfy { abs($0 - $1) <= 1e-5 * (1 + abs($0)) })
      let rep = net.replica()
      #expect(rep.parameters.values == net.parameters.values)
      #expect(rep.parameters.gradients != net.parameters.gradients)
      let y3 = rep.predict(x, time: t, condition: cond)
      #expect(y3 == y2)
      // The tiled inference pass gives the same bits on one and two threads (fixed tiles, one BLAS thread each).
      let saved = Threading.count
      defer { Threading.count = saved }
      Threading.count = 1
      let one = net.predict(x, time: t, condition: cond)
      Threading.count = 2
      let two = net.predict(x, time: t, condition: cond)
      #expect(one == two && one == y2)
      // Training mode with dropout differs and is reproducible for a seed.
      var r1 = Xoshiro(seed: 1), r2 = Xoshiro(seed: 1)
      let a = net.forward(x, time: t, condition: cond, training: true, rng: &r1)
      let a2 = net.forward(x, time: t, condition: cond, training: true, rng: &r2)
      #expect(a == a2 && a != y1)
    }
  }
}

extension NeuralNetSuite {
  /// Condition features (the condition's part of the input stage, once per distinct condition) give the same
  /// outputs as the full pass to float rounding, over several inference tiles, on one and two threads.
  @Suite(.serialized) struct ConditionFeatureTests {
    @Test func featuresMatchTheFullPass() {
      var config = TimeMLPConfiguration(inputDimension: 3, conditionDimension: 4)
      config.widths = [64, 64]
      let net = TimeMLP(configuration: config, seed: 8)
      var rng = Xoshiro(seed: 9)
      let distinct = rng.normalMatrix(rows: 3, cols: 4)
      let rows = 600  // three tiles of at most 256 rows
      let index = (0..<rows).map { ($0 * 7) % 3 }
      let x = rng.normalMatrix(rows: rows, cols: 3)
      let t = (0..<rows).map { _ in Float(rng.nextDouble()) }
      let full = net.predict(x, time: t, condition: distinct.gatherRows(index))
      let saved = Threading.count
      defer { Threading.count = saved }
      for threads in [1, 2] {
        Threading.count = threads
        let f = net.conditionFeatures(distinct: distinct, index: index)
        #expect(f.table.rows == 3 && f.table.cols == 64)
        let fast = net.predict(x, time: t, conditionFeatures: f)
        let scale = full.storage.map(abs).max()!
        let worst = zip(full.storage, fast.storage).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-5 * scale, "threads \(threads): max |Δ| \(worst) of max |y| \(scale)")
      }
    }
  }
}

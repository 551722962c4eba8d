import Foundation
import NumericCore
import Testing
import NeuralNet

extension NeuralNetSuite {
  @Suite(.serialized) struct OptimizerTests {
    func buffer(_ values: [Float]) -> ParameterBuffer {
      var layout = ParameterLayout()
      layout.add("a", shape: [2], initializer: .zeros)
      layout.add("b", shape: [values.count - 2], initializer: .zeros)
      var rng = Xoshiro(seed: 0)
      let b = ParameterBuffer(layout: layout, rng: &rng)
      b.valueArray = values
      return b
    }

    /// Two Adam(W) steps against the formulas evaluated in Double.
    @Test(arguments: [Float(0), 5e-3])
    func adamStepsMatchHandComputation(_ wd: Float) {
      let theta0: [Float] = [1, -2, 0.5, 0, 3, -1, 2, 0.25, 7]  // 9 values: exercises the SIMD tail
      let grads: [[Float]] = [[0.1, -0.2, 3, 0, 1e-3, -5, 2, 0.5, -0.01], [0.3, 0.1, -1, 2, 0, 0.2, -2, 0.5, 4]]
      let b = buffer(theta0)
      let opt = AdamOptimizer(configuration: AdamConfiguration(weightDecay: wd, clipping: .none))
      var th = theta0.map(Double.init)
      var m = [Double](repeating: 0, count: 9), v = m
      let lr = [1e-2, 5e-3]
      for k in 0..<2 {
        for i in 0..<9 { b.gradients[i] = grads[k][i] }
        opt.update([b], learningRate: Float(lr[k]))
        let t = Double(k + 1)
        let alpha = lr[k] * (1 - pow(0.999, t)).squareRoot() / (1 - pow(0.9, t))
        for i in 0..<9 {
          let g = Double(grads[k][i])
          th[i] -= lr[k] * Double(wd) * th[i]
          m[i] = 0.9 * m[i] + 0.1 * g
          v[i] = 0.999 * v[i] + 0.001 * g * g
          th[i] -= alpha * m[i] / (v[i].squareRoot() + 1e-7)
        }
      }
      for i in 0..<9 { #expect(abs(Double(b.values[i]) - th[i]) < 1e-6 * (1 + abs(th[i])), "index \(i)") }
      #expect(opt.step == 2)
    }

    /// The fused pass (clip scale, AdamW, EMA fold) equals clipping in place, updating, then `PowerEMA.update`,
    /// bit for bit, over steps that are clipped and steps that are not.
    @Test func fusedUpdateEqualsThreePasses() {
      var rng = Xoshiro(seed: 5)
      let n = 1037  // many 8-lane chunks and a partial tail
      let theta0 = (0..<n).map { _ in Float(rng.nextNormal()) }
      let fused = buffer(theta0), split = buffer(theta0)
      let config = AdamConfiguration(weightDecay: 5e-3, clipping: .globalNorm(1.5))
      let fusedOpt = AdamOptimizer(configuration: config)
      let clipper = AdamOptimizer(configuration: config)
      let plain = AdamOptimizer(configuration: AdamConfiguration(weightDecay: 5e-3, clipping: .none))
      let fusedEMA = PowerEMA(), splitEMA = PowerEMA()
      var clippedSteps = 0
      for step in 0..<6 {
        let scale: Float = step % 2 == 0 ? 0.2 : 0.001  // ‖g‖ ≈ 6.4 (clipped) or ≈ 0.03 (not)
        let g = (0..<n).map { _ in Float(rng.nextNormal()) * scale }
        for i in 0..<n { fused.gradients[i] = g[i]; split.gradients[i] = g[i] }
        let lr: Float = 1e-3 * Float(step + 1)
        let norm = AdamOptimizer.gradientNorm([fused])
        if norm > 1.5 { clippedSteps += 1 }
        let reported = fusedOpt.update([fused], learningRate: lr, gradientNorm: norm, ema: fusedEMA)
        #expect(reported == norm)
        #expect(fused.gradientArray == g)  // the fused pass leaves the gradients as they were
        clipper.clip([split])
        plain.update([split], learningRate: lr)
        splitEMA.update([split])
        #expect(fused.valueArray == split.valueArray, "values, step \(step)")
        #expect(fusedOpt.state.m == plain.state.m && fusedOpt.state.v == plain.state.v, "moments, step \(step)")
        #expect(fusedEMA.shadow == splitEMA.shadow && fusedEMA.step == splitEMA.step, "EMA, step \(step)")
      }
      #expect(clippedSteps == 3)
    }

    /// The norm is summed over fixed blocks, so it is the same for every thread count, and it matches the norm
    /// accumulated in Double.
    @Test func gradientNormIsIndependentOfThreads() {
      var layout = ParameterLayout()
      layout.add("w", shape: [200_003], initializer: .zeros)  // three full blocks of 65,536 and a partial one
      layout.add("b", shape: [77], initializer: .zeros)
      var rng = Xoshiro(seed: 9)
      let b = ParameterBuffer(layout: layout, rng: &rng)
      for i in 0..<b.count { b.gradients[i] = Float(rng.nextNormal()) }
      let exact = (0..<b.count).reduce(0.0) { $0 + Double(b.gradients[$1]) * Double(b.gradients[$1]) }.squareRoot()
      let saved = Threading.count
      defer { Threading.count = saved }
      var norms: [Double] = []
      for t in [1, 2, 3] {
        Threading.count = t
        norms.append(AdamOptimizer.gradientNorm([b]))
      }
      #expect(norms[0] == norms[1] && norms[1] == norms[2])
      #expect(abs(norms[0] - exact) < 1e-6 * exact)
    }

    @Test func clipping() {
      let b = buffer([0, 0, 0, 0])
      for (i, g) in [Float(3), 0, 0, 4].enumerated() { b.gradients[i] = g }
      let opt = AdamOptimizer(configuration: AdamConfiguration(clipping: .globalNorm(1.5)))
      let norm = opt.clip([b])
      #expect(abs(norm - 5) < 1e-6)
      #expect(abs(b.gradients[0] - 0.9) < 1e-6 && abs(b.gradients[3] - 1.2) < 1e-6)
      // Below the threshold nothing changes.
      #expect(abs(opt.clip([b]) - 1.5) < 1e-6 && abs(b.gradients[0] - 0.9) < 1e-6)
      // Per tensor: tensor a = (3, 0) → (1.5, 0); tensor b = (0, 4) → (0, 1.5).
      for (i, g) in [Float(3), 0, 0, 4].enumerated() { b.gradients[i] = g }
      AdamOptimizer(configuration: AdamConfiguration(clipping: .perTensorNorm(1.5))).clip([b])
      #expect(b.gradientArray == [1.5, 0, 0, 1.5])
    }

    @Test func learningRateSchedule() {
      let s = LearningRateSchedule(peak: 5e-4, totalSteps: 1000)
      #expect(s.warmupSteps == 50)
      #expect(abs(s(0) - 5e-5) < 1e-10)
      #expect(abs(s(25) - (5e-5 + 4.5e-4 * 0.5)) < 1e-9)
      #expect(abs(s(50) - 5e-4) < 1e-10)
      #expect(abs(Double(s(525)) - 2.5e-4) < 1e-9)  // halfway through the cosine
      #expect(abs(Double(s(287)) - 5e-4 * 0.5 * (1 + cos(Double.pi * 237 / 950))) < 1e-9)
      #expect(s(1000) == 0 && s(5000) == 0)
      #expect(LearningRateSchedule.constant(1e-3)(123) == 1e-3)
    }

    @Test func powerEMA() {
      let b = buffer([1, 2, 3, 4])
      let ema = PowerEMA(gamma: 6.94)
      ema.update([b])
      #expect(ema.shadow[0] == [1, 2, 3, 4])  // β₁ = 0
      b.valueArray = [3, 2, 1, 0]
      ema.update([b])
      let beta = pow(0.5, 7.94)
      #expect(abs(ema.beta(step: 2) - beta) < 1e-15)
      let expected = [1.0, 2, 3, 4].enumerated().map { beta * $1 + (1 - beta) * [3.0, 2, 1, 0][$0] }
      for i in 0..<4 { #expect(abs(Double(ema.shadow[0][i]) - expected[i]) < 1e-6) }
    }
  }
}

extension NeuralNetSuite {
  @Suite struct StandardizationTests {
    @Test func welfordMatchesTwoPassStatistics() {
      var rng = Xoshiro(seed: 11)
      let all = rng.normalMatrix(rows: 1000, cols: 3, mean: 5, std: 3)
      var s = Standardizer(dimension: 3)
      var start = 0
      for size in [1, 7, 128, 300, 564] {
        s.update(all.rows(start..<(start + size)))
        start += size
      }
      let (mean, variance) = all.columnMeanVariance()
      for j in 0..<3 {
        #expect(abs(s.mean[j] - mean[j]) < 1e-9 * (1 + abs(mean[j])))
        // columnMeanVariance may be the sample variance; compare the population version.
        let pop = all.column(j).map(Double.init)
        let mu = pop.reduce(0, +) / 1000
        let v = pop.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / 1000
        #expect(abs(s.std[j] - v.squareRoot()) < 1e-9)
        _ = variance
      }
      let z = s.standardize(all)
      let back = s.destandardize(z)
      #expect(zip(back.storage, all.storage).allSatisfy { abs($0 - $1) < 1e-4 })
      let (zm, zv) = z.columnMeanVariance()
      #expect(zm.allSatisfy { abs($0) < 1e-4 } && zv.allSatisfy { abs($0 - 1) < 2e-3 })
      // A constant column keeps std 1.
      var c = Standardizer(dimension: 1)
      c.update(Matrix(rows: 5, cols: 1, repeating: 2))
      #expect(c.std == [1] && c.mean == [2])
      // Non-finite values are skipped per feature.
      var p = Standardizer(dimension: 2)
      p.update(Matrix([[1, .nan], [3, 4], [5, .infinity]]))
      #expect(p.counts == [3, 1] && p.mean == [3, 4])
      #expect(abs(p.std[0] - (8.0 / 3).squareRoot()) < 1e-12 && p.std[1] == 1)
    }

    /// With the log1p element transform the statistics are those of log1p(x) and standardizing applies it first;
    /// the transform is stored, and standardizers saved without it decode with none.
    @Test func log1pTransformPrecedesTheStatistics() throws {
      var rng = Xoshiro(seed: 12)
      var x = rng.normalMatrix(rows: 400, cols: 2, mean: 0, std: 1)
      x.withUnsafeMutableBufferPointer { p in for k in p.indices { p[k] = exp(3 * p[k]) } }  // spans e^±9
      x[0, 1] = .nan
      var plain = Standardizer(dimension: 2), logged = Standardizer(dimension: 2, transform: .log1p)
      plain.update(ElementTransform.log1p.apply(x))
      logged.update(x)
      #expect(logged.mean == plain.mean && logged.m2 == plain.m2 && logged.counts == [400, 399])
      let direct = logged.standardize(x).storage, viaPlain = plain.standardize(ElementTransform.log1p.apply(x)).storage
      #expect(zip(direct, viaPlain).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) } && direct[1].isNaN)
      #expect(abs(Double(ElementTransform.log1p.apply(Matrix([[1e-8, 1]]))[0, 0]) - 1e-8) < 1e-14)
      #expect(ElementTransform.log1p.countOutsideDomain(Matrix([[-1, -0.5, .nan, -2]])) == 2)
      let again = try JSONDecoder().decode(Standardizer.self, from: try JSONEncoder().encode(logged))
      #expect(again == logged && again.transform == .log1p)
      let old = try JSONEncoder().encode(Standardizer(dimension: 2))
      #expect(!String(decoding: old, as: UTF8.self).contains("transform"))
      #expect(try JSONDecoder().decode(Standardizer.self, from: old).transform == nil)
      #expect(Standardizer(dimension: 2, transform: .identity).transform == nil)
    }

    @Test func constraintTransformsRoundTripWithJacobian() {
      let cs: [Constraint] = [.interval(lower: -1, upper: 3), .positive, .unbounded]
      let xs: [Double] = [-0.999, 0.2, 2.9, 1e-3, 17]
      for c in cs {
        for x in xs where c != .positive || x > 0 {
          if case .interval(let lo, let hi) = c, !(x > lo && x < hi) { continue }
          let y = c.forward(x)
          #expect(abs(c.inverse(y) - x) < 1e-9 * (1 + abs(x)))
          let h = 1e-6
          let fd = (c.forward(x + h) - c.forward(x - h)) / (2 * h)
          #expect(abs(log(abs(fd)) - c.logDetJacobian(x)) < 1e-5, "\(c) at \(x)")
        }
      }
      // Boundaries map to finite values.
      #expect(Constraint.interval(lower: -1, upper: 3).forward(3).isFinite)
      let t = ConstraintTransform(cs)
      let m = Matrix([[0.5, 2, -4], [2.5, 0.1, 9]])
      let back = t.inverse(t.forward(m))
      #expect(zip(back.storage, m.storage).allSatisfy { abs($0 - $1) < 1e-5 })
      #expect(t.logDetJacobian(m).count == 2)
    }
  }
}

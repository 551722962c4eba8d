import Foundation
import NumericCore
import Testing
import NeuralNet

/// Regression objective for the tests: the network maps (θ, t, c) to a smooth target; loss = mean squared error.
struct RegressionObjective: TrainingObjective {
  var poisonEvery = 0  // return NaN on every k-th call (to test skipping)
  final class Counter: @unchecked Sendable { var calls = 0 }
  let counter = Counter()

  static func target(_ theta: Matrix, _ t: [Float], _ c: Matrix) -> Matrix {
    var y = Matrix(rows: theta.rows, cols: 2)
    for r in 0..<theta.rows {
      y[r, 0] = sin(2 * c[r, 0]) + 0.5 * t[r]
      y[r, 1] = c[r, 0] * c[r, 1] + 0.5 * theta[r, 0]
    }
    return y
  }

  func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    counter.calls += 1
    let t = (0..<batch.count).map { _ in Float(rng.nextDouble()) }
    let cond = model.embed(batch.conditions, training: true, rng: &rng)!
    let out = model.network.forward(batch.parameters, time: t, condition: cond, training: true, rng: &rng)
    let y = RegressionObjective.target(batch.parameters, t, batch.conditions!)
    var d = out - y
    let loss = Float(d.squaredNorm() / Double(d.count))
    d.scale(by: 2 / Float(d.count))
    model.backpropagateCondition(model.network.backward(d))
    if poisonEvery > 0 && counter.calls % poisonEvery == 0 { return .nan }
    return loss
  }

  func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let t = (0..<batch.count).map { _ in Float(rng.nextDouble()) }
    let cond = model.embed(batch.conditions, training: false, rng: &rng)!
    let out = model.network.forward(batch.parameters, time: t, condition: cond, training: false, rng: &rng)
    let d = out - RegressionObjective.target(batch.parameters, t, batch.conditions!)
    return Float(d.squaredNorm() / Double(d.count))
  }
}

func simulator(_ n: Int, _ rng: inout Xoshiro) -> (parameters: Matrix, data: Matrix?) {
  (rng.normalMatrix(rows: n, cols: 2), rng.uniformMatrix(rows: n, cols: 2, lower: -1.5, upper: 1.5))
}

func smallNetwork(seed: UInt64) -> TimeMLP {
  var c = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 2)
  c.widths = [128, 128, 128]
  c.dropout = 0
  c.fourierScale = 1
  return TimeMLP(configuration: c, seed: seed)
}

/// `RegressionObjective` without random draws (t = 0.3 on every row), so a split batch sees the same inputs.
struct FixedTimeRegressionObjective: TrainingObjective {
  func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let t = [Float](repeating: 0.3, count: batch.count)
    let out = model.network.forward(batch.parameters, time: t, condition: batch.conditions, training: true, rng: &rng)
    var d = out - RegressionObjective.target(batch.parameters, t, batch.conditions!)
    let loss = Float(d.squaredNorm() / Double(d.count))
    d.scale(by: 2 / Float(d.count))
    model.network.backward(d)
    return loss
  }

  func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float { 0 }
}

extension NeuralNetSuite {
  @Suite(.serialized) struct TrainingTests {
    /// A batch of 32 on two threads runs as two shards of 16 whose gradients are reduced block by block together
    /// with the norm's sums of squares; the reduced gradient and its norm match the one-shard step to float
    /// rounding, and the norm does not depend on the thread count for a given gradient.
    @Test func shardedStepMatchesOneShard() throws {
      try #require(Trainer.minimumShardRows == 16)
      let saved = Threading.count
      defer { Threading.count = saved }
      var results: [(gradient: [Float], norm: Double, loss: Float)] = []
      for threads in [1, 2] {
        Threading.count = threads
        var cfg = TrainingConfiguration()
        cfg.batchSize = 32
        let trainer = Trainer(model: TrainableModel(network: smallNetwork(seed: 3)),
                              objective: FixedTimeRegressionObjective(), configuration: cfg)
        var rng = Xoshiro(seed: 4)
        let (theta, x) = simulator(32, &rng)
        let r = trainer.step(trainer.prepare(parameters: theta, conditions: x), learningRate: 1e-4)
        #expect(!r.skipped)
        // The update leaves the (reduced, unclipped) gradient in the buffer.
        let g = trainer.model.buffers[0].gradientArray
        #expect(r.gradientNorm == AdamOptimizer.gradientNorm(trainer.model.buffers))
        results.append((g, r.gradientNorm, r.loss))
      }
      let scale = results[0].gradient.map(abs).max()!
      let worst = zip(results[0].gradient, results[1].gradient).map { abs($0 - $1) }.max()!
      #expect(worst <= 1e-5 * scale, "max |Δg| \(worst) of max |g| \(scale)")
      #expect(abs(results[0].norm - results[1].norm) <= 1e-5 * results[0].norm)
      #expect(abs(results[0].loss - results[1].loss) <= 1e-5 * results[0].loss)
    }

    @Test func timeMLPFitsSmoothRegression() throws {
      var cfg = TrainingConfiguration()
      cfg.epochs = 8
      cfg.stepsPerEpoch = 50
      cfg.batchSize = 128
      cfg.learningRate = 2e-3
      cfg.validationSimulations = 512
      cfg.standardizeParameters = false
      cfg.standardizeConditions = false
      cfg.seed = 3
      let trainer = Trainer(model: TrainableModel(network: smallNetwork(seed: 1)), objective: RegressionObjective(), configuration: cfg)
      var calls = 0
      let h = try trainer.train(.simulator(simulator)) { _ in calls += 1 }
      #expect(calls == 400 && h.steps == 400 && h.skippedSteps == 0)
      #expect(h.validationLoss.count == 8)
      #expect(h.validationLoss.first! > 5 * h.validationLoss.last!)
      #expect(h.validationLoss.last! < 0.02, "history \(h.validationLoss)")
    }

    @Test func offlineTrainingIsReproducibleAndSkipsNonFiniteSteps() throws {
      var rng = Xoshiro(seed: 8)
      let (theta, x) = simulator(700, &rng)
      var cfg = TrainingConfiguration()
      cfg.epochs = 3
      cfg.batchSize = 128
      cfg.optimizer = .adamW
      cfg.validationFraction = 0.1
      cfg.useEMA = true
      cfg.seed = 4
      func run(_ poison: Int) throws -> (TrainingHistory, [Float], [[Float]]) {
        let t = Trainer(model: TrainableModel(network: smallNetwork(seed: 2)),
                        objective: RegressionObjective(poisonEvery: poison), configuration: cfg)
        let h = try t.train(.simulations(parameters: theta, data: x))
        return (h, t.model.network.parameters.valueArray, t.ema!.shadow)
      }
      let (h1, w1, e1) = try run(0)
      let (h2, w2, e2) = try run(0)
      #expect(w1 == w2 && e1 == e2 && h1.loss == h2.loss)
      #expect(h1.steps == 3 * (630 / 128) && h1.validationLoss.count == 3)
      #expect(e1[0] != w1)
      let (h3, _, _) = try run(5)
      #expect(h3.skippedSteps > 0 && h3.steps + h3.skippedSteps == h1.steps)
      #expect(h3.loss.allSatisfy { $0.isFinite })
      #expect(throws: TrainingError.self) { _ = try Trainer(model: TrainableModel(network: smallNetwork(seed: 2)), objective: RegressionObjective(), configuration: cfg).train(.simulations(parameters: theta, data: x.map { $0.rows(0..<5) })) }
    }
  }
}

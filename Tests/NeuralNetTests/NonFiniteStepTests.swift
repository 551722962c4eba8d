import Foundation
import NumericCore
import Testing
import NeuralNet

/// An objective that computes a real gradient and then poisons it (or the loss) on chosen calls.
struct PoisoningObjective: TrainingObjective {
  enum Poison { case lossNaN, lossInfinity, gradientNaN, gradientInfinity }
  var schedule: [Int: Poison]  // call index (from 1) → poison
  final class Counter: @unchecked Sendable { var calls = 0 }
  let counter = Counter()
  let base = RegressionObjective()

  func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    counter.calls += 1
    let loss = base.lossAndGradient(model: model, batch: batch, rng: &rng)
    switch schedule[counter.calls] {
    case .lossNaN: return .nan
    case .lossInfinity: return .infinity
    case .gradientNaN: model.buffers[0].gradients[model.buffers[0].count / 2] = .nan; return loss
    case .gradientInfinity: model.buffers[0].gradients[0] = -.infinity; return loss
    case nil: return loss
    }
  }

  func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    base.validationLoss(model: model, batch: batch, rng: &rng)
  }
}

extension NeuralNetSuite {
  /// A non-finite loss or gradient skips the step: weights, Adam moments and step, and the EMA are untouched,
  /// the skip is counted, and the next finite step proceeds normally.
  @Suite struct NonFiniteStepTests {
    @Test(arguments: [PoisoningObjective.Poison.lossNaN, .lossInfinity, .gradientNaN, .gradientInfinity])
    func poisonedStepNeverReachesTheWeights(poison: PoisoningObjective.Poison) {
      // A batch of minimumShardRows rows runs as one shard (shards = min(threads, B / minimumShardRows)), so
      // call k is step k.
      let rows = Trainer.minimumShardRows
      var cfg = TrainingConfiguration()
      cfg.useEMA = true
      cfg.batchSize = rows
      let objective = PoisoningObjective(schedule: [3: poison])
      let trainer = Trainer(model: TrainableModel(network: smallNetwork(seed: 1)), objective: objective,
                            configuration: cfg)
      var rng = Xoshiro(seed: 2)
      func batch() -> TrainingBatch {
        let (theta, x) = simulator(rows, &rng)
        return trainer.prepare(parameters: theta, conditions: x)
      }
      for _ in 0..<2 { trainer.step(batch(), learningRate: 1e-3) }
      let weights = trainer.model.buffers.map(\.valueArray)
      let moments = trainer.optimizer.state
      let ema = trainer.ema!.shadow
      let r = trainer.step(batch(), learningRate: 1e-3)
      #expect(r.skipped && r.loss.isNaN)
      #expect(trainer.history.skippedSteps == 1 && trainer.history.steps == 2)
      #expect(trainer.model.buffers.map(\.valueArray) == weights)
      #expect(trainer.optimizer.state.step == moments.step && trainer.optimizer.state.m == moments.m
              && trainer.optimizer.state.v == moments.v)
      #expect(trainer.ema!.shadow == ema && trainer.ema!.step == 2)
      #expect(trainer.model.buffers.allSatisfy { $0.gradientArray.allSatisfy { $0 == 0 } })
      let r2 = trainer.step(batch(), learningRate: 1e-3)
      #expect(!r2.skipped && r2.loss.isFinite && trainer.history.steps == 3)
      #expect(trainer.model.buffers.allSatisfy { $0.valueArray.allSatisfy(\.isFinite) })
      #expect(trainer.model.buffers.map(\.valueArray) != weights)
    }
  }
}

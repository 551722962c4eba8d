import Foundation
import NumericCore
import Testing
import NeuralNet

/// Regression with label noise that a big network can memorize: the target of a row is a smooth function of its
/// condition plus a fixed pseudo-random offset of the row (a hash of its values), so the training loss keeps
/// falling while the validation loss turns up (the network overfits).
struct NoisyLabelObjective: TrainingObjective {
  static func target(_ theta: Matrix, _ c: Matrix) -> Matrix {
    var y = Matrix(rows: theta.rows, cols: 2)
    for r in 0..<theta.rows {
      let noise = sin(9_731 * c[r, 0] + 4_409 * c[r, 1])
      y[r, 0] = sin(2 * c[r, 0]) + 2 * noise
      y[r, 1] = c[r, 0] * c[r, 1] - 2 * noise
    }
    return y
  }

  func loss(model: TrainableModel, batch: TrainingBatch, training: Bool, rng: inout Xoshiro) -> (Float, Matrix) {
    let t = [Float](repeating: 0.5, count: batch.count)
    let cond = model.embed(batch.conditions, training: training, rng: &rng)!
    let out = model.network.forward(batch.parameters, time: t, condition: cond, training: training, rng: &rng)
    let d = out - Self.target(batch.parameters, batch.conditions!)
    return (Float(d.squaredNorm() / Double(d.count)), d)
  }

  func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    var (l, d) = loss(model: model, batch: batch, training: true, rng: &rng)
    d.scale(by: 2 / Float(d.count))
    model.backpropagateCondition(model.network.backward(d))
    return l
  }

  func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    loss(model: model, batch: batch, training: false, rng: &rng).0
  }
}

@Suite struct ConvergenceTests {
  static func bigNetwork(seed: UInt64) -> TimeMLP {
    var c = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 2)
    c.widths = [128, 128, 128]
    c.dropout = 0
    return TimeMLP(configuration: c, seed: seed)
  }

  static func data(_ n: Int) -> (Matrix, Matrix) {
    var rng = Xoshiro(seed: 21)
    return (rng.normalMatrix(rows: n, cols: 2), rng.normalMatrix(rows: n, cols: 2))
  }

  /// Small data and a big network overfit: early stopping fires, and the weights kept (with EMA: the EMA weights,
  /// which are what sampling uses) have exactly the best validation loss recorded.
  @Test(arguments: [false, true])
  func earlyStoppingFiresAndRestoresTheBestWeights(ema: Bool) throws {
    let (theta, x) = Self.data(60)
    var cfg = TrainingConfiguration()
    cfg.epochs = 400
    cfg.batchSize = 16
    cfg.learningRate = 3e-3
    cfg.warmupFraction = 0
    cfg.optimizer = .adam
    cfg.useEMA = ema
    cfg.validationFraction = 0.25
    cfg.earlyStoppingPatience = 10
    cfg.seed = 5
    let trainer = Trainer(model: TrainableModel(network: Self.bigNetwork(seed: 3)), objective: NoisyLabelObjective(),
                          configuration: cfg)
    let source = trainer.makeSource(.simulations(parameters: theta, data: x))
    try source.open()
    let validation = try #require(source.validation)
    let h = try trainer.train(source: source)
    #expect(h.stoppedEarly, "validation losses \(h.validationLoss)")
    #expect(h.loss.count < 400)
    let best = try #require(h.bestEpoch)
    #expect(h.validationLoss[best] == h.validationLoss.min())
    #expect(best < h.validationLoss.count - 1, "the last epoch should not be the best when stopping early")
    #expect(h.loss.last! < h.loss.first!)
    let restored = trainer.validationLoss(parameters: validation.parameters, data: validation.data)
    #expect(restored == h.validationLoss[best], "restored \(restored), best \(h.validationLoss[best])")
    if ema { #expect(trainer.ema!.shadow == trainer.model.buffers.map(\.valueArray)) }
  }

  /// The epoch cap of `TrainingConfiguration.converging` follows the data, and the patience covers a minimum of
  /// optimizer steps.
  @Test func epochCapAndPatienceScaleWithTheData() {
    let c = TrainingConfiguration.converging
    #expect(c.epochCap(stepsPerEpoch: 7, online: false) == 1429)  // 10^3 simulations: at least 10,000 steps
    #expect(c.epochCap(stepsPerEpoch: 703, online: false) == 100)  // 10^5: the 100 epochs as given
    #expect(c.epochCap(stepsPerEpoch: 7031, online: false) == 14)  // 10^6: at most 100,000 steps
    #expect(c.epochCap(stepsPerEpoch: 500_000, online: false) == 1)
    #expect(c.epochCap(stepsPerEpoch: 7, online: true) == 100)
    #expect(c.patience(stepsPerEpoch: 7) == 286 && c.patience(stepsPerEpoch: 703) == 10)
    #expect(TrainingConfiguration().epochCap(stepsPerEpoch: 7, online: false) == 100)
    #expect(TrainingConfiguration().patience(stepsPerEpoch: 7) == nil)
  }

  /// Online training with a time budget stops within a few seconds after it, whatever the epoch count says.
  @Test func timeBudgetStopsNearItsLimit() throws {
    var cfg = TrainingConfiguration()
    cfg.epochs = 1  // ignored with a budget
    cfg.stepsPerEpoch = 20
    cfg.batchSize = 32
    cfg.timeBudget = 2
    cfg.optimizer = .adam
    var c = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 2)
    c.widths = [32, 32]
    let trainer = Trainer(model: TrainableModel(network: TimeMLP(configuration: c, seed: 1)),
                          objective: NoisyLabelObjective(), configuration: cfg)
    var rates: [Float] = []
    let start = Date()
    let h = try trainer.train(.simulator({ n, rng in (rng.normalMatrix(rows: n, cols: 2), rng.normalMatrix(rows: n, cols: 2)) })) {
      rates.append($0.learningRate)
    }
    let seconds = Date().timeIntervalSince(start)
    #expect(seconds >= 2 && seconds < 7, "took \(seconds) s")
    #expect(h.reachedTimeBudget == true && h.steps > 20 && h.loss.count > 1)
    // The schedule runs over the budget: warm-up, then cosine decay towards 0 at the end.
    #expect(rates.max()! > 4 * rates.last!, "rates \(rates.prefix(3)) … \(rates.suffix(3))")
  }
}

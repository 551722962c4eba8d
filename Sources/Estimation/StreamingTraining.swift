// Offline training over many shard files with bounded memory: one pass for the standardization statistics,
// then epochs that visit the shards in a seeded random order, one shard in memory at a time.

import Foundation
import NeuralNet
import NumericCore

/// One shard of simulations that can be (re)loaded on demand: θ [n, d_θ] (constrained space) and x [n, d_x].
///
/// `load` is called once for the statistics pass and once per epoch, so only one shard is in memory at a time.
/// Rows with NaN or infinity are dropped by the training loop.
public struct TrainingShard: Sendable {
  /// A name for messages (usually the file path).
  public var name: String
  /// Reads the shard's θ and x.
  public var load: @Sendable () throws -> (parameters: Matrix, data: Matrix)

  public init(name: String, load: @escaping @Sendable () throws -> (parameters: Matrix, data: Matrix)) {
    self.name = name
    self.load = load
  }
}

/// What a pass over the shards found.
public struct ShardStatistics: Sendable, Equatable {
  /// Finite rows kept for training.
  public var rows: Int
  /// Rows dropped because θ or x held NaN or infinity.
  public var droppedRows: Int
}

/// Progress of streaming training after each step.
public struct ShardTrainingProgress: Sendable {
  public var epoch: Int
  /// Steps taken so far, 0-based, over all epochs.
  public var step: Int
  public var totalSteps: Int
  /// The step's loss (NaN when the step was skipped).
  public var loss: Float
  public var learningRate: Float
  public var skipped: Bool
}

extension PosteriorEstimator {
  /// The finite rows of a shard, with shapes checked against the model.
  func loadChecked(_ shard: TrainingShard) throws -> (parameters: Matrix, data: Matrix, dropped: Int) {
    let (theta, x) = try shard.load()
    guard theta.cols == parameterDimension else {
      throw EstimatorError.shapeMismatch(
        "\(shard.name): θ has \(theta.cols) columns, the model expects \(parameterDimension)")
    }
    guard x.cols == conditionDimension else {
      throw EstimatorError.shapeMismatch(
        "\(shard.name): x has \(x.cols) columns, the model expects \(conditionDimension)")
    }
    guard theta.rows == x.rows else {
      throw EstimatorError.shapeMismatch("\(shard.name): \(theta.rows) θ rows vs \(x.rows) x rows")
    }
    var bad = [Bool](repeating: false, count: theta.rows)
    for m in [theta, x] {
      m.withUnsafeBufferPointer { p in
        for i in 0..<m.rows where !bad[i] {
          for j in 0..<m.cols where !p[i * m.cols + j].isFinite {
            bad[i] = true
            break
          }
        }
      }
    }
    let keep = (0..<theta.rows).filter { !bad[$0] }
    if keep.count == theta.rows { return (theta, x, 0) }
    return (theta.gatherRows(keep), x.gatherRows(keep), theta.rows - keep.count)
  }

  /// Streaming offline training over `shards`.
  ///
  /// Pass 1 reads every shard once and accumulates the standardization statistics (Welford's running mean and
  /// M2, merged batch by batch, so the result equals the statistics of the concatenated data). Each epoch then
  /// visits the shards in an order drawn from `(seed, epoch)`, shuffles the rows of the shard in memory, and
  /// takes steps on full batches of `batchSize` (a shard's remainder is dropped when the shard holds at least one
  /// full batch). The learning-rate schedule spans the total number of steps. Only one shard is in memory at a
  /// time. `configuration.validationFraction` and early stopping are not used here.
  @discardableResult
  public func train(
    shards: [TrainingShard], configuration: TrainingConfiguration,
    progress: ((ShardTrainingProgress) -> Void)? = nil
  ) throws -> (history: TrainingHistory, statistics: ShardStatistics) {
    guard !shards.isEmpty else { throw TrainingError.emptyDataset }
    let c = configuration
    // Pass 1: statistics and per-shard sizes.
    var sizes: [Int] = []
    var stats = ShardStatistics(rows: 0, droppedRows: 0)
    var parameterStatistics = Standardizer(dimension: parameterDimension)
    var conditionStatistics = conditionDimension > 0 ? Standardizer(dimension: conditionDimension) : nil
    for shard in shards {
      let (theta, x, dropped) = try loadChecked(shard)
      parameterStatistics.update(transform.forward(theta))
      if x.cols > 0 { conditionStatistics?.update(x) }
      sizes.append(theta.rows)
      stats.rows += theta.rows
      stats.droppedRows += dropped
    }
    guard stats.rows > 0 else { throw TrainingError.emptyDataset }
    let b = max(1, min(c.batchSize, stats.rows))
    func steps(_ n: Int) -> Int { n == 0 ? 0 : max(1, n / min(b, n)) }
    let perEpoch = sizes.reduce(0) { $0 + steps($1) }
    let total = c.epochs * perEpoch
    let trainer = try makeTrainer(configuration, stepsPerEpoch: perEpoch)
    trainer.parameterStandardizer = parameterStatistics
    trainer.conditionStandardizer = conditionStatistics
    let schedule = LearningRateSchedule(peak: c.learningRate, totalSteps: total, warmupFraction: c.warmupFraction)
    var losses: [Double] = []
    let start = Date()
    var step = 0
    for epoch in 0..<c.epochs {
      var orderRng = Xoshiro(seed: c.seed, stream: 0x5A4D_0000 | UInt64(epoch))
      var sum = 0.0, n = 0
      for s in orderRng.permutation(shards.count) {
        let (theta, x, _) = try loadChecked(shards[s])
        guard theta.rows > 0 else { continue }
        var rowRng = Xoshiro(seed: c.seed, stream: (UInt64(epoch) << 24) | UInt64(s))
        let perm = rowRng.permutation(theta.rows)
        let bs = min(b, theta.rows)
        for k in 0..<steps(theta.rows) {
          let idx = Array(perm[(k * bs)..<((k + 1) * bs)])
          let lr = schedule(trainer.optimizer.step)
          let cond: Matrix? = x.cols > 0 ? x.gatherRows(idx) : nil
          let r = trainer.step(trainer.prepare(parameters: theta.gatherRows(idx), conditions: cond), learningRate: lr)
          if !r.skipped { sum += Double(r.loss); n += 1 }
          progress?(ShardTrainingProgress(epoch: epoch, step: step, totalSteps: total, loss: r.loss,
                                          learningRate: lr, skipped: r.skipped))
          step += 1
        }
      }
      losses.append(n > 0 ? sum / Double(n) : .nan)
    }
    var history = trainer.history  // steps and skipped steps counted by the trainer
    history.loss = losses
    history.seconds = Date().timeIntervalSince(start)
    absorb(trainer, history: history, simulations: stats.rows)
    return (history, stats)
  }
}

extension PosteriorEstimator {
  /// Records the built-in task the model was trained on (stored with the model's settings).
  public func setTask(_ name: String?) { settings.task = name }
}

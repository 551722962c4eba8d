// Where training batches come from: in-memory simulations, shard files streamed one at a time, or a simulator
// called for every batch. The one epoch loop (`Trainer.train(_:progress:)` in Trainer+Loops.swift) runs over any
// of them, with validation, early stopping and crash-safe checkpoints for each.

import FileFormats
import Foundation
import NumericCore

/// A simulator: given a count and a generator, returns θ [n, dθ] (constrained space) and x [n, dx] (or nil).
/// It must draw all its randomness from the generator so that training is reproducible and resumable.
/// It may throw (an external simulator that failed); the error ends training.
public typealias BatchSimulator = (_ count: Int, _ rng: inout Xoshiro) throws -> (parameters: Matrix, data: Matrix?)

/// One shard of simulations that can be (re)loaded on demand: θ [n, d_θ] (constrained space) and x [n, d_x].
///
/// `load` is called once for the statistics pass and then whenever an epoch reaches the shard, so only one shard
/// is in memory at a time. Rows with NaN or infinity are dropped.
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

/// The training data of a run.
public enum TrainingData {
  /// A fixed set of simulations θ [n, d_θ] (constrained space) and x [n, d_x] in memory.
  case simulations(parameters: Matrix, data: Matrix?)
  /// Simulations in several files, streamed one shard at a time (bounded memory).
  case shards([TrainingShard])
  /// Online training: fresh simulations for every batch (`TrainingConfiguration.stepsPerEpoch` batches per
  /// epoch; `validationSimulations` pairs simulated once for the validation loss).
  case simulator(BatchSimulator)

  /// The checkpoint tag of the data kind: a checkpoint written for one kind is refused by another.
  public var mode: TrainingMode {
    switch self {
    case .simulations: return .offline
    case .shards: return .shards
    case .simulator: return .online
    }
  }

  /// Whether the data are simulated during training (the optimizer default depends on it).
  public var isOnline: Bool { if case .simulator = self { return true } else { return false } }
}

/// What a source found when it was opened.
public struct SourceStatistics: Sendable, Equatable {
  /// Rows available for training (online: simulations drawn per epoch).
  public var trainingRows = 0
  /// Rows held out for the validation loss.
  public var validationRows = 0
  /// Rows dropped because θ or x held NaN or infinity (shards).
  public var droppedRows = 0

  public init(trainingRows: Int = 0, validationRows: Int = 0, droppedRows: Int = 0) {
    self.trainingRows = trainingRows
    self.validationRows = validationRows
    self.droppedRows = droppedRows
  }
}

/// Steps in one epoch: one pass over `rows` training rows in full batches of `batchSize` (the remainder is
/// dropped, but an epoch has at least one step when there is any row). This is the only definition of an epoch
/// for data held in memory or in shards; online training sets `stepsPerEpoch` instead.
public func epochSteps(rows: Int, batchSize: Int) -> Int {
  rows == 0 ? 0 : max(1, rows / max(1, min(batchSize, rows)))
}

/// The batch source behind `Trainer.train`: opens the data (validation split, statistics pass, shard sizes), then
/// hands out batches by (epoch, step) so that a resumed run reproduces the uninterrupted one.
public final class TrainingSource {
  public let data: TrainingData
  public let configuration: TrainingConfiguration
  public let parameterDimension: Int
  public let conditionDimension: Int
  /// Item structure of the condition rows (statistics per feature channel; nil: per column).
  public let conditionChannels: ChannelGroups?
  /// θ statistics are kept in the unconstrained space.
  let transform: ConstraintTransform
  public private(set) var statistics = SourceStatistics()
  /// Steps per epoch (after `open()`).
  public private(set) var stepsPerEpoch = 0
  /// The held-out validation pairs (after `open()`; nil: none).
  public private(set) var validation: (parameters: Matrix, data: Matrix?)?
  /// The loop stream's state before the first epoch.
  private(set) var initialStream = Xoshiro(seed: 0)
  private(set) var isOpen = false
  // Offline arrays: the training part and this epoch's permutation.
  private var theta = Matrix(rows: 0, cols: 0)
  private var x: Matrix?
  private var permutation: [Int] = []
  private var streamAfterEpoch: Xoshiro?
  // Shards: statistics of the training rows, sizes, the epoch's visiting order and the shard in memory.
  private var parameterStatistics: Standardizer?
  private var conditionStatistics: Standardizer?
  private var shardSizes: [Int] = []
  private var shardOrder: [Int] = []
  private var loaded: (position: Int, theta: Matrix, x: Matrix, permutation: [Int], firstStep: Int)?
  private var epoch = 0

  /// A source for a model with `transform.constraints.count` parameters and raw condition rows of width
  /// `conditionDimension` (0: unconditional).
  public init(_ data: TrainingData, configuration: TrainingConfiguration, transform: ConstraintTransform,
              conditionDimension: Int, conditionChannels: ChannelGroups? = nil) {
    self.data = data
    self.conditionChannels = conditionChannels
    self.configuration = configuration
    self.transform = transform
    self.parameterDimension = transform.constraints.count
    self.conditionDimension = conditionDimension
  }

  var batchSize: Int { max(1, configuration.batchSize) }

  /// Validation split, sizes and (shards) the statistics pass; idempotent.
  public func open() throws {
    guard !isOpen else { return }
    let c = configuration
    switch data {
    case .simulations(let parameters, let data):
      try checkShapes(parameters, data, name: "the training data")
      var rng = Xoshiro(seed: c.seed, stream: 0x5EED)
      let order = rng.permutation(parameters.rows)
      let nVal = Int((c.validationFraction * Double(parameters.rows)).rounded())
      let trainIdx = Array(order[nVal...]), valIdx = Array(order[..<nVal])
      guard !trainIdx.isEmpty else { throw TrainingError.emptyDataset }
      theta = parameters.gatherRows(trainIdx)
      x = data?.gatherRows(trainIdx)
      if nVal > 0 { validation = (parameters.gatherRows(valIdx), data?.gatherRows(valIdx)) }
      initialStream = rng
      statistics = SourceStatistics(trainingRows: theta.rows, validationRows: nVal)
      stepsPerEpoch = epochSteps(rows: theta.rows, batchSize: c.batchSize)
    case .shards(let shards):
      guard !shards.isEmpty else { throw TrainingError.emptyDataset }
      try openShards(shards)
      initialStream = Xoshiro(seed: c.seed, stream: 0x5EED)
    case .simulator(let simulator):
      var rng = Xoshiro(seed: c.seed, stream: 0xB47C)
      if c.validationSimulations > 0 {
        let v = try simulator(c.validationSimulations, &rng)
        try checkShapes(v.parameters, v.data, name: "the validation simulations")
        validation = v
      }
      initialStream = rng
      stepsPerEpoch = max(1, c.stepsPerEpoch)
      statistics = SourceStatistics(trainingRows: stepsPerEpoch * batchSize, validationRows: c.validationSimulations)
    }
    isOpen = true
  }

  /// Fits the trainer's standardizers before the first step of a fresh run (a resumed run has them from the
  /// checkpoint). Online training folds every batch in instead.
  func fitStatistics(_ trainer: Trainer) {
    switch data {
    case .simulations: trainer.updateStandardizers(parameters: theta, conditions: x)
    case .shards:
      if let p = parameterStatistics { trainer.parameterStandardizer = p }
      if conditionDimension > 0 { trainer.conditionStandardizer = conditionStatistics }
    case .simulator: break
    }
  }

  var updatesStatisticsPerBatch: Bool { data.isOnline }

  /// Called at the start of every epoch with the loop stream as it stands (offline: the state at the start of the
  /// epoch, which the checkpoint keeps, so the permutation is redrawn identically on resume).
  func beginEpoch(_ epoch: Int, stream: Xoshiro) {
    self.epoch = epoch
    switch data {
    case .simulations:
      var r = stream
      permutation = r.permutation(theta.rows)
      streamAfterEpoch = r
    case .shards:
      var orderRng = Xoshiro(seed: configuration.seed, stream: 0x5A4D_0000 | UInt64(epoch))
      shardOrder = orderRng.permutation(shardSizes.count)
      loaded = nil
    case .simulator: break
    }
  }

  /// The batch of step `step` (0-based within the epoch). Online training draws it from `stream`.
  func batch(step: Int, stream: inout Xoshiro) throws -> (parameters: Matrix, data: Matrix?) {
    switch data {
    case .simulations:
      let b = min(batchSize, theta.rows)
      let idx = Array(permutation[(step * b)..<((step + 1) * b)])
      return (theta.gatherRows(idx), x?.gatherRows(idx))
    case .shards(let shards):
      if loaded == nil || step < loaded!.firstStep
        || step >= loaded!.firstStep + shardSteps(shardSizes[shardOrder[loaded!.position]])
      {
        try loadShard(containing: step, shards: shards)
      }
      let l = loaded!
      let bs = min(batchSize, l.theta.rows)
      let k = step - l.firstStep
      let idx = Array(l.permutation[(k * bs)..<((k + 1) * bs)])
      return (l.theta.gatherRows(idx), conditionDimension > 0 ? l.x.gatherRows(idx) : nil)
    case .simulator(let simulator):
      let (p, d) = try simulator(configuration.batchSize, &stream)
      try checkShapes(p, d, name: "the simulator's batch")
      guard p.rows == configuration.batchSize else {
        throw TrainingError.shapeMismatch("the simulator returned \(p.rows) rows for a batch of \(configuration.batchSize)")
      }
      return (p, d)
    }
  }

  /// Called at the end of every epoch: the loop stream to carry into the next one.
  func endEpoch(stream: inout Xoshiro) {
    if case .simulations = data, let s = streamAfterEpoch { stream = s }
  }

  // MARK: Shards

  private func shardSteps(_ rows: Int) -> Int { epochSteps(rows: rows, batchSize: batchSize) }

  /// The finite training rows of shard `index` (its validation rows removed), with shapes checked.
  private func loadTraining(_ shard: TrainingShard, index: Int) throws
    -> (theta: Matrix, x: Matrix, validation: (Matrix, Matrix)?, dropped: Int)
  {
    let (theta, x, dropped) = try loadFinite(shard)
    let f = configuration.validationFraction
    guard f > 0, theta.rows > 0 else { return (theta, x, nil, dropped) }
    var rng = Xoshiro(seed: configuration.seed, stream: 0x5A1D_0000 | UInt64(index))
    let order = rng.permutation(theta.rows)
    let nVal = Int((f * Double(theta.rows)).rounded())
    let t = Array(order[nVal...]), v = Array(order[..<nVal])
    return (theta.gatherRows(t), x.gatherRows(t), nVal > 0 ? (theta.gatherRows(v), x.gatherRows(v)) : nil, dropped)
  }

  private func loadFinite(_ shard: TrainingShard) throws -> (Matrix, Matrix, Int) {
    let (theta, x) = try shard.load()
    try checkShapes(theta, x, name: shard.name)
    let (kept, dropped) = try NonFiniteRows.drop([theta, x], items: [nil, conditionChannels.map { ($0.items, $0.width) }])
    return (kept[0], kept[1], dropped)
  }

  /// Pass 1: every shard once, for the sizes, the validation rows and the standardization statistics (Welford's
  /// running mean and M2 merged batch by batch, equal to the statistics of the concatenated training rows).
  private func openShards(_ shards: [TrainingShard]) throws {
    var p = Standardizer(dimension: parameterDimension)
    var cstat = conditionDimension > 0
      ? Standardizer(dimension: conditionDimension, channels: conditionChannels, transform: configuration.conditionTransform)
      : nil
    var valTheta: [Matrix] = [], valX: [Matrix] = []
    for (i, shard) in shards.enumerated() {
      let l = try loadTraining(shard, index: i)
      p.update(transform.forward(l.theta))
      if l.x.cols > 0 { cstat?.update(l.x) }
      shardSizes.append(l.theta.rows)
      statistics.trainingRows += l.theta.rows
      statistics.droppedRows += l.dropped
      if let v = l.validation {
        valTheta.append(v.0)
        valX.append(v.1)
        statistics.validationRows += v.0.rows
      }
    }
    guard statistics.trainingRows > 0 else { throw TrainingError.emptyDataset }
    parameterStatistics = p
    conditionStatistics = cstat
    if !valTheta.isEmpty {
      validation = (Matrix.vstack(valTheta), conditionDimension > 0 ? Matrix.vstack(valX) : nil)
    }
    stepsPerEpoch = shardSizes.reduce(0) { $0 + shardSteps($1) }
  }

  /// Loads the shard that holds epoch step `step` and shuffles its rows with the stream of (epoch, shard).
  private func loadShard(containing step: Int, shards: [TrainingShard]) throws {
    var first = 0
    for (position, s) in shardOrder.enumerated() {
      let n = shardSteps(shardSizes[s])
      if step < first + n {
        let l = try loadTraining(shards[s], index: s)
        guard l.theta.rows == shardSizes[s] else {
          throw TrainingError.shapeMismatch("\(shards[s].name) changed during training (\(shardSizes[s]) rows, now \(l.theta.rows))")
        }
        var rowRng = Xoshiro(seed: configuration.seed, stream: (UInt64(epoch) << 24) | UInt64(s))
        loaded = (position, l.theta, l.x, rowRng.permutation(l.theta.rows), first)
        return
      }
      first += n
    }
    preconditionFailure("step \(step) beyond the epoch's \(first) steps")
  }

  // MARK: Shapes

  private func checkShapes(_ theta: Matrix, _ x: Matrix?, name: String) throws {
    guard theta.cols == parameterDimension else {
      throw TrainingError.shapeMismatch("\(name): θ has \(theta.cols) columns, the model expects \(parameterDimension)")
    }
    let xc = x?.cols ?? 0
    guard xc == conditionDimension else {
      throw TrainingError.shapeMismatch("\(name): x has \(xc) columns, the model expects \(conditionDimension)")
    }
    if let x, x.rows != theta.rows {
      throw TrainingError.shapeMismatch("\(name): \(theta.rows) θ rows vs \(x.rows) x rows")
    }
  }
}

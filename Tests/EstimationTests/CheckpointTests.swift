import Foundation
import Testing
import TestSupport
import Estimation
import NeuralNet
import NumericCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Crash-safe training: a run resumed from any checkpoint ends with the same weights, bit for bit, as the
/// uninterrupted run with the same seed and thread count.
@Suite(.serialized) struct CheckpointTests {
  static func estimator() throws -> PosteriorEstimator {
    var net = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 2)
    net.widths = [32, 32]
    net.dropout = 0
    return try PosteriorEstimator(parameterDimension: 2, conditionDimension: 2, network: net, seed: 9)
  }

  static func configuration() -> TrainingConfiguration {
    var cfg = TrainingConfiguration()
    cfg.epochs = 4
    // One shard per step (shards = min(threads, B/32)): the run does not depend on the thread count, which
    // other suites change while this one runs.
    cfg.batchSize = 32
    cfg.stepsPerEpoch = 20
    cfg.useEMA = true
    cfg.seed = 21
    cfg.learningRate = 1e-3
    return cfg
  }

  static func simulator(_ n: Int, _ rng: inout Xoshiro) -> (parameters: Matrix, data: Matrix?) {
    let theta = rng.normalMatrix(rows: n, cols: 2)
    var x = theta
    x.add(rng.normalMatrix(rows: n, cols: 2), scale: 0.5)
    return (theta, x)
  }

  static func dataset(_ n: Int) -> (Matrix, Matrix) {
    var rng = Xoshiro(seed: 4)
    let (theta, x) = simulator(n, &rng)
    return (theta, x!)
  }

  static func weights(_ e: PosteriorEstimator) -> [[Float]] { e.model.buffers.map(\.valueArray) + (e.emaWeights ?? []) }

  /// Trains once with checkpoints, snapshotting the checkpoint file after steps `stops`; then resumes a fresh
  /// estimator from each snapshot and compares the final weights with the uninterrupted run.
  func resumeFromSnapshots(mode: TrainingMode, stops: [Int]) throws {
    let (theta, x) = Self.dataset(1000)
    var cfg = Self.configuration()
    let data: TrainingData
    switch mode {
    case .online:
      cfg.validationSimulations = 128
      data = .simulator(Self.simulator)
    case .offline:
      cfg.validationFraction = 0.1
      cfg.earlyStoppingPatience = 50
      data = .simulations(parameters: theta, data: x)
    case .shards:
      cfg.validationFraction = 0.1
      cfg.earlyStoppingPatience = 50
      // Three shards of 150, 130 and 120 rows (the first 400): 135, 117 and 108 after the validation split, 4 + 3 + 3 steps.
      data = .shards([0..<150, 150..<280, 280..<400].enumerated().map { k, r in
        TrainingShard(name: "shard\(k)") { (theta.rows(r), x.rows(r)) }
      })
    }
    let root = temporaryDirectory("ckpt")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let live = CheckpointOptions(directory: root + "/live", everySteps: 3)
    let reference = try Self.estimator()
    var snapshots: [Int: String] = [:]
    let fm = FileManager.default
    let progress: (TrainingProgress) -> Void = { p in
      let k = p.step + 1
      guard stops.contains(k), fm.fileExists(atPath: live.path) else { return }
      let dir = root + "/snap\(k)"
      try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
      try? fm.copyItem(atPath: live.path, toPath: dir + "/checkpoint.safetensors")
      snapshots[k] = dir
    }
    let h0 = try reference.train(data, configuration: cfg, checkpoint: live, progress: progress)
    #expect(h0.validationLoss.count == cfg.epochs)
    // Checkpointing itself does not change the run.
    let plain = try Self.estimator()
    try plain.train(data, configuration: cfg)
    #expect(Self.weights(plain) == Self.weights(reference))
    #expect(snapshots.count == stops.count)
    for (k, dir) in snapshots.sorted(by: { $0.key < $1.key }) {
      let resumed = try Self.estimator()
      let opts = CheckpointOptions(directory: dir, everySteps: 3)
      let h = try resumed.train(data, configuration: cfg, checkpoint: opts, resume: true)
      #expect(Self.weights(resumed) == Self.weights(reference), "resumed after step \(k)")
      #expect(h.loss == h0.loss && h.validationLoss == h0.validationLoss && h.steps == h0.steps, "history after \(k)")
    }
  }

  @Test func offlineResumeIsBitIdentical() throws {
    try resumeFromSnapshots(mode: .offline, stops: [4, 28, 29, 57, 100])
  }

  @Test func shardedResumeIsBitIdentical() throws {
    try resumeFromSnapshots(mode: .shards, stops: [4, 7, 10, 13, 31])
  }

  @Test func onlineResumeIsBitIdentical() throws {
    try resumeFromSnapshots(mode: .online, stops: [4, 21, 60])
  }

  @Test func mismatchedCheckpointIsRefused() throws {
    let (theta, x) = Self.dataset(400)
    let dir = temporaryDirectory("ckpt")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var cfg = Self.configuration()
    cfg.epochs = 1
    try Self.estimator().train(.simulations(parameters: theta, data: x), configuration: cfg,
                               checkpoint: CheckpointOptions(directory: dir, everySteps: 2))
    var other = cfg
    other.learningRate = 2e-3
    #expect(throws: CheckpointError.self) {
      try Self.estimator().train(.simulations(parameters: theta, data: x), configuration: other,
                                 checkpoint: CheckpointOptions(directory: dir), resume: true)
    }
    #expect(throws: CheckpointError.self) {
      try Self.estimator().train(.simulator(Self.simulator), configuration: cfg, checkpoint: CheckpointOptions(directory: dir), resume: true)
    }
    // A truncated checkpoint is reported, not trusted.
    let path = CheckpointOptions(directory: dir).path
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
    #expect(throws: CheckpointError.self) {
      try Self.estimator().train(.simulations(parameters: theta, data: x), configuration: cfg, checkpoint: CheckpointOptions(directory: dir), resume: true)
    }
  }
}

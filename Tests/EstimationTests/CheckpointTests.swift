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
  func resumeFromSnapshots(online: Bool, stops: [Int]) throws {
    var cfg = Self.configuration()
    let (theta, x) = Self.dataset(1000)
    if online { cfg.validationSimulations = 128 } else { cfg.validationFraction = 0.1; cfg.earlyStoppingPatience = 50 }
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
    let h0: TrainingHistory
    if online {
      h0 = try reference.train(simulator: Self.simulator, configuration: cfg, checkpoint: live, resume: false, progress: progress)
    } else {
      h0 = try reference.train(parameters: theta, data: x, configuration: cfg, checkpoint: live, resume: false, progress: progress)
    }
    // Checkpointing itself does not change the run.
    let plain = try Self.estimator()
    if online { try plain.train(simulator: Self.simulator, configuration: cfg) } else {
      try plain.train(parameters: theta, data: x, configuration: cfg)
    }
    #expect(Self.weights(plain) == Self.weights(reference))
    #expect(snapshots.count == stops.count)
    for (k, dir) in snapshots.sorted(by: { $0.key < $1.key }) {
      let resumed = try Self.estimator()
      let opts = CheckpointOptions(directory: dir, everySteps: 3)
      let h: TrainingHistory
      if online {
        h = try resumed.train(simulator: Self.simulator, configuration: cfg, checkpoint: opts, progress: nil)
      } else {
        h = try resumed.train(parameters: theta, data: x, configuration: cfg, checkpoint: opts, progress: nil)
      }
      #expect(Self.weights(resumed) == Self.weights(reference), "resumed after step \(k)")
      #expect(h.loss == h0.loss && h.validationLoss == h0.validationLoss && h.steps == h0.steps, "history after \(k)")
    }
  }

  @Test func offlineResumeIsBitIdentical() throws {
    try resumeFromSnapshots(online: false, stops: [4, 28, 29, 57, 100])
  }

  @Test func onlineResumeIsBitIdentical() throws {
    try resumeFromSnapshots(online: true, stops: [4, 21, 60])
  }

  @Test func mismatchedCheckpointIsRefused() throws {
    let (theta, x) = Self.dataset(400)
    let dir = temporaryDirectory("ckpt")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var cfg = Self.configuration()
    cfg.epochs = 1
    try Self.estimator().train(parameters: theta, data: x, configuration: cfg,
                               checkpoint: CheckpointOptions(directory: dir, everySteps: 2))
    var other = cfg
    other.learningRate = 2e-3
    #expect(throws: CheckpointError.self) {
      try Self.estimator().train(parameters: theta, data: x, configuration: other,
                                 checkpoint: CheckpointOptions(directory: dir))
    }
    #expect(throws: CheckpointError.self) {
      try Self.estimator().train(simulator: Self.simulator, configuration: cfg, checkpoint: CheckpointOptions(directory: dir))
    }
    // A truncated checkpoint is reported, not trusted.
    let path = CheckpointOptions(directory: dir).path
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
    #expect(throws: CheckpointError.self) {
      try Self.estimator().train(parameters: theta, data: x, configuration: cfg, checkpoint: CheckpointOptions(directory: dir))
    }
  }
}

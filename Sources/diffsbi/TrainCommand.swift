// `diffsbi train`: trains a posterior estimator on a task's simulations or on data files.

import ArgumentParser
import DiffusionSBI
import Foundation

/// Network and optimizer options shared by train, benchmark and demo.
struct ModelOptions: ParsableArguments {
  @Option(help: "Generative method: \(EstimatorMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
  var method: EstimatorMethod = .diffusion
  @Option(help: "Noise schedule: \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")).")
  var schedule: ScheduleKind = .edm
  @Option(help: "Variance type: \(VarianceType.allCases.map(\.rawValue).joined(separator: ", ")).")
  var variance: VarianceType = .preserving
  @Option(help: "Network prediction target: \(Prediction.allCases.map(\.rawValue).joined(separator: ", ")).")
  var prediction: Prediction = .F
  @Option(help: "Loss weighting: \(LossWeighting.allCases.map(\.rawValue).joined(separator: ", ")).")
  var weighting: LossWeighting = .edm
  @Option(help: "Training epochs.")
  var epochs = 100
  @Option(help: "Batch size.")
  var batchSize = 128
  @Option(help: "Peak learning rate (cosine decay with warm-up).")
  var learningRate: Float = 5e-4
  @Option(help: "Hidden layer widths of the TimeMLP, comma-separated.")
  var widths = "256,256,256,256,256"
  @Option(help: "stable-consistency: optimizer steps over which the tangent warm-up factor rises from 0 to 1 (0: none).")
  var tangentWarmup = 0
  @Option(help: "Probability of training on the null condition, for classifier-free guidance (diffusion and flow matching).")
  var conditionDropout = 0.0

  func validate() throws {
    if epochs < 1 { throw ValidationError("--epochs must be at least 1") }
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    if !(learningRate > 0) { throw ValidationError("--learning-rate must be positive") }
    if tangentWarmup < 0 { throw ValidationError("--tangent-warmup must be at least 0") }
    if !(0..<1).contains(conditionDropout) { throw ValidationError("--condition-dropout must be in [0, 1)") }
    _ = try parsedWidths()
  }

  func parsedWidths() throws -> [Int] {
    let w = try parseList(widths, option: "--widths") { Int($0) }
    guard w.allSatisfy({ $0 > 0 }) else { throw InputError("--widths: widths must be positive") }
    return w
  }

  func settings() throws -> EstimatorSettings {
    return EstimatorSettings(
      method: method,
      diffusion: DiffusionConfiguration(schedule: schedule, variance: variance, prediction: prediction,
                                        weighting: weighting),
      stableConsistency: method == .stableConsistency
        ? StableConsistencySettings(tangentWarmupSteps: tangentWarmup) : nil,
      conditionDropout: conditionDropout)
  }

  func training(seed: UInt64) -> TrainingConfiguration {
    var c = TrainingConfiguration()
    c.epochs = epochs
    c.batchSize = batchSize
    c.learningRate = learningRate
    c.seed = seed
    return c
  }

  func makeEstimator(parameters: Int, data: Int, constraints: [Constraint]?, seed: UInt64) throws
    -> PosteriorEstimator
  {
    var net = TimeMLPConfiguration(inputDimension: parameters, conditionDimension: data)
    net.widths = try parsedWidths()
    let e = try PosteriorEstimator(parameterDimension: parameters, conditionDimension: data, settings: settings(),
                                   network: net, constraints: constraints, seed: seed)
    return e
  }
}

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a posterior estimator on simulations (a task) or on data files.",
    discussion: """
      Defaults are the review's recommendation: diffusion, EDM schedule, variance preserving, F-prediction, \
      ε-loss with EDM weighting. --data takes .npz files (arrays theta and x), pairs of .npy files (theta then x), \
      or CSV files with columns theta* and x*. Several files are streamed one at a time (bounded memory). Rows \
      with NaN or infinity are dropped and counted (refused with --strict). MODEL is a directory (config JSON + \
      safetensors weights).
      """)

  @Option(help: "Built-in task to simulate from (and whose prior support constrains θ).")
  var task: String?
  @Option(help: "Simulation budget with --task.")
  var simulations: Int?
  @Option(parsing: .upToNextOption, help: "Training data files (.npz, .npy pairs, .csv).")
  var data: [String] = []
  @Option(help: "Output model directory.")
  var out: String
  @Flag(help: "Online training: fresh simulations for every batch (with --task).")
  var online = false
  @Option(help: "Fraction of the data held out for the validation loss (single data set only).")
  var validationFraction = 0.0
  @Flag(help: "Refuse data with NaN or infinite rows instead of dropping them.")
  var strict = false
  @Option(help: "Write crash-safe checkpoints (weights, optimizer, EMA, RNG and data position) to this directory.")
  var checkpoint: String?
  @Option(help: "Seconds between checkpoints (with --checkpoint; one is also written at the end).")
  var checkpointEvery = 60.0
  @Flag(help: "Continue from the checkpoint in --checkpoint DIR when one exists (same command, seed and threads).")
  var resume = false
  @OptionGroup var model: ModelOptions
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if task == nil && data.isEmpty { throw ValidationError("give --task NAME --simulations N, or --data FILE...") }
    if task != nil && data.isEmpty && simulations == nil { throw ValidationError("--task needs --simulations N") }
    if let s = simulations, s < 1 { throw ValidationError("--simulations must be at least 1") }
    if online && (task == nil || !data.isEmpty) { throw ValidationError("--online needs --task and no --data") }
    if !(0..<1).contains(validationFraction) { throw ValidationError("--validation-fraction must be in [0, 1)") }
    if resume && checkpoint == nil { throw ValidationError("--resume needs --checkpoint DIR") }
    if checkpoint != nil && data.count > 1 {
      throw ValidationError("--checkpoint works with --task or a single data file, not with streamed shards")
    }
    if !(checkpointEvery > 0) { throw ValidationError("--checkpoint-every must be positive") }
  }

  /// Checkpoint settings, creating the directory.
  func checkpointOptions() throws -> CheckpointOptions? {
    guard let dir = checkpoint else { return nil }
    do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
      throw InputError("\(dir): cannot create the checkpoint directory")
    }
    return CheckpointOptions(directory: dir, everySteps: nil, everySeconds: checkpointEvery)
  }

  /// Offline training with or without checkpoints.
  func trainOffline(_ estimator: PosteriorEstimator, _ theta: Matrix, _ x: Matrix, _ config: TrainingConfiguration,
                    _ reporter: ProgressReporter) throws {
    let progress = trainingProgress(reporter, epochs: config.epochs, batchSize: config.batchSize)
    if let options = try checkpointOptions() {
      try estimator.train(parameters: theta, data: x, configuration: config, checkpoint: options, resume: resume,
                          progress: progress)
    } else {
      try estimator.train(parameters: theta, data: x, configuration: config, progress: progress)
    }
  }

  func run() throws {
    common.apply()
    _ = try model.settings()
    let t = try task.map(lookupTask)
    let summary = try trainModel(task: t)
    try common.emit(summary)
  }

  func trainModel(task t: (any SimulationTask)?) throws -> [String: Any] {
    var config = model.training(seed: common.seed)
    config.validationFraction = validationFraction
    let reporter = ProgressReporter(label: "train", mode: common.progressMode)
    let estimator: PosteriorEstimator
    var dropped = 0
    if data.isEmpty, let t {
      let n = simulations!
      estimator = try model.makeEstimator(parameters: t.parameterDimension, data: t.dataDimension,
                                          constraints: constraints(for: t), seed: common.seed)
      if online {
        config.stepsPerEpoch = max(1, n / (config.epochs * config.batchSize))
        let simulator: Trainer.Simulator = { count, rng in
          let j = t.sampleJoint(count: count, seed: rng.next())
          return (j.parameters, j.data)
        }
        let progress = trainingProgress(reporter, epochs: config.epochs, batchSize: config.batchSize)
        if let options = try checkpointOptions() {
          try estimator.train(simulator: simulator, configuration: config, checkpoint: options, resume: resume,
                              progress: progress)
        } else {
          try estimator.train(simulator: simulator, configuration: config, progress: progress)
        }
      } else {
        common.info("train: simulating \(n) pairs from \(t.name)")
        let (theta, x) = t.sampleJoint(count: n, seed: common.seed)
        let (kept, d) = try NonFiniteRows.drop([theta, x])
        dropped = d
        try trainOffline(estimator, kept[0], kept[1], config, reporter)
      }
    } else {
      let files = try SimulationFile.group(data)
      let shapes = try files.map { try $0.shapes() }
      let dt = shapes[0].thetaCols, dx = shapes[0].xCols
      for (f, s) in zip(files, shapes) where s.thetaCols != dt || s.xCols != dx {
        throw InputError("\(f.name): theta/x have \(s.thetaCols)/\(s.xCols) columns, but \(files[0].name) has \(dt)/\(dx)")
      }
      if let t, t.parameterDimension != dt || t.dataDimension != dx {
        throw InputError("\(files[0].name): theta/x have \(dt)/\(dx) columns, task \(t.name) has \(t.parameterDimension)/\(t.dataDimension)")
      }
      estimator = try model.makeEstimator(parameters: dt, data: dx, constraints: t.map(constraints(for:)),
                                          seed: common.seed)
      let strict = self.strict
      if files.count == 1 {
        let (theta, x) = try files[0].load()
        let (kept, d) = try NonFiniteRows.drop([theta, x])
        if strict && d > 0 { throw InputError("\(files[0].name): \(d) rows contain NaN or infinity (--strict)") }
        dropped = d
        guard kept[0].rows > 0 else { throw InputError("\(files[0].name): no finite rows to train on") }
        try trainOffline(estimator, kept[0], kept[1], config, reporter)
      } else {
        let shards = files.map { f in
          TrainingShard(name: f.name) {
            let (theta, x) = try f.load()
            if strict {
              let d = try NonFiniteRows.drop([theta, x]).dropped
              if d > 0 { throw InputError("\(f.name): \(d) rows contain NaN or infinity (--strict)") }
            }
            return (theta, x)
          }
        }
        let total = shapes.reduce(0) { $0 + $1.rows }
        common.info("train: streaming \(total) rows from \(files.count) files")
        let r = try estimator.train(
          shards: shards, configuration: config,
          progress: shardProgress(reporter, epochs: config.epochs, batchSize: config.batchSize))
        dropped = r.statistics.droppedRows
      }
    }
    if dropped > 0 { common.info("train: dropped \(dropped) rows with NaN or infinity") }
    try saveModel(estimator, task: t?.name, to: out)
    let finalLoss = estimator.settings.lossHistory.last ?? .nan
    reporter.finish("\(estimator.settings.lossHistory.count) epochs in \(fmt(estimator.settings.trainSeconds, 1)) s, "
                    + "final loss \(fmt(finalLoss, 4)) → \(out)")
    return [
      "parameters": estimator.parameterCount, "train_seconds": estimator.settings.trainSeconds,
      "final_loss": finalLoss, "simulations": estimator.settings.simulations, "dropped_rows": dropped,
      "epochs": estimator.settings.lossHistory.count, "out": out, "method": model.method.rawValue,
    ]
  }
}

/// Saves a model directory, recording the task name; nothing is left behind if writing fails.
func saveModel(_ estimator: PosteriorEstimator, task: String?, to path: String) throws {
  if let task { estimator.setTask(task) }
  let existed = FileManager.default.fileExists(atPath: path)
  do { try estimator.save(to: path) } catch {
    if !existed { try? FileManager.default.removeItem(atPath: path) }
    throw error
  }
}

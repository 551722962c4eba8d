// `diffsbi train`: trains a posterior estimator on a task's simulations or on data files.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a posterior estimator on simulations (a task) or on data files.",
    discussion: """
      Defaults are the review's recommendation: diffusion, EDM schedule, variance preserving, F-prediction, \
      ε-loss with EDM weighting; AdamW (weight decay 5e-3) for offline data and Adam online, peak learning rate \
      5e-4 with warm-up and cosine decay, gradient clipping at norm 1.5. Offline training holds 10 % of the rows \
      out, stops once the validation loss has not improved for 10 epochs (and 2,000 steps), keeps the best \
      weights, and caps the epochs at 100 stretched to at least 10,000 and shrunk to at most 100,000 steps \
      (--epochs sets the cap, --validation-fraction 0 turns validation off). Options that do not apply to the chosen \
      method or data are refused. --data takes .npz files (arrays theta and x), pairs of .npy files (theta then x), \
      or CSV files with columns theta* and x*. Several files are streamed one at a time (bounded memory), with \
      validation, early stopping and checkpoints as for one file. Rows \
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
  @Flag(help: "Online training: fresh simulations for every batch (with --task or --simulator).")
  var online = false
  @Option(help: "With --data: the prior θ was drawn from; with --simulator: the prior to draw θ from (JSON as sample --prior: gaussian, uniform, mixture, lognormal, product). Sets the constraint transforms and is stored with the model.")
  var prior: String?
  @OptionGroup(title: "External simulator") var external: SimulatorOptions
  @Flag(help: "With --simulator --online: keep every simulation in OUT/simulations/online-*.npz.")
  var keepSimulations = false
  @OptionGroup(title: "Sequential inference for one observation") var sequential: SequentialOptions
  @Flag(help: "Refuse data with NaN or infinite rows instead of dropping them.")
  var strict = false
  @Option(help: "With --online: train on fresh simulations for this long, in seconds or with a suffix s, m or h (90, 90s, 25m, 1.5h); the learning-rate schedule runs over the budget. Replaces --simulations and --epochs.")
  var timeBudget: String?
  @Option(help: "Train K estimators (seeds seed, seed+1, …; offline, each holds out its own validation rows) and sample from their equal mixture.")
  var ensemble = 1
  @Option(help: "Write crash-safe checkpoints (weights, optimizer, EMA, RNG and data position) to this directory.")
  var checkpoint: String?
  @Option(help: "Seconds between checkpoints (with --checkpoint; default 60; one is also written at the end).")
  var checkpointEvery: Double?
  @Flag(help: """
    Continue from the checkpoint in --checkpoint DIR when one exists (same command, seed and threads); with \
    --simulator, also continue the simulations saved in OUT/simulations.
    """)
  var resume = false
  @Flag(help: """
    Train a hierarchical model (a global and a local network, Documentation/Composition.md): --data FILE.npz with \
    theta_global [n, G], theta_local [n, L] and x [n, D] or [n, N, D] (one group per row), or a hierarchical task \
    (hierarchical_gaussian, hierarchical_drift_diffusion) with --simulations N. --prior states the hyperprior.
    """)
  var hierarchical = false
  @OptionGroup(title: "Estimator") var model: ModelOptions
  @OptionGroup(title: "Field generation") var field: FieldOptions
  @OptionGroup(title: "Training") var training: TrainingOptions
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if field.isField { try validateField() }
    if hierarchical { return try validateHierarchical() }
    let simulator = external.simulator != nil
    if task == nil && data.isEmpty && !simulator {
      throw ValidationError("give --task NAME --simulations N, --data FILE..., or --simulator CMD --prior FILE --simulations N")
    }
    if simulator && !data.isEmpty { throw ValidationError("give --simulator or --data, not both") }
    if simulator && task == nil && prior == nil { throw ValidationError("--simulator needs --prior FILE or --task NAME for θ") }
    if let b = timeBudget {
      guard let seconds = parseDuration(b) else {
        throw ValidationError("--time-budget: expected a positive duration such as 300, 90s, 25m or 1.5h, got '\(b)'")
      }
      if !online { throw ValidationError("--time-budget applies to --online training") }
      if simulations != nil { throw ValidationError("--time-budget replaces --simulations; give one of them") }
      if training.epochs != nil { throw ValidationError("--time-budget replaces --epochs; give one of them") }
      if training.validationFraction != nil || training.patience != nil {
        throw ValidationError("--validation-fraction and --patience need --simulations, not --time-budget")
      }
      if model.method == .consistency {
        throw ValidationError("--time-budget: the consistency curriculum needs --simulations and --epochs")
      }
      _ = seconds
    }
    if ensemble < 1 || ensemble > 100 { throw ValidationError("--ensemble must be in 1…100") }
    if ensemble > 1 {
      if checkpoint != nil || resume { throw ValidationError("--ensemble does not take --checkpoint or --resume") }
      if simulator && online { throw ValidationError("--ensemble does not apply to --simulator --online") }
      if timeBudget != nil { throw ValidationError("--ensemble does not take --time-budget") }
    }
    if (task != nil || simulator) && data.isEmpty && simulations == nil && timeBudget == nil {
      throw ValidationError("\(simulator ? "--simulator" : "--task") needs --simulations N")
    }
    if !data.isEmpty && simulations != nil { throw ValidationError("--simulations applies to --task without --data") }
    if let s = simulations, s < 1 { throw ValidationError("--simulations must be at least 1") }
    if online && ((task == nil && !simulator) || !data.isEmpty) {
      throw ValidationError("--online needs --task or --simulator, and no --data")
    }
    if strict && data.isEmpty { throw ValidationError("--strict applies to --data files") }
    if prior != nil && data.isEmpty && !simulator {
      throw ValidationError("--prior applies to --data files or --simulator (a task's prior is built in)")
    }
    if prior != nil && task != nil { throw ValidationError("give --task or --prior, not both") }
    if resume && checkpoint == nil && !(simulator && !online) {
      throw ValidationError("--resume needs --checkpoint DIR (or --simulator without --online, for saved simulations)")
    }
    if keepSimulations && !(simulator && online) { throw ValidationError("--keep-simulations applies to --simulator with --online") }
    if sequential.isSequential {
      if online || !data.isEmpty || (task == nil && !simulator) {
        throw ValidationError("--rounds and --observation need --task or --simulator with --simulations, without --online or --data")
      }
      if resume || checkpoint != nil { throw ValidationError("--resume and --checkpoint do not apply to sequential training") }
      if ensemble > 1 { throw ValidationError("--ensemble does not apply to sequential training") }
    }
    if checkpointEvery != nil && checkpoint == nil { throw ValidationError("--checkpoint-every needs --checkpoint DIR") }
    if let e = checkpointEvery, !(e > 0) { throw ValidationError("--checkpoint-every must be positive") }
  }

  /// Checkpoint settings, creating the directory.
  func checkpointOptions() throws -> CheckpointOptions? {
    guard let dir = checkpoint else { return nil }
    do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
      throw InputError("\(dir): cannot create the checkpoint directory")
    }
    return CheckpointOptions(directory: dir, everySteps: nil, everySeconds: checkpointEvery ?? 60)
  }

  func run() throws {
    common.apply()
    if hierarchical { return try common.emit(try trainHierarchical()) }
    let t = try task.map(lookupTask)
    let summary = try trainModel(task: t)
    try common.emit(summary)
  }

  /// θ columns and the shape of one data set ([d], or [N, D] for sets and series) of the task or the --data files,
  /// with a name for messages.
  func dataShape(task t: (any SimulationTask)?) throws -> (thetaCols: Int, xShape: [Int], source: String) {
    guard !data.isEmpty else { return (t!.parameterDimension, t!.dataShape, t!.name) }
    let first = try SimulationFile.group(data)[0]
    let s = try first.shapes()
    return (s.thetaCols, s.xShape, first.name)
  }

  /// The prior of --prior for `dimension` parameters, with its JSON text.
  func statedPrior(dimension: Int) throws -> (prior: any Prior, json: String)? {
    guard let path = prior else { return nil }
    let data = try readSpecification(path)
    do {
      return (try PriorSpecification.parse(data, dimension: dimension), String(decoding: data, as: UTF8.self))
    } catch let e as SpecificationError {
      throw InputError("\(path): \(e)")
    }
  }

  /// Refuses θ rows outside the support of the constraint transforms (they would map to non-finite values).
  static func checkSupport(_ theta: Matrix, _ constraints: [Constraint]?, name: String) throws {
    guard let constraints else { return }
    var outside = 0
    for r in 0..<theta.rows {
      let inside = constraints.indices.allSatisfy { constraints[$0].contains(Double(theta[r, $0])) }
      if !inside { outside += 1 }
    }
    if outside > 0 { throw InputError("\(name): \(outside) θ rows lie outside the prior's support") }
  }

  /// The training data the options describe, and the estimator's dimensions.
  ///
  /// `items` declares x's rows as padded items (sets, series): all-NaN items are padding, never dropped.
  func trainingData(
    task t: (any SimulationTask)?, constraints: [Constraint]?, items: (count: Int, width: Int)?,
    configuration config: inout TrainingConfiguration
  ) throws
    -> (data: TrainingData, dropped: Int)
  {
    if data.isEmpty, let t {
      if online {
        applyOnlineBudget(&config)
        let simulator: BatchSimulator = { count, rng in
          let j = t.sampleJoint(count: count, seed: rng.next())
          return (j.parameters, j.data)
        }
        return (.simulator(simulator), 0)
      }
      let n = simulations!
      common.info("train: simulating \(n) pairs from \(t.name)")
      let (theta, x) = t.sampleJoint(count: n, seed: common.seed)
      let (kept, dropped) = try NonFiniteRows.drop([theta, x], items: [nil, items])
      guard kept[0].rows > 0 else { throw InputError("\(t.name): no finite simulations to train on") }
      return (.simulations(parameters: kept[0], data: kept[1]), dropped)
    }
    let files = try SimulationFile.group(data)
    let shapes = try files.map { try $0.shapes() }
    let dt = shapes[0].thetaCols, xs = shapes[0].xShape
    for (f, s) in zip(files, shapes) where s.thetaCols != dt || s.xShape != xs {
      throw InputError("\(f.name): theta has \(s.thetaCols) columns and x data sets of shape \(s.xShape), but "
                       + "\(files[0].name) has \(dt) and \(xs)")
    }
    if let t, t.parameterDimension != dt || t.dataDimension != xs.reduce(1, *) {
      throw InputError("\(files[0].name): theta/x have \(dt)/\(xs.reduce(1, *)) columns, task \(t.name) has \(t.parameterDimension)/\(t.dataDimension)")
    }
    let strict = self.strict
    if files.count == 1 {
      let (theta, x) = try files[0].load(padding: items != nil)
      let (kept, d) = try NonFiniteRows.drop([theta, x], items: [nil, items])
      if strict && d > 0 { throw InputError("\(files[0].name): \(d) rows contain NaN or infinity (--strict)") }
      try Self.checkSupport(kept[0], constraints, name: files[0].name)
      guard kept[0].rows > 0 else { throw InputError("\(files[0].name): no finite rows to train on") }
      return (.simulations(parameters: kept[0], data: kept[1]), d)
    }
    let shards = files.map { f in
      TrainingShard(name: f.name) {
        let (theta, x) = try f.load(padding: items != nil)
        if strict || constraints != nil {  // the training loop drops non-finite rows itself
          let (kept, d) = try NonFiniteRows.drop([theta, x], items: [nil, items])
          if strict && d > 0 { throw InputError("\(f.name): \(d) rows contain NaN or infinity (--strict)") }
          try Self.checkSupport(kept[0], constraints, name: f.name)
        }
        return (theta, x)
      }
    }
    common.info("train: streaming \(shapes.reduce(0) { $0 + $1.rows }) rows from \(files.count) files")
    return (.shards(shards), 0)
  }

  func trainModel(task t: (any SimulationTask)?) throws -> [String: Any] {
    if field.isField { return try trainFieldGenerator(task: t) }
    if sequential.isSequential { return try trainSequentially(task: t) }
    var config = try training.configuration(seed: common.seed, online: online)
    config.timeBudget = timeBudget.flatMap(parseDuration)
    applySuggestedTransform(&config, task: t)
    // A new estimator for a seed (ensemble member k gets seed + k).
    let build: (UInt64) throws -> PosteriorEstimator
    var probe: PosteriorEstimator? = nil
    let data: TrainingData, droppedBefore: Int
    var finish: () throws -> Void = {}
    if external.simulator != nil {
      let source = try SimulatorPrior.resolve(priorFile: prior, task: task)
      let made = try simulatorData(source, configuration: &config)
      build = { [model, external] seed in
        let e = try model.makeEstimator(
          parameters: source.prior.dimension, dataShape: made.shape,
          constraints: source.task.map(constraints(for:)) ?? coordinateConstraints(of: source.prior),
          seed: seed, source: "the output of '\(external.simulator!)'")
        if let json = source.json { try e.setTrainingPrior(specification: json) }
        return e
      }
      (data, droppedBefore, finish) = (made.data, made.dropped, made.finish)
    } else {
      let shape = try dataShape(task: t)
      let stated = self.data.isEmpty ? nil : try statedPrior(dimension: shape.thetaCols)
      let transforms = stated.map { coordinateConstraints(of: $0.prior) } ?? t.map(constraints(for:))
      build = { [model] seed in
        let e = try model.makeEstimator(parameters: shape.thetaCols, dataShape: shape.xShape,
                                        constraints: transforms, seed: seed, source: shape.source)
        if let stated { try e.setTrainingPrior(specification: stated.json) }
        return e
      }
      let made = try build(common.seed)
      probe = made
      let items = made.conditionChannels.map { (count: $0.items, width: $0.width) }
      (data, droppedBefore) = try trainingData(task: t, constraints: stated.map { _ in transforms! }, items: items,
                                               configuration: &config)
    }
    var members: [PosteriorEstimator] = []
    var histories: [TrainingHistory] = []
    let reporter = ProgressReporter(label: "train", mode: common.progressMode)
    do {
      for k in 0..<ensemble {
        var c = config
        c.seed = common.seed &+ UInt64(k)
        let estimator = try k == 0 ? probe ?? build(c.seed) : build(c.seed)
        if ensemble > 1 { common.info("train: ensemble member \(k + 1)/\(ensemble), seed \(c.seed)") }
        let history = try estimator.train(
          data, configuration: c, checkpoint: try checkpointOptions(), resume: resume,
          progress: trainingProgress(reporter, batchSize: c.batchSize))
        if ensemble > 1 { common.info("train: member \(k + 1): " + trainingLine(estimator, history, c)) }
        members.append(estimator)
        histories.append(history)
      }
    } catch {
      try? finish()
      throw error
    }
    try finish()
    let estimator = members[0], history = histories[0]
    let dropped = droppedBefore + estimator.lastSourceStatistics.droppedRows
    if dropped > 0 { common.info("train: dropped \(dropped) rows with NaN or infinity") }
    if let name = t?.name { members.forEach { $0.setTask(name) } }
    try saveModel(try PosteriorEnsemble(members: members), to: out)
    let seconds = members.reduce(0) { $0 + $1.settings.trainSeconds }
    reporter.finish((ensemble > 1 ? "\(ensemble) members in \(fmt(seconds, 1)) s" : trainingLine(estimator, history, config))
                    + " → \(out)")
    var summary: [String: Any] = [
      "parameters": estimator.parameterCount, "train_seconds": seconds,
      "final_loss": estimator.settings.lossHistory.last ?? .nan, "simulations": estimator.settings.simulations,
      "dropped_rows": dropped, "epochs": history.loss.count, "out": out, "method": model.method.rawValue,
      "stopped_early": history.stoppedEarly, "ensemble": ensemble,
    ]
    if let v = history.validationLoss.last { summary["final_validation_loss"] = v }
    if let b = history.bestEpoch { summary["best_epoch"] = b + 1 }
    if let b = config.timeBudget { summary["time_budget_seconds"] = b }
    return summary
  }

  /// One line about a trained estimator: epochs, time, losses, the best epoch, and the simulations it used.
  func trainingLine(_ e: PosteriorEstimator, _ h: TrainingHistory, _ c: TrainingConfiguration) -> String {
    var line = "\(h.loss.count) epochs in \(fmt(h.seconds, 1)) s, final loss \(fmt(h.loss.last ?? .nan, 4))"
    if let v = h.validationLoss.last { line += ", validation loss \(fmt(v, 4))" }
    if h.stoppedEarly { line += " (stopped early)" }
    if let b = h.bestEpoch, h.stoppedEarly, c.restoreBestWeights {
      line += ", best epoch \(b + 1) kept"
    }
    if h.reachedTimeBudget == true { line += " (time budget reached)" }
    return line + ", \(e.settings.simulations) simulations"
  }

  /// Online training: the --simulations budget spread over the epochs and its validation share simulated once
  /// (with --time-budget: `configuration.stepsPerEpoch` batches per epoch until the time is up, no validation).
  func applyOnlineBudget(_ config: inout TrainingConfiguration) {
    if let n = simulations {
      config.spreadOnlineBudget(n)
      config.validationSimulations = Int((config.validationFraction * Double(n)).rounded())
    }
    config.validationFraction = 0
  }
}

/// A duration in seconds: a positive number, optionally followed by s, m or h ("90", "90s", "25m", "1.5h").
func parseDuration(_ text: String) -> Double? {
  var t = text.trimmingCharacters(in: .whitespaces).lowercased()
  var unit = 1.0
  if let last = t.last, let u = ["s": 1.0, "m": 60.0, "h": 3600.0][String(last)] {
    unit = u
    t.removeLast()
  }
  guard let v = Double(t), v > 0, (v * unit).isFinite else { return nil }
  return v * unit
}

/// Saves a model directory, recording the task name; nothing is left behind if writing fails.
func saveModel(_ estimator: PosteriorEstimator, task: String?, to path: String) throws {
  if let task { estimator.setTask(task) }
  try saveModel(try PosteriorEnsemble(members: [estimator]), to: path)
}

/// Saves a model directory (one estimator, or an ensemble with its members); nothing is left behind if writing
/// fails.
func saveModel(_ ensemble: PosteriorEnsemble, to path: String) throws {
  let existed = FileManager.default.fileExists(atPath: path)
  do { try ensemble.save(to: path) } catch {
    if !existed { try? FileManager.default.removeItem(atPath: path) }
    throw error
  }
}

extension TrainCommand {
  /// A task's suggested input transform of the data (beer2014: log1p) unless --data-transform gave one.
  func applySuggestedTransform(_ config: inout TrainingConfiguration, task t: (any SimulationTask)?) {
    if config.conditionTransform == nil, let name = t?.suggestedDataTransform {
      config.conditionTransform = ElementTransform(rawValue: name)
    }
  }
}

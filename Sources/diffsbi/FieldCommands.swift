// Field generation from the command line: `diffsbi train --target field` (a conditional image generator: the
// simulator learned on a U-Net), `diffsbi generate`, and the classifier two-sample test of generated fields
// (`diffsbi diagnose` on a field generator). Documentation/CLI.md §2.11.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

/// What `diffsbi train` learns.
enum TrainingTarget: String, ExpressibleByArgument, CaseIterable {
  /// The posterior of θ given x (the default).
  case parameters
  /// The simulator: an image x given θ.
  case field
}

struct FieldOptions: ParsableArguments {
  @Option(help: "What the model learns: parameters (the posterior of θ given x; default) or field (the simulator itself: an image x given θ, on a U-Net; x must be images [n, H, W] or [n, H, W, C]; sample it with 'diffsbi generate').")
  var target: TrainingTarget = .parameters
  @Option(help: "With --target field: channels of each U-Net stage, comma-separated (default: 32 per stage; 2 stages for images up to 8 px, 3 up to 32 px, 4 up to 64 px, 5 beyond).")
  var unetWidths: String?
  @Option(help: "With --target field: residual blocks per U-Net stage, in the encoder and in the decoder (default: 2).")
  var unetBlocks: Int?

  var isField: Bool { target == .field }

  func validate() throws {
    if !isField && (unetWidths != nil || unetBlocks != nil) {
      throw ValidationError("--unet-widths and --unet-blocks need --target field")
    }
    if let b = unetBlocks, !(1...16).contains(b) { throw ValidationError("--unet-blocks must be in 1…16") }
    _ = try widths()
  }

  func widths() throws -> [Int]? {
    guard let text = unetWidths else { return nil }
    let w = try ModelOptions.parseWidths(text, option: "--unet-widths")
    guard w.count <= 8, w.allSatisfy({ $0 <= 4096 }) else {
      throw ValidationError("--unet-widths: at most 8 stages of at most 4096 channels, got '\(text)'")
    }
    return w
  }
}

extension TrainCommand {
  /// Refuses options that do not apply to a field generator.
  func validateField() throws {
    let refused: [(String, Bool)] = [
      ("--hierarchical", hierarchical), ("--simulator", external.simulator != nil), ("--rounds/--observation", sequential.isSequential),
      ("--ensemble", ensemble > 1), ("--summary", model.summary != nil), ("--prior", prior != nil),
      ("--condition-dropout", model.conditionDropout > 0), ("--network transformer", model.network == .transformer),
    ]
    for (name, given) in refused where given { throw ValidationError("--target field does not take \(name)") }
    if model.method == .stableConsistency {
      throw ValidationError("--target field trains with diffusion, flow-matching or consistency, not stable-consistency")
    }
  }

  /// Trains a field generator: the images x of the task or the data file are the target, θ the condition.
  func trainFieldGenerator(task t: (any SimulationTask)?) throws -> [String: Any] {
    var config = try training.configuration(seed: common.seed, online: online)
    config.timeBudget = timeBudget.flatMap(parseDuration)
    let shape = try dataShape(task: t)
    guard shape.xShape.count == 2 || shape.xShape.count == 3 else {
      throw InputError("\(shape.source): --target field needs images, x of shape [n, H, W] or [n, H, W, C], got "
                       + "data sets of shape \(shape.xShape)")
    }
    let image = ImageShape(height: shape.xShape[0], width: shape.xShape[1],
                           channels: shape.xShape.count == 3 ? shape.xShape[2] : 1)
    let estimator: PosteriorEstimator
    do {
      estimator = try PosteriorEstimator.fieldGenerator(
        shape: image, conditionDimension: shape.thetaCols, settings: model.settings(), widths: try field.widths(),
        blocksPerStage: field.unetBlocks ?? 2, seed: common.seed)
    } catch let e as EstimatorError {
      throw InputError("\(shape.source): \(e)")
    }
    let data: TrainingData
    if online, let t {
      applyOnlineBudget(&config)
      data = .simulator { count, rng in
        let j = t.sampleJoint(count: count, seed: rng.next())
        return (j.data, j.parameters)
      }
    } else {
      let (made, dropped) = try trainingData(task: t, constraints: nil, items: nil, configuration: &config)
      guard case .simulations(let theta, let x?) = made else {
        throw InputError("--target field reads one data file (or one .npy pair), not several")
      }
      if dropped > 0 { common.info("train: dropped \(dropped) rows with NaN or infinity") }
      data = .simulations(parameters: x, data: theta)
    }
    let reporter = ProgressReporter(label: "train", mode: common.progressMode)
    let history = try estimator.train(
      data, configuration: config, checkpoint: try checkpointOptions(), resume: resume,
      progress: trainingProgress(reporter, batchSize: config.batchSize))
    estimator.setTask(t?.name)
    try saveModel(estimator, task: t?.name, to: out)
    reporter.finish(trainingLine(estimator, history, config) + " → \(out)")
    var summary: [String: Any] = [
      "parameters": estimator.parameterCount, "train_seconds": estimator.settings.trainSeconds,
      "final_loss": estimator.settings.lossHistory.last ?? .nan, "simulations": estimator.settings.simulations,
      "epochs": history.loss.count, "out": out, "method": model.method.rawValue, "target": "field",
      "image_shape": [image.height, image.width, image.channels], "stopped_early": history.stoppedEarly,
    ]
    if let v = history.validationLoss.last { summary["final_validation_loss"] = v }
    if let b = history.bestEpoch { summary["best_epoch"] = b + 1 }
    return summary
  }
}

/// The field generator in a model directory, or one line saying what the directory holds instead.
func loadFieldGenerator(_ path: String) throws -> (PosteriorEstimator, ImageShape) {
  let e = try loadModel(path)
  guard let a = e.fieldArchitecture else {
    throw InputError("\(path) holds a posterior estimator, not a field generator (train one with --target field)")
  }
  return (e, ImageShape(height: a.height, width: a.width, channels: a.channels))
}

/// Stacks one matrix [k, H·W·C] per θ row into [R·k, H·W·C].
func stackFields(_ samples: [Matrix]) -> Matrix {
  guard let first = samples.first else { return Matrix(rows: 0, cols: 0) }
  var data: [Float] = []
  data.reserveCapacity(samples.reduce(0) { $0 + $1.count })
  for s in samples { data += s.storage }
  return Matrix(rows: data.count / first.cols, cols: first.cols, storage: data)
}

struct GenerateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "generate",
    abstract: "Generate fields (images x) for given θ with a field generator ('diffsbi train --target field').",
    discussion: """
      The θ file holds one parameter vector per row (CSV with a header row, .npy [rows, P] or [P]). The output \
      .npy holds [rows, H, W] (one channel) or [rows, H, W, C] with --count 1, else [rows, count, H, W(, C)].
      """)

  @Option(help: "Field generator directory written by 'diffsbi train --target field'.")
  var model: String
  @Option(help: "θ file (.csv with header, .npy): one parameter vector per row.")
  var theta: String
  @Option(help: "Fields per θ row.")
  var count = 1
  @Option(help: "Output file (.npy).")
  var out: String
  @OptionGroup var samplerArguments: SamplerArguments
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if count < 1 { throw ValidationError("--count must be at least 1") }
  }

  func run() throws {
    common.apply()
    try checkOutputPath(out, allowed: ["npy"], option: "--out")
    let (estimator, shape) = try loadFieldGenerator(model)
    let conditions = try readMatrix(theta)
    guard conditions.cols == estimator.conditionDimension, conditions.rows > 0 else {
      throw InputError("\(theta): θ rows have \(conditions.cols) values, the model expects \(estimator.conditionDimension)")
    }
    if let r = NonFiniteRows.indices(in: conditions).first { throw InputError("\(theta): row \(r + 1) contains NaN or infinity") }
    let reporter = ProgressReporter(label: "generate", mode: common.progressMode)
    let result = try estimator.generateFields(
      conditions: conditions, count: count, sampler: samplerArguments.sampler, options: samplerArguments.options,
      seed: common.seed)
    let fields = stackFields(result.samples)
    var dims = [conditions.rows] + (count > 1 ? [count] : []) + [shape.height, shape.width]
    if shape.channels > 1 { dims.append(shape.channels) }
    try NPY.write(NDArray(shape: dims, data: fields.storage), to: out)
    reporter.finish("\(count) field(s) × \(conditions.rows) θ in \(fmt(result.seconds, 2)) s "
                    + "(\(result.evaluations) network evaluations) → \(out)")
    if result.nonFiniteRows > 0 { common.info("generate: \(result.nonFiniteRows) fields came out non-finite") }
    try common.emit([
      "seconds": result.seconds, "evaluations": result.evaluations, "rows": conditions.rows, "count": count,
      "shape": dims, "non_finite_fields": result.nonFiniteRows, "out": out,
    ])
  }
}

extension DiagnoseCommand {
  /// The classifier two-sample test of a field generator: fresh (θ, field) pairs from the task, one generated
  /// field per θ, a convolutional classifier trained to tell them apart (Documentation/Methods.md §11.6).
  func diagnoseFieldGenerator(_ estimator: PosteriorEstimator, shape: ImageShape) throws {
    guard data.isEmpty, compose == nil else { throw InputError("a field generator is checked on its task: no --data or --compose") }
    guard let taskName = task ?? estimator.settings.task else {
      throw InputError("\(model): the model records no task; pass --task NAME")
    }
    let t = try lookupTask(taskName)
    guard t.parameterDimension == estimator.conditionDimension, t.dataDimension == estimator.parameterDimension else {
      throw InputError("\(model): the generator's θ/field sizes \(estimator.conditionDimension)/\(estimator.parameterDimension) "
                       + "do not match task \(taskName) (\(t.parameterDimension)/\(t.dataDimension))")
    }
    let n = datasets ?? 2000, nValid = max(2, n / 10)
    let reporter = ProgressReporter(label: "diagnose", mode: common.progressMode)
    let start = Date()
    let (theta, x) = t.sampleJoint(count: n + nValid, seed: common.seed &+ 84)
    reporter.update(done: 0, total: 2, unit: "stages")
    let generated = try estimator.generateFields(
      conditions: theta, count: 1, sampler: samplerArguments.sampler, options: samplerArguments.options,
      seed: common.seed)
    var fields = stackFields(generated.samples)
    let nonFinite = NonFiniteRows.indices(in: fields).count
    // Non-finite generated fields enter the test as zeros (the classifier then tells them apart easily).
    fields.withUnsafeMutableBufferPointer { f in for i in f.indices where !f[i].isFinite { f[i] = 0 } }
    reporter.update(done: 1, total: 2, unit: "stages")
    let settings = FieldClassifierSettings(epochs: classifierEpochs, seed: common.seed)
    let train = 0..<n, valid = n..<(n + nValid)
    let result = try FieldClassifierTest.run(
      shape: shape, simulated: x.rows(train), generated: fields.rows(train), conditions: theta.rows(train),
      validation: (x.rows(valid), fields.rows(valid), theta.rows(valid)), settings: settings)
    // Pixel statistics of simulated and generated fields.
    func stats(_ m: Matrix) -> (mean: Double, sd: Double) {
      let v = m.storage.map(Double.init), mean = v.reduce(0, +) / Double(v.count)
      return (mean, (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)).squareRoot())
    }
    let (sim, gen) = (stats(x), stats(fields))
    try makeDirectory(out)
    var report = HTMLReport(title: "diffsbi diagnose: field generator for \(taskName)", subtitle: model)
    report.settings = modelSettingsRows(estimator)
    report.tables.append(.init(title: "Classifier two-sample test", header: ["metric", "value"], rows: [
      ["C2ST, best validation accuracy (the review's figure)", fmt(result.maximumAccuracy)],
      ["C2ST, validation accuracy after the last epoch", fmt(result.finalAccuracy)],
      ["best epoch", "\(result.bestEpoch) of \(result.accuracies.count)"],
      ["training / validation images", "\(result.trainingImages) / \(result.validationImages)"],
      ["pixel mean, simulated / generated", "\(fmt(sim.mean)) / \(fmt(gen.mean))"],
      ["pixel sd, simulated / generated", "\(fmt(sim.sd)) / \(fmt(gen.sd))"],
      ["non-finite generated fields", "\(nonFinite)"],
    ]))
    let k = min(8, nValid)
    let shown = valid.lowerBound..<(valid.lowerBound + k)
    let grid = FieldImageGrid(height: shape.height, width: shape.width).render(
      [("simulated", x.rows(shown)), ("generated", fields.rows(shown))])
    report.figures = [lossFigure(estimator),
                      .init(title: "Fields for the same θ", svg: grid,
                            caption: "Top: simulated; bottom: generated for the same θ (first \(k) validation θ; one color scale).")]
    for (f, name) in zip(report.figures, ["loss", "fields"]) { try writeFigure(f, named: name, in: out) }
    let seconds = Date().timeIntervalSince(start)
    let json: [String: Any] = [
      "c2st": result.maximumAccuracy, "c2st_final": result.finalAccuracy, "best_epoch": result.bestEpoch,
      "classifier_epochs": result.accuracies.count, "accuracies": result.accuracies,
      "training_images": result.trainingImages, "validation_images": result.validationImages,
      "pixel_mean_simulated": sim.mean, "pixel_mean_generated": gen.mean, "pixel_sd_simulated": sim.sd,
      "pixel_sd_generated": gen.sd, "non_finite_fields": nonFinite, "generate_seconds": generated.seconds,
      "classifier_seconds": result.seconds, "seconds": seconds, "task": taskName,
    ]
    let metrics = try JSONSerialization.data(withJSONObject: sanitize(json), options: [.sortedKeys, .prettyPrinted])
    try AtomicFile.write(Array(metrics), to: (out as NSString).appendingPathComponent("metrics.json"))
    try AtomicFile.write(report.render(), to: (out as NSString).appendingPathComponent("report.html"))
    reporter.finish("C2ST \(fmt(result.maximumAccuracy)) (last epoch \(fmt(result.finalAccuracy))) on "
                    + "\(result.validationImages) validation images in \(fmt(seconds, 1)) s → \(out)")
    var summary = json
    summary["out"] = out
    try common.emit(summary)
  }
}

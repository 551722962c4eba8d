// `diffsbi diagnose`: simulation-based calibration and the review's metrics of a trained model.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

struct DiagnoseCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "diagnose",
    abstract: "Simulation-based calibration, NRMSE, calibration error, contraction and TARP on fresh simulations.",
    discussion: """
      Simulates N data sets from the task (or takes the first N finite (θ, x) rows of --data, your own held-out \
      simulations, not used in training), draws posterior samples for all of them, and writes metrics.json, \
      one SVG per plot and report.html to the output directory. With --compose J, every data set is J i.i.d. \
      observations of one θ drawn from the task's prior, and the composed posterior (the --composition rule and \
      its settings, as in 'diffsbi sample --compose') is checked: the composition check of \
      Documentation/Composition.md.
      """)

  @Option(help: "Model directory.")
  var model: String
  @Option(help: "Task to simulate from (default: the model's task).")
  var task: String?
  @Option(parsing: .upToNextOption, help: "Held-out simulations (.npz with theta and x, a .npy pair or CSV) instead of a task.")
  var data: [String] = []
  @Option(help: "Number of simulated data sets (default 300; with --data: at most this many rows are used). For a field generator: the classifier's training pairs (default 2000), plus a tenth as many for validation.")
  var datasets: Int?
  @Option(help: "For a field generator: epochs of the classifier two-sample test.")
  var classifierEpochs = 50
  @Option(help: "Posterior draws per data set.")
  var draws = 200
  @Option(help: "Output directory.")
  var out = "diffsbi-diagnose"
  @Option(help: "Check composition: J i.i.d. observations per data set, composed into one posterior (with a task).")
  var compose: Int?
  @OptionGroup(title: "Composition (with --compose J)") var compositionArguments: CompositionArguments
  @OptionGroup var samplerArguments: SamplerArguments
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if let d = datasets, d < 2 { throw ValidationError("--datasets must be at least 2") }
    if classifierEpochs < 1 { throw ValidationError("--classifier-epochs must be at least 1") }
    if draws < 2 { throw ValidationError("--draws must be at least 2") }
    if !data.isEmpty && task != nil { throw ValidationError("give --task or --data, not both") }
    if let j = compose {
      if j < 1 || j > 100_000 { throw ValidationError("--compose must be in 1…100000") }
      if !data.isEmpty { throw ValidationError("--compose simulates its data sets from a task; it does not take --data") }
    } else if compositionArguments.minibatch != nil || compositionArguments.damping != nil
      || compositionArguments.composition != nil || compositionArguments.refine != 0
    {
      throw ValidationError("--composition, --minibatch, --damping and --refine need --compose J")
    }
  }

  func run() throws {
    common.apply()
    let ensemble = try loadEnsemble(model)
    let estimator = ensemble.first
    if let a = estimator.fieldArchitecture {
      return try diagnoseFieldGenerator(estimator, shape: ImageShape(height: a.height, width: a.width, channels: a.channels))
    }
    let datasets = self.datasets ?? 300
    let reporter = ProgressReporter(label: "diagnose", mode: common.progressMode)
    let cal: CalibrationResult
    let name: String
    if !data.isEmpty {
      let files = try SimulationFile.group(data)
      guard files.count == 1 else { throw InputError("--data: give one held-out file (or one .npy pair)") }
      let (theta, x) = try files[0].load()
      guard theta.cols == estimator.parameterDimension, x.cols == estimator.conditionDimension else {
        throw InputError("\(files[0].name): theta/x have \(theta.cols)/\(x.cols) columns, the model expects "
                         + "\(estimator.parameterDimension)/\(estimator.conditionDimension)")
      }
      // The first N valid rows (padding items of structured data are valid).
      let items = estimator.conditionChannels.map { (count: $0.items, width: $0.width) }
      let (kept, _) = try NonFiniteRows.drop([theta, x], items: [nil, items])
      let n = min(datasets, kept[0].rows)
      name = files[0].name
      cal = try runCalibration(
        estimator: ensemble, parameters: kept[0].rows(0..<n), data: kept[1].rows(0..<n), draws: draws,
        seed: common.seed,
        sampler: samplerArguments.sampler, options: samplerArguments.options, progress: reporter)
    } else {
      guard let taskName = task ?? estimator.settings.task else {
        throw InputError("\(model): the model records no task; pass --task NAME or --data HELDOUT")
      }
      let t = try lookupTask(taskName)
      guard t.parameterDimension == estimator.parameterDimension, t.dataDimension == estimator.conditionDimension else {
        throw InputError("\(model): model dimensions \(estimator.parameterDimension)/\(estimator.conditionDimension) "
                         + "do not match task \(taskName) (\(t.parameterDimension)/\(t.dataDimension))")
      }
      if let j = compose {
        name = "\(taskName), \(j) composed observations (\(compositionArguments.rule.rawValue))"
        var inference = InferenceOptions(priorDiffusion: compositionArguments.priorDiffusion,
                                         refinementSteps: compositionArguments.refine)
        inference.composition = try compositionArguments.compositionOptions(observations: j)
        let check = try ensemble.compositionCheck(
          task: t, groups: j, dataSets: datasets, draws: draws, inference: inference,
          sampler: samplerArguments.sampler, options: samplerArguments.options, seed: common.seed
        ) { done, total in reporter.update(done: done, total: total, unit: "data sets") }
        guard check.targets.rows >= 2 else { throw InputError("composition check: fewer than 2 finite data sets") }
        cal = try calibration(draws: check.estimates, targets: check.targets, seed: common.seed,
                              start: Date().addingTimeInterval(-check.seconds))
      } else {
        name = taskName
        cal = try runCalibration(
          estimator: ensemble, task: t, dataSets: datasets, draws: draws, seed: common.seed,
          sampler: samplerArguments.sampler, options: samplerArguments.options, progress: reporter)
      }
    }
    try makeDirectory(out)
    var report = HTMLReport(title: "diffsbi diagnose: \(name)", subtitle: model)
    report.settings = modelSettingsRows(estimator)
    report.tables.append(cal.table)
    report.figures = [lossFigure(estimator)] + cal.figures
    let names = ["loss", "sbc_ecdf", "coverage", "recovery", "z_contraction"]
    for (f, n) in zip(report.figures, names) { try writeFigure(f, named: n, in: out) }
    let metrics = try JSONSerialization.data(withJSONObject: sanitize(cal.json), options: [.sortedKeys, .prettyPrinted])
    try AtomicFile.write(Array(metrics), to: (out as NSString).appendingPathComponent("metrics.json"))
    try AtomicFile.write(report.render(), to: (out as NSString).appendingPathComponent("report.html"))
    reporter.finish("\(cal.dataSets) data sets in \(fmt(cal.seconds, 1)) s; mean calibration error "
                    + "\(fmt(cal.meanCalibrationError)); SBC \(cal.sbcVerdict) → \(out)")
    var summary = cal.json
    summary["out"] = out
    if let j = compose {
      summary["composed_observations"] = j
      summary["composition"] = compositionArguments.rule.rawValue
    }
    try common.emit(summary)
  }
}

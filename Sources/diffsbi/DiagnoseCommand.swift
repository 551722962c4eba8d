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
      Simulates N data sets from the task, draws posterior samples for all of them, and writes metrics.json, \
      one SVG per plot and report.html to the output directory.
      """)

  @Option(help: "Model directory.")
  var model: String
  @Option(help: "Task to simulate from (default: the model's task).")
  var task: String?
  @Option(help: "Number of simulated data sets.")
  var datasets = 300
  @Option(help: "Posterior draws per data set.")
  var draws = 200
  @Option(help: "Output directory.")
  var out = "diffsbi-diagnose"
  @OptionGroup var samplerArguments: SamplerArguments
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if datasets < 2 { throw ValidationError("--datasets must be at least 2") }
    if draws < 2 { throw ValidationError("--draws must be at least 2") }
  }

  func run() throws {
    common.apply()
    let estimator = try loadModel(model)
    guard let name = task ?? estimator.settings.task else {
      throw InputError("\(model): the model records no task; pass --task NAME")
    }
    let t = try lookupTask(name)
    guard t.parameterDimension == estimator.parameterDimension, t.dataDimension == estimator.conditionDimension else {
      throw InputError("\(model): model dimensions \(estimator.parameterDimension)/\(estimator.conditionDimension) "
                       + "do not match task \(name) (\(t.parameterDimension)/\(t.dataDimension))")
    }
    let reporter = ProgressReporter(label: "diagnose", mode: common.progressMode)
    let cal = try runCalibration(
      estimator: estimator, task: t, dataSets: datasets, draws: draws, seed: common.seed,
      sampler: samplerArguments.sampler, options: samplerArguments.options, progress: reporter)
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
    try common.emit(summary)
  }
}

// `diffsbi report`: the HTML report of a model directory.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Render the HTML report of a model directory (settings, loss curves, posterior plot).",
    discussion: """
      When the model was trained on a built-in task with sbibm data, the report also shows a pair plot of \
      posterior samples for --observation K against the reference posterior and the true parameters.
      """)

  @Option(help: "Model directory.")
  var model: String
  @Option(help: "Output HTML file (default: MODEL/report.html).")
  var out: String?
  @Option(help: "sbibm observation number for the posterior plot (0 = none).")
  var observation = 1
  @Option(help: "Posterior samples for the plot.")
  var samples = 2000
  @OptionGroup var common: CommonOptions

  func run() throws {
    common.apply()
    let path = out ?? (model as NSString).appendingPathComponent("report.html")
    try checkOutputPath(path, allowed: ["html"], option: "--out")
    let ensemble = try loadEnsemble(model)
    let estimator = ensemble.first
    var report = HTMLReport(title: "diffsbi model: \(estimator.settings.task ?? (model as NSString).lastPathComponent)",
                            subtitle: model)
    report.settings = modelSettingsRows(estimator)
    if ensemble.members.count > 1 {
      report.settings.append(("ensemble members", "\(ensemble.members.count) (loss curves: member 1)"))
      for (k, m) in ensemble.members.enumerated() {
        let best = bestValidation(m.settings).map { ", best validation loss \(fmt($0.loss, 4)) (epoch \($0.epoch))" }
        report.settings.append(("member \(k + 1)", "\(m.settings.lossHistory.count) epochs in "
                                + "\(fmt(m.settings.trainSeconds, 1)) s" + (best ?? "")))
      }
    }
    report.figures.append(lossFigure(estimator))
    var c2stValue: Double?
    if observation > 0, let name = estimator.settings.task, let t = try? lookupTask(name),
       t.observationCount >= observation, let xo = try? t.observation(observation)
    {
      let result = try ensemble.sample(observations: Matrix(rows: 1, cols: xo.count, storage: xo), count: samples,
                                       seed: common.seed)
      let reference = try? t.referencePosteriorSamples(observation)
      let truth = (try? t.trueParameters(observation))?.map(Double.init)
      report.figures.append(HTMLReport.Figure(
        title: "Posterior, observation \(observation)",
        svg: PairPlot(names: parameterNames(t.parameterDimension), reference: reference, truth: truth)
          .render(result.samples[0]),
        caption: "Blue: \(samples) samples of the model; orange: sbibm reference; red: true parameters."))
      if let reference {
        c2stValue = try c2st(reference: reference, samples: finiteRows(result.samples[0]), seed: common.seed &+ 1)
        report.tables.append(HTMLReport.Table(
          title: "Accuracy", header: ["metric", "value"],
          rows: [["C2ST, observation \(observation) (\(samples) samples)", fmt(c2stValue!)]]))
      }
    }
    try AtomicFile.write(report.render(), to: path)
    common.info("report: \(path)")
    var summary: [String: Any] = ["out": path, "epochs": estimator.settings.lossHistory.count]
    if let c2stValue { summary["c2st"] = c2stValue }
    try common.emit(summary)
  }
}

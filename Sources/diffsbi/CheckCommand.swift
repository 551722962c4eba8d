// `diffsbi check`: is the observed data set one the simulator could have produced (model misspecification)?

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

struct CheckCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "Misspecification check: MMD between the observation(s) and simulations, with a bootstrap p-value.",
    discussion: """
      Compares the observation rows (K ≥ 1 i.i.d. data sets) with up to --reference simulations from --data in \
      the space the model's network reads (the learned summaries of a model with a summary network, otherwise the \
      standardized data): the biased MMD² with a Gaussian kernel (median-heuristic bandwidth), \
      against --bootstrap draws of K simulations compared with the others (Schmitt et al. 2023). A small p-value \
      says the simulator rarely produces data like the observation, so the posterior for it cannot be trusted.
      """)

  @Option(help: "Model directory written by 'diffsbi train'.")
  var model: String
  @Option(help: "Observation file (.csv with header, .npy); every row is one data set.")
  var observation: String
  @Option(parsing: .upToNextOption, help: "Simulations to compare with (.npz with theta and x, a .npy pair or CSV).")
  var data: [String]
  @Option(help: "Simulations used as the reference (the first rows with finite x).")
  var reference = 1000
  @Option(help: "Bootstrap draws of the null distribution.")
  var bootstrap = 1000
  @Option(help: "Flag the observation when the p-value is below this level.")
  var level = 0.05
  @Option(help: "Write report.html and null_distribution.svg (the bootstrap null with the observed MMD²) here.")
  var out: String?
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if reference < 10 { throw ValidationError("--reference must be at least 10") }
    if bootstrap < 10 { throw ValidationError("--bootstrap must be at least 10") }
    if !(level > 0 && level < 1) { throw ValidationError("--level must be in (0, 1)") }
  }

  func run() throws {
    common.apply()
    let estimator = try loadModel(model)
    let obs = try readObservations(observation, for: estimator)
    let files = try SimulationFile.group(data)
    guard files.count == 1 else { throw InputError("--data: give one simulation file (or one .npy pair)") }
    let (_, x) = try files[0].load()
    guard x.cols == estimator.conditionDimension else {
      throw InputError("\(files[0].name): x has \(x.cols) columns, the model expects \(estimator.conditionDimension)")
    }
    let invalid = Set(estimator.conditionChannels.map { NonFiniteRows.indices(in: x, items: $0.items, width: $0.width) }
                      ?? NonFiniteRows.indices(in: x))
    let rows = Array((0..<x.rows).filter { !invalid.contains($0) }.prefix(reference))
    guard rows.count >= obs.rows + 10 else {
      throw InputError("\(files[0].name): \(rows.count) finite simulations, need at least \(obs.rows + 10)")
    }
    // Compared in the space the network reads: standardized data, or the learned summaries.
    let simulated = try estimator.conditionEmbedding(x.gatherRows(rows))
    let observed = try estimator.conditionEmbedding(obs)
    let start = Date()
    let r = try misspecificationTest(observed: observed, reference: simulated, bootstrap: bootstrap, seed: common.seed)
    let flagged = r.pValue < level
    common.info("check: MMD² \(fmt(r.mmd, 5)), p = \(fmt(r.pValue, 3)) against \(rows.count) simulations "
                + "(\(bootstrap) bootstrap draws, \(fmt(Date().timeIntervalSince(start), 1)) s): "
                + (flagged ? "the observation is unlike the simulations (misspecified at level \(level))"
                   : "no evidence of misspecification"))
    var summary: [String: Any] = [
      "mmd": r.mmd, "p_value": r.pValue, "misspecified": flagged, "observations": obs.rows,
      "reference": rows.count, "bootstrap": bootstrap, "bandwidth": r.bandwidth,
    ]
    if let out {
      try makeDirectory(out)
      let space = estimator.model.summary == nil ? "standardized data" : "learned summary space"
      let figure = HTMLReport.Figure(
        title: "Misspecification check: bootstrap null distribution of MMD²",
        svg: NullDistributionPlot(null: r.null, observed: r.mmd, xLabel: "MMD² (\(space))").render(),
        caption: "MMD² of \(bootstrap) sets of \(obs.rows) simulations against the others; the line is the observation's "
          + "(p = \(fmt(r.pValue, 3))). An observation far right of the histogram is unlike anything the simulator produced.")
      var report = HTMLReport(title: "diffsbi check", subtitle: model)
      report.settings = modelSettingsRows(estimator)
      report.tables = [HTMLReport.Table(title: "Result", header: ["quantity", "value"], rows: [
        ["MMD²", fmt(r.mmd, 5)], ["p-value", fmt(r.pValue, 3)], ["misspecified at level \(level)", flagged ? "yes" : "no"],
        ["observations", "\(obs.rows)"], ["reference simulations", "\(rows.count)"], ["kernel bandwidth", fmt(r.bandwidth, 4)],
      ])]
      report.figures = [figure]
      try writeFigure(figure, named: "null_distribution", in: out)
      try AtomicFile.write(report.render(), to: (out as NSString).appendingPathComponent("report.html"))
      summary["out"] = out
    }
    try common.emit(summary)
  }
}

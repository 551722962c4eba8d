// Calibration checks on simulated data sets (SBC and the review's metrics) and their plots, shared by
// `diagnose` and `demo`.

import CommandLineOptions
import DiffusionSBI
import Foundation

/// Metrics and plots of an estimator on N simulated data sets with S posterior draws each.
struct CalibrationResult {
  var names: [String]
  var dataSets: Int
  var draws: Int
  var nrmse: [Double]
  /// NRMSE divided by the range of the true θ instead (the normalizer of BayesFlow releases that default to it).
  var nrmseRange: [Double]
  var calibrationError: [Double]
  var contraction: [Double]
  var logGamma: [Double]
  var tarpATC: Double
  var seconds: Double
  var figures: [HTMLReport.Figure]

  /// Per-parameter table rows.
  var table: HTMLReport.Table {
    HTMLReport.Table(
      title: "Calibration on \(dataSets) simulated data sets (\(draws) draws each)",
      header: ["θ", "NRMSE", "cal. error", "contr.", "SBC log γ"],
      rows: names.indices.map { j in
        [names[j], fmt(nrmse[j]), fmt(calibrationError[j]), fmt(contraction[j]), fmt(logGamma[j], 2)]
      } + [["TARP ATC", fmt(tarpATC), "", "", ""]])
  }

  var json: [String: Any] {
    [
      "datasets": dataSets, "draws": draws, "nrmse": nrmse, "nrmse_range": nrmseRange,
      "calibration_error": calibrationError,
      "contraction": contraction, "log_gamma": logGamma, "tarp_atc": tarpATC, "seconds": seconds,
    ]
  }

  /// Worst-case summaries for one-line messages.
  var meanCalibrationError: Double { calibrationError.reduce(0, +) / Double(max(calibrationError.count, 1)) }
  /// "shows no significant miscalibration" or which parameters it flags (log γ < 0: rank uniformity rejected at 5%).
  var sbcVerdict: String {
    let flagged = names.indices.filter { logGamma[$0] < 0 }.map { names[$0] }
    if flagged.isEmpty { return "shows no significant miscalibration" }
    return "flags \(flagged.joined(separator: " and ")) (SBC log γ < 0, ranks not uniform at the 5% level)"
  }
}

/// Simulates `dataSets` (θ, x) pairs from `task` and checks the estimator on them (`runCalibration(estimator:
/// parameters:data:...)`).
func runCalibration(
  estimator: PosteriorEnsemble, task: any SimulationTask, dataSets: Int, draws: Int, seed: UInt64,
  sampler: SamplerKind?, options: SamplerOptions, progress: ProgressReporter
) throws -> CalibrationResult {
  let (theta, x) = task.sampleJoint(count: dataSets, seed: seed &+ 0xCA1B)
  return try runCalibration(estimator: estimator, parameters: theta, data: x, draws: draws, seed: seed,
                            sampler: sampler, options: options, progress: progress)
}

/// Draws `draws` posterior samples for each simulated data set x_i (all in one batched call) and computes NRMSE,
/// calibration error, contraction, SBC log γ and TARP against the θ_i that generated it, with the SBC ECDF,
/// coverage, recovery and z-score/contraction plots. Rows with a non-finite θ or x (other than padding items of
/// structured data) are left out. An ensemble's posteriors are its equal mixtures.
func runCalibration(
  estimator: PosteriorEnsemble, parameters theta: Matrix, data x: Matrix, draws: Int, seed: UInt64,
  sampler: SamplerKind?, options: SamplerOptions, progress: ProgressReporter
) throws -> CalibrationResult {
  let start = Date()
  // Padding items of structured data are not bad data.
  let items = estimator.first.conditionChannels.map { (count: $0.items, width: $0.width) }
  let (kept, _) = try NonFiniteRows.drop([theta, x], items: [nil, items])
  let targets = kept[0], obs = kept[1]
  guard targets.rows >= 2 else { throw InputError("calibration: fewer than 2 finite simulated data sets") }
  let result = try estimator.sample(
    observations: obs, count: draws, sampler: sampler, options: options, seed: seed &+ 0x5A3B,
    progress: { d, t in progress.update(done: d, total: t, unit: "batches") })
  return try calibration(draws: result.samples, targets: targets, seed: seed, start: start)
}

/// The metrics and plots of `runCalibration` for given posterior draws (one matrix per data set) and the
/// parameters that generated each data set.
func calibration(draws samples: [Matrix], targets: Matrix, seed: UInt64, start: Date) throws -> CalibrationResult {
  let draws = samples.map(\.rows).max() ?? 0
  let estimates = samples.map { m -> Matrix in
    let f = finiteRows(m)
    return f.rows >= 2 ? f : m
  }
  let names = parameterNames(targets.cols)
  let nrmse = try normalizedRMSE(estimates: estimates, targets: targets)
  let nrmseRange = try normalizedRMSE(estimates: estimates, targets: targets, normalization: .range)
  let calErr = try calibrationError(estimates: estimates, targets: targets)
  let contraction = try posteriorContraction(estimates: estimates, targets: targets)
  let z = try posteriorZScores(estimates: estimates, targets: targets)
  let logGamma = try calibrationLogGamma(estimates: estimates, targets: targets, seed: seed)
  let tarpResult = try tarp(estimates: estimates, targets: targets, references: .uniformBox(seed: seed))
  let ranks = try sbcRanks(estimates: estimates, targets: targets)
  let s = estimates.map(\.rows).min()!
  let bands = ecdfSimultaneousBands(dataSets: targets.rows, points: 100, seed: seed)
  let differences = (0..<targets.cols).map { j -> [Double] in
    let e = rankECDF(ranks: ranks.map { $0[j] }, posteriorDraws: s, at: bands.z)
    return zip(e, bands.z).map { $0 - $1 }
  }
  let levels = (1...19).map { Double($0) / 20 }
  let coverage = try centralIntervalCoverage(estimates: estimates, targets: targets, levels: levels)
  var means = Matrix(rows: targets.rows, cols: targets.cols)
  var sds = Matrix(rows: targets.rows, cols: targets.cols)
  for i in 0..<targets.rows {
    let (m, v) = estimates[i].columnMeanVariance()
    for j in 0..<targets.cols {
      means[i, j] = Float(m[j])
      sds[i, j] = Float(v[j].squareRoot())
    }
  }
  let figures = [
    HTMLReport.Figure(
      title: "SBC: rank ECDF − uniform",
      svg: SBCECDFPlot(names: names, grid: bands.z, differences: differences,
                       lower: zip(bands.lower, bands.z).map { $0 - $1 },
                       upper: zip(bands.upper, bands.z).map { $0 - $1 }).render(),
      caption: "Curves inside the 95% simultaneous band are consistent with calibrated posteriors."),
    HTMLReport.Figure(
      title: "Coverage of central credible intervals",
      svg: CoveragePlot(names: names, levels: levels, coverage: (0..<targets.cols).map { j in
        (0..<levels.count).map { Double(coverage[$0, j]) }
      }).render(),
      caption: "On the diagonal: calibrated; below: overconfident; above: underconfident."),
    HTMLReport.Figure(
      title: "Parameter recovery",
      svg: RecoveryPlot(names: names).render(truth: targets, estimate: means, errors: sds),
      caption: "Posterior means ± one standard deviation against the true parameters."),
    HTMLReport.Figure(
      title: "Posterior z-score vs contraction",
      svg: ZScoreContractionPlot(names: names).render(zScores: z, contractions: contraction),
      caption: "Good posteriors contract strongly (right) with small |z| (within the dashed ±2 lines)."),
  ]
  return CalibrationResult(
    names: names, dataSets: targets.rows, draws: draws, nrmse: nrmse, nrmseRange: nrmseRange, calibrationError: calErr,
    contraction: columnMedians(contraction), logGamma: logGamma, tarpATC: tarpResult.atc,
    seconds: Date().timeIntervalSince(start), figures: figures)
}

/// The settings table of a model.
func modelSettingsRows(_ e: PosteriorEstimator) -> [(String, String)] {
  let s = e.settings
  return [
    ("method", s.method.rawValue), ("task", s.task ?? "(data files)"),
    ("schedule", s.diffusion.schedule.rawValue), ("variance", s.diffusion.variance.rawValue),
    ("prediction", s.diffusion.prediction.rawValue), ("weighting", s.diffusion.weighting.rawValue),
    ("default sampler", s.diffusion.sampler.rawValue), ("simulations", "\(s.simulations)"),
    ("epochs", "\(s.lossHistory.count)"), ("training seconds", fmt(s.trainSeconds, 1)),
    ("best validation loss", bestValidation(s).map { "\(fmt($0.loss, 4)) (epoch \($0.epoch))" } ?? "no validation data"),
    ("trainable parameters", "\(e.parameterCount)"),
    ("network widths", (e.model.timeMLP?.configuration.widths ?? (e.model.network as? ConditionalUNet)?.configuration.widths ?? [])
      .map(String.init).joined(separator: "×")),
  ]
}

/// The lowest validation loss of a model's stored history and its epoch (1-based), if it has one.
func bestValidation(_ s: EstimatorSettings) -> (loss: Double, epoch: Int)? {
  guard let i = s.validationHistory.indices.filter({ s.validationHistory[$0].isFinite })
    .min(by: { s.validationHistory[$0] < s.validationHistory[$1] }) else { return nil }
  return (s.validationHistory[i], i + 1)
}

/// The loss-curve figure of a model's stored history: the training loss and, when training held data out, the
/// validation loss per epoch.
func lossFigure(_ e: PosteriorEstimator) -> HTMLReport.Figure {
  let s = e.settings
  let best = bestValidation(s)
  return HTMLReport.Figure(
    title: "Training loss and validation loss",
    svg: LossCurvePlot(train: s.lossHistory, validation: s.validationHistory.isEmpty ? nil : s.validationHistory)
      .render(),
    caption: "Mean training loss per epoch" + (best.map {
      "; dashed: validation loss (same noise draws every epoch), lowest at epoch \($0.epoch)."
    } ?? " (no validation data held out)."))
}

/// Writes a figure's SVG next to the report.
func writeFigure(_ figure: HTMLReport.Figure, named name: String, in dir: String) throws {
  try AtomicFile.write(figure.svg, to: (dir as NSString).appendingPathComponent(name + ".svg"))
}

/// Creates an output directory (and parents).
func makeDirectory(_ path: String) throws {
  do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
    throw InputError("\(path): cannot create directory (\(error.localizedDescription))")
  }
}

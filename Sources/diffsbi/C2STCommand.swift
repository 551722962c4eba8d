// `diffsbi c2st`: classifier two-sample test between two sample files.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI

struct C2STCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "c2st",
    abstract: "Classifier two-sample test as sbibm computes it (0.5 = indistinguishable).",
    discussion: """
      REFERENCE and SAMPLES are .npy, .npz or CSV files of shape [n, P]. Rows with NaN or infinity are dropped \
      (and counted). Sets of different sizes are compared on their first min(n_ref, n_samples) rows each, as \
      sbibm does. The classifier is sbibm's: an MLP with two ReLU layers of 10·P units, 5-fold CV.
      """)

  @Argument(help: "Reference samples file.")
  var reference: String

  @Argument(help: "Samples to compare.")
  var samples: String

  @Option(help: "Cross-validation folds.")
  var folds = 5

  @OptionGroup var common: CommonOptions

  func run() throws {
    common.apply()
    let ref = try readMatrix(reference, oneDimensionalIsRow: false)
    let smp = try readMatrix(samples, oneDimensionalIsRow: false)
    guard ref.cols == smp.cols else {
      throw InputError("\(samples): \(smp.cols) columns, but \(reference) has \(ref.cols)")
    }
    let r = finiteRows(ref), s = finiteRows(smp)
    let dropped = ref.rows - r.rows + smp.rows - s.rows
    if dropped > 0 { common.info("c2st: dropped \(dropped) rows with NaN or infinity") }
    let used = min(r.rows, s.rows)
    if r.rows != s.rows { common.info("c2st: \(r.rows) reference and \(s.rows) sample rows; comparing the first \(used) of each") }
    let result = try c2stDetailed(reference: r, samples: s, seed: common.seed &+ 1, folds: folds)
    if common.json {
      try printJSON(["c2st": result.accuracy, "folds": result.foldAccuracies, "dropped_rows": dropped,
                     "reference_rows": r.rows, "samples_rows": s.rows, "rows_compared": used])
    } else {
      print(fmt(result.accuracy, 4))
    }
  }
}

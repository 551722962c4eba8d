// `diffsbi-bench highdim`: diffusion (EDM-VP-F), flow matching, flow matching with OT, and consistency models on
// Gaussian linear tasks with 50 and 100 parameters, against the analytic posterior (BENCHMARKS.md).
//
//   diffsbi-bench highdim [--dimensions 50,100] [--simulations 100000] [--epochs 20] [--batch-size 128]
//                         [--methods diffusion,flow-matching,flow-matching-ot,consistency,stable-consistency]
//                         [--ot conditional | sinkhorn | exact | exact-conditional] [--datasets 100] [--draws 500]
//                         [--samples 10000] [--observations 1] [--widths 256,...] [--threads N] [--seed S]
//                         [--learning-rate 5e-4] [--dropout 0.05]
//
// Per dimension and method: train on offline simulations; NRMSE and calibration error (BayesFlow's definitions,
// averaged over parameters) from `--draws` posterior draws on each of `--datasets` fresh (θ, x) pairs; C2ST of
// `--samples` draws against as many analytic-posterior draws for `--observations` of those data sets, with the
// time to draw them. An "analytic" row scores draws of the exact posterior (the floor of each metric).

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

/// One row of the high-dimensional comparison.
struct HighDimRow {
  var dimension: Int
  var method: String
  var nrmse: Double
  var calibration: Double
  var c2st: Double
  var trainSeconds: Double
  var sampleSeconds: Double
  var evaluations: Int
}

func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(max(v.count, 1)) }

struct HighDimBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "highdim", abstract: "Diffusion, flow matching (± OT) and consistency models on Gaussian linear 50/100.")

  @Option(help: "Comma-separated parameter dimensions.")
  var dimensions = "50,100"
  @Option(help: "Offline simulations.")
  var simulations = 100_000
  @Option(help: "Comma-separated methods: diffusion, flow-matching, flow-matching-ot, consistency, stable-consistency.")
  var methods = "diffusion,flow-matching,flow-matching-ot,consistency"
  @Option(help: "The coupling of flow-matching-ot.")
  var ot: CouplingKind = .conditional
  @Option(help: "Fresh data sets for NRMSE and calibration error.")
  var datasets = 100
  @Option(help: "Posterior draws per data set.")
  var draws = 500
  @Option(help: "Draws for the C2ST.")
  var samples = 10_000
  @Option(help: "Data sets scored by C2ST.")
  var observations = 1
  @Option(help: "Hidden layer widths of the TimeMLP, comma-separated.")
  var widths = "256,256,256,256,256"
  @Option(help: "Dropout of the TimeMLP (default: 0.05).")
  var dropout: Float?
  @OptionGroup(title: "Training") var training: TrainingOptions
  @OptionGroup var common: CommonOptions

  func validate() throws {
    _ = try parseList(methods, option: "--methods") { m in
      ["diffusion", "flow-matching", "flow-matching-ot", "consistency", "stable-consistency"].contains(m) ? m : nil
    }
    if datasets < 1 || draws < 2 || samples < 10 || observations < 1 {
      throw ValidationError("--datasets, --observations ≥ 1, --draws ≥ 2 and --samples ≥ 10")
    }
  }

  func run() throws {
    common.apply()
    try runHighDimBenchmark(self)
  }
}

func runHighDimBenchmark(_ o: HighDimBenchCommand) throws {
  let dims = try parseList(o.dimensions, option: "--dimensions") { Int($0) }
  let sims = o.simulations, datasets = o.datasets, draws = o.draws, samples = o.samples
  let observationCount = o.observations, seed = o.common.seed
  let methods = try parseList(o.methods, option: "--methods") { $0 }
  let config = try o.training.configuration(seed: seed, online: false)
  let epochs = config.epochs, batchSize = config.batchSize
  let widths: [Int]? = try ModelOptions.parse(["--widths", o.widths]).parsedWidths()
  let log = benchLog
  print("high-dimensional Gaussian linear: \(sims) offline simulations, \(epochs) epochs, batch \(batchSize), widths \(widths ?? [256, 256, 256, 256, 256]); NRMSE and calibration error over \(datasets) data sets × \(draws) draws; C2ST and sampling time for \(samples) draws on \(observationCount) data set(s); \(machineDescription()), \(Threading.count) threads")
  print("| d | method | NRMSE | calibration error | C2ST | train s | sample s (\(samples) draws) | network evaluations |")
  print("|---|---|---|---|---|---|---|---|")
  for d in dims {
    do {
      let task = try TaskRegistry.task(named: "gaussian_linear_\(d)")
      let (theta, x) = task.sampleJoint(count: sims, seed: seed)
      let (testTheta, testX) = task.sampleJoint(count: datasets, seed: seed &+ 1000)
      let observations = (0..<min(observationCount, datasets)).map { testX.row($0) }
      let exact = observations.enumerated().map { k, o in task.samplePosterior(observation: o, count: samples, seed: seed &+ 77 &+ UInt64(k))! }
      // The analytic posterior's own scores.
      let exactDraws = (0..<datasets).map { task.samplePosterior(observation: testX.row($0), count: draws, seed: seed &+ 5000 &+ UInt64($0))! }
      let exactRow = HighDimRow(
        dimension: d, method: "analytic", nrmse: mean(try normalizedRMSE(estimates: exactDraws, targets: testTheta)),
        calibration: mean(try calibrationError(estimates: exactDraws, targets: testTheta)),
        c2st: mean(try observations.indices.map { k in
          try c2st(reference: exact[k], samples: task.samplePosterior(observation: observations[k], count: samples, seed: seed &+ 9000 &+ UInt64(k))!, seed: 1)
        }), trainSeconds: 0, sampleSeconds: 0, evaluations: 0)
      printHighDim(exactRow)
      for name in methods {
        var optionArgs = ["--method", name, "--widths", o.widths]
        if name == "flow-matching-ot" {
          optionArgs = ["--method", "flow-matching", "--coupling", o.ot.rawValue, "--widths", o.widths]
        }
        if let p = o.dropout { optionArgs += ["--dropout", "\(p)"] }
        let m = try ModelOptions.parse(optionArgs)
        let label = name == "diffusion" ? "diffusion (EDM-VP-F)" : m.label
        let estimator = try m.makeEstimator(parameters: d, data: d, constraints: nil, seed: seed)
        let sampler: SamplerKind? = nil
        let history = try estimator.train(.simulations(parameters: theta, data: x), configuration: config) { p in
          if p.step % 2000 == 0 { log("  d=\(d) \(label): step \(p.step)/\(p.totalSteps) loss \(String(format: "%.4f", p.loss))") }
        }
        let post = try estimator.sample(observations: testX, count: draws, sampler: sampler, seed: seed &+ 3)
        var scores: [Double] = [], seconds: [Double] = [], evaluations = 0
        for (k, o) in observations.enumerated() {
          let r = try estimator.sample(
            observations: Matrix(rows: 1, cols: d, storage: o), count: samples, sampler: sampler,
            seed: seed &+ 11 &+ UInt64(k))
          seconds.append(r.seconds)
          evaluations = r.evaluations
          scores.append(try c2st(reference: exact[k], samples: finiteRows(r.samples[0]), seed: 1))
        }
        printHighDim(HighDimRow(
          dimension: d, method: label, nrmse: mean(try normalizedRMSE(estimates: post.samples, targets: testTheta)),
          calibration: mean(try calibrationError(estimates: post.samples, targets: testTheta)), c2st: mean(scores),
          trainSeconds: history.seconds, sampleSeconds: mean(seconds), evaluations: evaluations))
      }
    } catch {
      print("| \(d) | error: \(error) | | | | | | |")
    }
  }
}

func printHighDim(_ r: HighDimRow) {
  print("| \(r.dimension) | \(r.method) | \(String(format: "%.3f", r.nrmse)) | \(String(format: "%.3f", r.calibration)) | \(String(format: "%.3f", r.c2st)) | \(fmt(r.trainSeconds)) | \(fmt(r.sampleSeconds, 2)) | \(r.evaluations) |")
  fflush(nil)
}

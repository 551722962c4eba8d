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
  let seed = o.common.seed
  let methods = try parseList(o.methods, option: "--methods") { $0 }
  let config = try o.training.configuration(seed: seed, online: false)
  print("high-dimensional Gaussian linear: \(o.simulations) offline simulations, \(config.lengthLabel), batch \(config.batchSize), widths \(o.widths); NRMSE and calibration error over \(o.datasets) data sets × \(o.draws) draws; C2ST and sampling time for \(o.samples) draws on \(o.observations) data set(s), seed \(seed); \(machineDescription()), \(Threading.count) threads")
  print("| d | method | NRMSE | calibration error | C2ST | train s | sample s (\(o.samples) draws) | network evaluations |")
  print("|---|---|---|---|---|---|---|---|")
  for d in dims {
    do {
      let task = try TaskRegistry.task(named: "gaussian_linear_\(d)")
      printHighDim(d, try analyticPosteriorFloor(
        task: task, datasets: o.datasets, draws: o.draws, observations: o.observations, samples: o.samples, seed: seed))
      for name in methods {
        var optionArgs = ["--method", name, "--widths", o.widths]
        if name == "flow-matching-ot" {
          optionArgs = ["--method", "flow-matching", "--coupling", o.ot.rawValue, "--widths", o.widths]
        }
        if let p = o.dropout { optionArgs += ["--dropout", "\(p)"] }
        let m = try ModelOptions.parse(optionArgs)
        let spec = try m.benchmarkSpecification(training: config, samples: o.samples)
        let label = name == "diffusion" ? "diffusion (EDM-VP-F)" : m.label
        printHighDim(d, try runAnalyticPosteriorBenchmark(
          task: task, simulations: o.simulations, specification: spec, datasets: o.datasets, draws: o.draws,
          observations: o.observations, label: label, progress: { p in
            if p.step % 2000 == 0 { benchLog("  d=\(d) \(label): step \(p.step)/\(p.totalSteps) loss \(String(format: "%.4f", p.loss))") }
          }, log: benchLog))
      }
    } catch {
      print("| \(d) | error: \(error) | | | | | | |")
    }
  }
}

func printHighDim(_ d: Int, _ r: AnalyticPosteriorResult) {
  print("| \(d) | \(r.method) | \(String(format: "%.3f", r.nrmse)) | \(String(format: "%.3f", r.calibrationError)) | \(String(format: "%.3f", r.c2st)) | \(fmt(r.trainSeconds)) | \(fmt(r.sampleSeconds, 2)) | \(r.evaluations) |")
  fflush(nil)
}

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

func runHighDimBenchmark(arguments args: [String]) {
  let dims = (option(args, "--dimensions") ?? "50,100").split(separator: ",").compactMap { Int($0) }
  let sims = Int(option(args, "--simulations") ?? "100000") ?? 100_000
  let epochs = Int(option(args, "--epochs") ?? "20") ?? 20
  let batchSize = Int(option(args, "--batch-size") ?? "128") ?? 128
  let methods = (option(args, "--methods") ?? "diffusion,flow-matching,flow-matching-ot,consistency")
    .split(separator: ",").map(String.init)
  let ot = option(args, "--ot") ?? "conditional"
  let datasets = Int(option(args, "--datasets") ?? "100") ?? 100
  let draws = Int(option(args, "--draws") ?? "500") ?? 500
  let samples = Int(option(args, "--samples") ?? "10000") ?? 10_000
  let observationCount = Int(option(args, "--observations") ?? "1") ?? 1
  let seed = UInt64(option(args, "--seed") ?? "1") ?? 1
  let widths = parseWidths(args)
  if let t = option(args, "--threads").flatMap(Int.init) { Threading.count = t }
  let log: (String) -> Void = { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) }
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
        var optionArgs = ["--method", name]
        if name == "flow-matching-ot" { optionArgs = ["--method", "flow-matching", "--coupling", ot] }
        for key in ["--learning-rate", "--dropout"] { if let v = option(args, key) { optionArgs += [key, v] } }
        let m = MethodOptions(optionArgs)
        let label = name == "diffusion" ? "diffusion (EDM-VP-F)" : m.label
        var network = TimeMLPConfiguration(inputDimension: d, conditionDimension: d)
        if let widths { network.widths = widths }
        if let p = m.dropout { network.dropout = p }
        let estimator = try PosteriorEstimator(
          parameterDimension: d, conditionDimension: d, settings: m.settings, network: network, seed: seed)
        let config = TrainingConfiguration.benchmark(
          epochs: epochs, batchSize: batchSize, seed: seed, learningRate: m.learningRate)
        let history = try estimator.train(parameters: theta, data: x, configuration: config) { p in
          if p.step % 2000 == 0 { log("  d=\(d) \(label): step \(p.step)/\(p.totalSteps) loss \(String(format: "%.4f", p.loss))") }
        }
        let post = try estimator.sample(observations: testX, count: draws, sampler: m.defaultSampler, seed: seed &+ 3)
        var scores: [Double] = [], seconds: [Double] = [], evaluations = 0
        for (k, o) in observations.enumerated() {
          let r = try estimator.sample(
            observations: Matrix(rows: 1, cols: d, storage: o), count: samples, sampler: m.defaultSampler,
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

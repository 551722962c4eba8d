// `diffsbi-bench reference-posteriors` (hidden): writes observations 1–5 and 10,000 reference posterior samples of
// a task with an exact posterior sampler in the layout of the sbibm data (data/sbibm/README.md). It generates
// data/sbibm/ornstein_uhlenbeck; the folders of the sbibm tasks come from sbibm and are never written.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

struct ReferenceCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reference-posteriors",
    abstract: "Write observations and reference posterior samples of a task with an exact posterior sampler.",
    shouldDisplay: false)

  @Option(help: "Task (one with an exact posterior sampler that is not an sbibm task).")
  var task = "ornstein_uhlenbeck"
  @Option(help: "Data directory; the task's folder is written under it.")
  var out = "data/sbibm"
  /// θ_k is row k of prior draws with this seed, x_k is simulated with seed + 1, observation k's samples with
  /// seed + 100 + k.
  @Option(help: "Seed (θ: seed; observations: seed + 1; samples of observation k: seed + 100 + k).")
  var seed: UInt64 = 1
  @Option(help: "Observations.")
  var observations = 5
  @Option(help: "Reference samples per observation.")
  var samples = 10_000
  @Option(help: "Worker threads.")
  var threads: Int?

  func validate() throws {
    if observations < 1 || samples < 1 { throw ValidationError("--observations and --samples must be at least 1") }
  }

  func run() throws {
    Threading.configure(threads: threads)
    let t = try TaskRegistry.task(named: task)
    guard t.hasExactPosterior, let folder = t.sbibmDataName, !TaskRegistry.sbibmNames.contains(folder) else {
      throw ValidationError("--task: \(task) has no exact posterior sampler, or its data come from sbibm")
    }
    let start = Date()
    let theta = t.prior.sample(count: observations, seed: seed)
    let x = t.simulate(theta, seed: seed &+ 1)
    let dataNames = (1...t.dataDimension).map { "data_\($0)" }
    let parameterNames = (1...t.parameterDimension).map { "parameter_\($0)" }
    for k in 1...observations {
      let dir = URL(fileURLWithPath: out).appendingPathComponent(folder).appendingPathComponent("observation_\(k)")
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      let observationStart = Date()
      guard let draws = t.samplePosterior(observation: x.row(k - 1), count: samples, seed: seed &+ 100 &+ UInt64(k))
      else { throw ValidationError("--task: \(task) returned no posterior samples") }
      let seconds = Date().timeIntervalSince(observationStart)
      let path = { (file: String) in dir.appendingPathComponent(file).path }
      try CSV.write(theta.rows((k - 1)..<k), names: parameterNames, to: path("true_parameters.csv"))
      try CSV.write(x.rows((k - 1)..<k), names: dataNames, to: path("observation.csv"))
      try NPY.write(draws, to: path("reference_posterior_samples.npy"))
      let (mean, variance) = draws.columnMeanVariance()
      let list = { (v: [Double]) in v.map { String(format: "%.4f", $0) }.joined(separator: ", ") }
      print("\(folder) observation \(k): θ = (\(list(theta.row(k - 1).map(Double.init)))), posterior mean "
            + "(\(list(mean))), sd (\(list(variance.map { $0.squareRoot() }))), \(String(format: "%.2f", seconds)) s")
    }
    print("wrote \(observations) observations of \(folder) to \(out) in "
          + "\(String(format: "%.2f", Date().timeIntervalSince(start))) s (\(Threading.count) threads)")
  }
}

// `diffsbi benchmark`: tasks × methods × simulation budgets × samplers, scored by C2ST against sbibm references.

import ArgumentParser
import DiffusionSBI
import Foundation

/// One row of the benchmark table.
struct BenchmarkRow {
  var task: String
  var method: String
  var simulations: Int
  var sampler: String
  var c2st: [Double]
  var trainSeconds: Double
  var sampleSeconds: Double
  var evaluations: Int
  var mean: Double {
    let f = c2st.filter(\.isFinite)
    return f.isEmpty ? .nan : f.reduce(0, +) / Double(f.count)
  }
}

struct BenchmarkCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "benchmark",
    abstract: "Train, sample and score against sbibm reference posteriors over a grid of settings.",
    discussion: """
      For every task × method × simulation budget: simulate, train offline, then for every sampler draw \
      --samples posterior samples for each listed observation and compute the C2ST against sbibm's reference \
      samples. Writes results.csv (one row per task × method × budget × sampler: C2ST per observation and mean, \
      training seconds, sampling seconds per observation, network evaluations per observation) and results.md \
      (the same table plus mean C2ST per task, as in the review's case study 1).
      """)

  @Option(help: "Comma-separated task names (tasks with sbibm reference posteriors).")
  var tasks: String
  @Option(help: "Comma-separated simulation budgets, e.g. 1000,10000,100000.")
  var simulations: String
  @Option(help: "Comma-separated methods.")
  var methods = "diffusion"
  @Option(help: "Comma-separated samplers.")
  var samplers = "two-step-adaptive"
  @Option(help: "Comma-separated sbibm observation numbers (1–5).")
  var observations = "1,2,3,4,5"
  @Option(help: "Posterior samples per observation.")
  var samples = 10_000
  @Option(help: "Output directory.")
  var out: String
  @OptionGroup var model: ModelOptions
  @OptionGroup var common: CommonOptions

  func run() throws {
    common.apply()
    let taskList = try parseList(tasks, option: "--tasks") { $0 }.map(lookupTask)
    let budgets = try parseList(simulations, option: "--simulations") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
    let methodList = try parseList(methods, option: "--methods") { EstimatorMethod(rawValue: $0) }
    let samplerList = try parseList(samplers, option: "--samplers") { SamplerKind(rawValue: $0) }
    let obsList = try parseList(observations, option: "--observations") { Int($0) }
    for m in methodList {  // refuse unavailable methods before any work
      var opts = model
      opts.method = m
      _ = try opts.makeEstimator(parameters: 1, data: 1, constraints: nil, seed: 0)
    }
    for t in taskList {
      guard t.observationCount > 0 else { throw InputError("--tasks: task \(t.name) has no sbibm reference posteriors") }
      for k in obsList where k < 1 || k > t.observationCount {
        throw InputError("--observations: \(k) is outside 1…\(t.observationCount)")
      }
    }
    guard samples >= 10 else { throw InputError("--samples must be at least 10") }
    try makeDirectory(out)
    var rows: [BenchmarkRow] = []
    for t in taskList {
      let xo = try obsList.map { try t.observation($0) }
      let refs = try obsList.map { try t.referencePosteriorSamples($0) }
      let obs = Matrix(rows: xo.count, cols: t.dataDimension, storage: xo.flatMap { $0 })
      for method in methodList {
        for n in budgets {
          var opts = model
          opts.method = method
          let estimator = try opts.makeEstimator(parameters: t.parameterDimension, data: t.dataDimension,
                                                 constraints: constraints(for: t), seed: common.seed)
          let (theta, x) = t.sampleJoint(count: n, seed: common.seed)
          let (kept, _) = try NonFiniteRows.drop([theta, x])
          let label = "\(t.name) \(method.rawValue) n=\(n)"
          let reporter = ProgressReporter(label: label, mode: common.progressMode)
          let config = opts.training(seed: common.seed)
          try estimator.train(parameters: kept[0], data: kept[1], configuration: config,
                              progress: trainingProgress(reporter, epochs: config.epochs, batchSize: config.batchSize))
          reporter.finish("trained in \(fmt(estimator.settings.trainSeconds, 1)) s")
          for sampler in samplerList {
            var scores: [Double] = []
            var seconds = 0.0
            var evaluations = 0
            for (k, ref) in refs.enumerated() {
              let r = try estimator.sample(observations: obs.rows(k..<(k + 1)), count: samples, sampler: sampler,
                                           seed: common.seed &+ UInt64(k))
              seconds += r.seconds
              evaluations += r.evaluations
              let s = finiteRows(r.samples[0])
              scores.append(s.rows >= 10 ? try c2st(reference: ref, samples: s, seed: common.seed &+ 1) : 1)
            }
            let row = BenchmarkRow(
              task: t.name, method: method.rawValue, simulations: n, sampler: sampler.rawValue, c2st: scores,
              trainSeconds: estimator.settings.trainSeconds, sampleSeconds: seconds / Double(refs.count),
              evaluations: evaluations / refs.count)
            common.info("\(label) \(sampler.rawValue): mean C2ST \(fmt(row.mean)) "
                        + "(\(scores.map { fmt($0) }.joined(separator: ", ")))")
            rows.append(row)
          }
        }
      }
    }
    try writeResults(rows, observations: obsList)
    try common.emit([
      "out": out,
      "rows": rows.map { r -> [String: Any] in
        [
          "task": r.task, "method": r.method, "simulations": r.simulations, "sampler": r.sampler, "c2st": r.c2st,
          "c2st_mean": r.mean, "train_seconds": r.trainSeconds, "sample_seconds": r.sampleSeconds,
          "network_evaluations": r.evaluations,
        ]
      },
    ])
  }

  func writeResults(_ rows: [BenchmarkRow], observations obsList: [Int]) throws {
    let obsHeader = obsList.map { "c2st_obs\($0)" }
    var csv = (["task", "method", "simulations", "sampler"] + obsHeader
               + ["c2st_mean", "train_seconds", "sample_seconds", "network_evaluations"]).joined(separator: ",") + "\n"
    for r in rows {
      csv += ([r.task, r.method, "\(r.simulations)", r.sampler] + r.c2st.map { fmt($0, 4) }
              + [fmt(r.mean, 4), fmt(r.trainSeconds, 2), fmt(r.sampleSeconds, 3), "\(r.evaluations)"])
        .joined(separator: ",") + "\n"
    }
    var md = "# Benchmark results\n\nC2ST against sbibm reference posteriors (0.5 is best), \(samples) samples per "
    md += "observation; sampling seconds and network evaluations per observation.\n\n"
    md += "| task | method | simulations | sampler | " + obsList.map { "obs \($0)" }.joined(separator: " | ")
    md += " | mean C2ST | train s | sample s | NFE |\n"
    md += "|" + String(repeating: "---|", count: 8 + obsList.count) + "\n"
    for r in rows {
      md += "| \(r.task) | \(r.method) | \(r.simulations) | \(r.sampler) | "
      md += r.c2st.map { fmt($0) }.joined(separator: " | ")
      md += " | **\(fmt(r.mean))** | \(fmt(r.trainSeconds, 1)) | \(fmt(r.sampleSeconds, 2)) | \(r.evaluations) |\n"
    }
    // Pivot: one row per configuration, one column per task, and the mean over tasks.
    let taskNames = rows.reduce(into: [String]()) { if !$0.contains($1.task) { $0.append($1.task) } }
    let configs = rows.reduce(into: [String]()) {
      let c = "\($1.method) · \($1.simulations) · \($1.sampler)"
      if !$0.contains(c) { $0.append(c) }
    }
    md += "\n## Mean C2ST per task\n\n| configuration | " + taskNames.joined(separator: " | ") + " | mean |\n"
    md += "|" + String(repeating: "---|", count: taskNames.count + 2) + "\n"
    for c in configs {
      let values = taskNames.map { t in
        rows.first { $0.task == t && "\($0.method) · \($0.simulations) · \($0.sampler)" == c }?.mean ?? .nan
      }
      let f = values.filter(\.isFinite)
      md += "| \(c) | " + values.map { fmt($0) }.joined(separator: " | ")
      md += " | **\(fmt(f.isEmpty ? .nan : f.reduce(0, +) / Double(f.count)))** |\n"
    }
    try AtomicFile.write(csv, to: (out as NSString).appendingPathComponent("results.csv"))
    try AtomicFile.write(md, to: (out as NSString).appendingPathComponent("results.md"))
  }
}

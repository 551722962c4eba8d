// `diffsbi benchmark`: tasks × methods × simulation budgets × samplers, scored by C2ST against sbibm references.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

struct BenchmarkCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "benchmark",
    abstract: "Train, sample and score against sbibm reference posteriors over a grid of settings.",
    discussion: """
      For every task × simulation budget: simulate, train offline (the same runner as diffsbi-bench sbibm, so \
      the same options and seed reproduce BENCHMARKS.md), then for every sampler draw --samples posterior \
      samples for each listed observation and compute the C2ST against sbibm's reference samples. Writes \
      results.csv (rewritten after every task and budget, so an interrupted run keeps what it measured; one row per task × budget × sampler: C2ST per observation and mean, training seconds, \
      sampling seconds per observation, network evaluations per observation) and results.md (the same table \
      plus mean C2ST per task, as in the review's case study 1). --calibration N adds each model's calibration \
      error on N simulated data sets (as diffsbi diagnose measures it); --keep-models saves every trained model \
      as OUT/models/TASK-N for diffsbi sample, diagnose or report.
      """)

  @Option(help: "Comma-separated task names (tasks with sbibm reference posteriors).")
  var tasks: String
  @Option(help: "Comma-separated simulation budgets, e.g. 1000,10000,100000.")
  var simulations: String
  @Option(help: "Comma-separated samplers, each NAME, NAME:STEPS (fixed steps) or NAME:rms|max (an adaptive sampler's error norm), e.g. dpm-solver-2m:25,heun:50,tsit5:rms (default: the method's own; consistency models always use their multistep samplers).")
  var samplers: String?
  @Option(help: "Comma-separated sbibm observation numbers (1–5).")
  var observations = "1,2,3,4,5"
  @Option(help: "Posterior samples per observation.")
  var samples = 10_000
  @Option(help: "Simulated data sets on which each model's calibration error is measured, as diffsbi diagnose --datasets N does with the same seed (0: not measured).")
  var calibration = 0
  @Option(help: "Posterior draws per calibration data set (diffsbi diagnose's --draws).")
  var calibrationDraws = 200
  @Flag(help: "Save every trained model as OUT/models/TASK-N (a model directory, as diffsbi train writes).")
  var keepModels = false
  @Option(help: "Output directory.")
  var out: String
  @OptionGroup(title: "Estimator") var model: ModelOptions
  @OptionGroup(title: "Training") var training: TrainingOptions
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if samplers != nil && (model.method == .consistency || model.method == .stableConsistency) {
      throw ValidationError("--samplers: \(model.method.rawValue) models always use their own multistep sampler")
    }
    if samples < 10 { throw ValidationError("--samples must be at least 10") }
    if calibration < 0 || calibration == 1 { throw ValidationError("--calibration must be 0 (off) or at least 2") }
    if calibrationDraws < 2 { throw ValidationError("--calibration-draws must be at least 2") }
  }

  func run() throws {
    common.apply()
    let taskList = try parseList(tasks, option: "--tasks") { $0 }.map(lookupTask)
    let budgets = try parseList(simulations, option: "--simulations") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
    let samplerList = try samplers.map { try parseList($0, option: "--samplers") { SamplerChoice(parsing: $0) } }
      ?? [SamplerChoice()]
    let obsList = try parseList(observations, option: "--observations") { Int($0) }
    for t in taskList {
      // Refuse bad settings (and structured data without --summary) before any work.
      _ = try model.makeEstimator(parameters: t.parameterDimension, dataShape: t.dataShape, constraints: nil, seed: 0,
                                  source: t.name)
      guard t.observationCount > 0 else { throw InputError("--tasks: task \(t.name) has no sbibm reference posteriors") }
      for k in obsList where k < 1 || k > t.observationCount {
        throw InputError("--observations: \(k) is outside 1…\(t.observationCount)")
      }
    }
    var spec = try model.benchmarkSpecification(
      training: try training.configuration(seed: common.seed, online: false), samplers: samplerList,
      observations: obsList, samples: samples)
    spec.calibrationDataSets = calibration
    spec.calibrationDraws = calibrationDraws
    try makeDirectory(out)
    var rows: [SBIBMResult] = []
    for t in taskList {
      for n in budgets {
        let label = "\(t.name) \(model.label) n=\(n)"
        let reporter = ProgressReporter(label: label, mode: common.progressMode)
        let results = try runSBIBMBenchmark(
          task: t, simulations: n, specification: spec,
          progress: trainingProgress(reporter, batchSize: spec.training.batchSize),
          log: { common.info($0) },
          trained: keepModels ? { estimator in
            let path = ((out as NSString).appendingPathComponent("models") as NSString)
              .appendingPathComponent("\(t.name)-\(n)")
            try makeDirectory((out as NSString).appendingPathComponent("models"))
            try saveModel(estimator, task: t.name, to: path)
          } : nil)
        for r in results {
          var line = "\(label) \(r.sampler): mean C2ST \(fmt(r.meanC2ST)) (\(r.c2st.map { fmt($0) }.joined(separator: ", ")))"
          if !r.calibrationError.isEmpty { line += ", calibration error \(fmt(r.meanCalibrationError)) (largest \(fmt(r.maxCalibrationError)))" }
          common.info(line)
        }
        rows += results.map { var r = $0; r.method = model.label; return r }
        // The tables so far, rewritten after every task and budget: an interrupted run keeps what it measured.
        try writeResults(rows, observations: obsList)
      }
    }
    try common.emit([
      "out": out,
      "rows": rows.map { r -> [String: Any] in
        [
          "task": r.task, "method": r.method, "simulations": r.simulations, "sampler": r.sampler, "c2st": r.c2st,
          "c2st_mean": r.meanC2ST, "train_seconds": r.trainSeconds, "sample_seconds": average(r.sampleSeconds),
          "network_evaluations": average(r.evaluations.map(Double.init)), "epochs": r.epochs,
          "calibration_error": r.calibrationError,
        ]
      },
    ])
  }

  func writeResults(_ rows: [SBIBMResult], observations obsList: [Int]) throws {
    let obsHeader = obsList.map { "c2st_obs\($0)" }
    var csv = (["task", "method", "simulations", "sampler"] + obsHeader
               + ["c2st_mean", "train_seconds", "sample_seconds", "network_evaluations", "calibration_error_mean",
                  "calibration_error_max"]).joined(separator: ",") + "\n"
    for r in rows {
      csv += ([r.task, r.method, "\(r.simulations)", r.sampler] + r.c2st.map { fmt($0, 4) }
              + [fmt(r.meanC2ST, 4), fmt(r.trainSeconds, 2), fmt(average(r.sampleSeconds), 3),
                 fmt(average(r.evaluations.map(Double.init)), 0)]
              + (r.calibrationError.isEmpty ? ["", ""] : [fmt(r.meanCalibrationError, 4), fmt(r.maxCalibrationError, 4)]))
        .joined(separator: ",") + "\n"
    }
    var md = "# Benchmark results\n\nC2ST against sbibm reference posteriors (0.5 is best), \(samples) samples per "
    md += "observation; sampling seconds and network evaluations per observation.\n\n"
    md += "| task | method | simulations | sampler | " + obsList.map { "obs \($0)" }.joined(separator: " | ")
    md += " | mean C2ST | train s | sample s | NFE | cal. error (mean; largest) |\n"
    md += "|" + String(repeating: "---|", count: 9 + obsList.count) + "\n"
    for r in rows {
      md += "| \(r.task) | \(r.method) | \(r.simulations) | \(r.sampler) | "
      md += r.c2st.map { fmt($0) }.joined(separator: " | ")
      md += " | **\(fmt(r.meanC2ST))** | \(fmt(r.trainSeconds, 1)) | \(fmt(average(r.sampleSeconds), 2)) | "
      md += "\(fmt(average(r.evaluations.map(Double.init)), 0)) | "
      md += r.calibrationError.isEmpty ? "|\n" : "\(fmt(r.meanCalibrationError)); \(fmt(r.maxCalibrationError)) |\n"
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
        rows.first { $0.task == t && "\($0.method) · \($0.simulations) · \($0.sampler)" == c }?.meanC2ST ?? .nan
      }
      let f = values.filter(\.isFinite)
      md += "| \(c) | " + values.map { fmt($0) }.joined(separator: " | ")
      md += " | **\(fmt(f.isEmpty ? .nan : f.reduce(0, +) / Double(f.count)))** |\n"
    }
    try AtomicFile.write(csv, to: (out as NSString).appendingPathComponent("results.csv"))
    try AtomicFile.write(md, to: (out as NSString).appendingPathComponent("results.md"))
  }
}

/// Mean of a list (NaN when empty).
func average(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }

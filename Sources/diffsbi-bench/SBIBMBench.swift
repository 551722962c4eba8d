// `diffsbi-bench sbibm`: an estimator (any method) on sbibm tasks, C2ST per observation, as a Markdown table for
// BENCHMARKS.md. It runs the library's benchmark runner (`runSBIBMBenchmark`), the same one `diffsbi benchmark`
// runs, with the same option groups, so both commands give the same numbers for the same options and seed.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

struct SBIBMBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sbibm", abstract: "An estimator on sbibm tasks: C2ST per observation, times, evaluations.")

  @Option(help: "Comma-separated sbibm tasks.")
  var tasks = "two_moons"
  @Option(help: "Offline simulations.")
  var simulations = 100_000
  @Option(help: "Posterior draws per observation.")
  var samples = 10_000
  @Option(help: "Sampler (default: the method's own).")
  var sampler: SamplerKind?
  @Option(help: "Comma-separated sbibm observation numbers.")
  var observations = "1,2,3,4,5"
  @OptionGroup(title: "Estimator") var model: ModelOptions
  @OptionGroup(title: "Training") var training: TrainingOptions
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if simulations < 1 { throw ValidationError("--simulations must be at least 1") }
    if samples < 10 { throw ValidationError("--samples must be at least 10") }
    if sampler != nil && (model.method == .consistency || model.method == .stableConsistency) {
      throw ValidationError("--sampler: \(model.method.rawValue) models always use their own multistep sampler")
    }
  }

  func run() throws {
    common.apply()
    let taskList = try parseList(tasks, option: "--tasks") { $0 }
    let spec = try model.benchmarkSpecification(
      training: try training.configuration(seed: common.seed, online: false), samplers: [SamplerChoice(sampler, steps: nil, errorNorm: nil, minimumSteps: nil)],
      observations: try parseList(observations, option: "--observations") { Int($0) }, samples: samples)
    let c = spec.training
    print("sbibm benchmark: \(model.label), \(simulations) offline simulations, \(c.lengthLabel), batch \(c.batchSize), widths \(spec.widths ?? []), \(samples) samples/observation, sampler \(samplerLabel(method: model.method, requested: sampler)), seed \(common.seed); \(machineDescription()), \(Threading.count) threads")
    print("| task | method | C2ST per observation | mean C2ST | train s | sample s (mean) | network evaluations (mean) | final loss |")
    print("|---|---|---|---|---|---|---|---|")
    for name in taskList {
      do {
        let task = try TaskRegistry.task(named: name)
        let r = try runSBIBMBenchmark(task: task, simulations: simulations, specification: spec, progress: { p in
          if p.step % 2000 == 0 { benchLog("  step \(p.step)/\(p.totalSteps) loss \(String(format: "%.4f", p.loss))") }
        }, log: benchLog)[0]
        let per = r.c2st.map { String(format: "%.3f", $0) }.joined(separator: ", ")
        let ms = r.sampleSeconds.reduce(0, +) / Double(max(1, r.sampleSeconds.count))
        let me = Double(r.evaluations.reduce(0, +)) / Double(max(1, r.evaluations.count))
        print("| \(name) | \(model.label) | \(per) | \(String(format: "%.3f", r.meanC2ST)) | \(fmt(r.trainSeconds)) | \(fmt(ms)) | \(fmt(me, 0)) | \(String(format: "%.4f", r.finalLoss)) |")
        fflush(nil)
      } catch {
        print("| \(name) | \(model.label) | error: \(error) | | | | | |")
      }
    }
  }
}

/// A progress line on stderr.
func benchLog(_ message: String) { FileHandle.standardError.write((message + "\n").data(using: .utf8)!) }

// diffsbi-bench: performance and accuracy measurements for BENCHMARKS.md. Not run by CI.
//
//   diffsbi-bench gemm          GEMM GFLOP/s at the network's shapes, 1 and 2 threads, vs raw cblas_sgemm
//   diffsbi-bench kernels       ns/element of the elementwise kernels
//   diffsbi-bench train         TimeMLP training/inference throughput and FLOP utilization (--summaries: also
//                               summary networks + TimeMLP training throughput)
//   diffsbi-bench sbibm         an estimator (any method) on sbibm tasks: C2ST per observation, times, evaluations
//   diffsbi-bench highdim       diffusion, flow matching (± OT) and consistency models on Gaussian linear 50/100
//   diffsbi-bench sweep         trained-model numerical sweep: every schedule × prediction × sampler
//   diffsbi-bench composition   the review's composition ablation on the Gaussian model (exact scores)
//   diffsbi-bench ddm-ablation  the composition ablation on the flat drift-diffusion model, trained estimator
//   diffsbi-bench coupling      cost of the optimal-transport couplings of flow matching
//   diffsbi-bench hierarchical  hierarchical drift-diffusion with trained global/local networks
//   diffsbi-bench npz           time to load a large .npz, stored and deflated
//   diffsbi-bench beer2014      simulations per second of the beer2014 ODE task on prior draws
//   diffsbi-bench samplers      ns per element and evaluation of the samplers' own vector work
//   diffsbi-bench all           gemm, kernels and train
//
// Options are parsed by swift-argument-parser with the option groups of `diffsbi` (CommandLineOptions): a bad
// or inapplicable value is refused with exit code 2 and one line saying why.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import ExitCodes
import Foundation

struct DiffSBIBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "diffsbi-bench",
    abstract: "Performance and accuracy benchmarks of DiffusionSBI (tables for BENCHMARKS.md).",
    subcommands: [
      GEMMBenchCommand.self, KernelBenchCommand.self, TrainBenchCommand.self, SBIBMBenchCommand.self,
      HighDimBenchCommand.self, SweepBenchCommand.self, CompositionBenchCommand.self, DriftDiffusionAblationCommand.self,
      CouplingTimingCommand.self, ReferenceCommand.self, Beer2014BenchCommand.self,
      HierarchicalBenchCommand.self, NPZBenchCommand.self, CheckpointProbeCommand.self, ConvBenchCommand.self,
      BayesFlowBenchCommand.self, SamplerBenchCommand.self,
      AllBenchCommand.self,
    ],
    defaultSubcommand: AllBenchCommand.self)
}

@main
enum BenchEntry {
  static func main() {
    BLAS.ensureFastKernels()
    var command: ParsableCommand
    do {
      command = try DiffSBIBench.parseAsRoot(Array(CommandLine.arguments.dropFirst()))
    } catch {
      if DiffSBIBench.exitCode(for: error) == .success { DiffSBIBench.exit(withError: error) }
      let message = DiffSBIBench.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
      benchLog("diffsbi-bench: \(message) (see 'diffsbi-bench --help')")
      exit(2)
    }
    do { try command.run() } catch {
      if DiffSBIBench.exitCode(for: error) == .success { DiffSBIBench.exit(withError: error) }
      let (message, code) = describe(error)
      benchLog("diffsbi-bench: \(message)")
      exit(error is ValidationError ? 2 : code)
    }
  }
}

struct GEMMBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "gemm", abstract: "GEMM GFLOP/s at the network's shapes.")
  func run() { runGEMMBenchmark() }
}

struct KernelBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "kernels", abstract: "ns/element of the elementwise kernels.")
  func run() { runKernelBenchmark() }
}

/// Options of the training-throughput benchmark (also used by `all`).
struct TrainBenchOptions: ParsableArguments {
  @Option(help: "Comma-separated thread counts.")
  var threads = "1,2"
  @Option(help: "Comma-separated batch sizes.")
  var batches = "128,512,2048"
  @Flag(help: "Shorter timings.")
  var quick = false
  @Flag(help: "Time 1-thread runs by the thread's CPU clock (ignores time the thread is descheduled).")
  var threadClock = false
  @Option(help: "Also time the identical networks in PyTorch with this Python (Benchmarks/torch_*.py).")
  var torch: String?
  @Flag(help: "Also time the summary networks (DeepSet, SetTransformer, time series) trained with the TimeMLP.")
  var summaries = false
  @Flag(help: "Time only the summary networks (skip the TimeMLP tables).")
  var summariesOnly = false
  @Option(help: "Comma-separated batch sizes of the summary-network part.")
  var summaryBatches = "128,512"
  @Option(help: "Fewest rows per data-parallel shard of a training step (default: the library's).")
  var shardRows: Int?

  func run() throws {
    if let r = shardRows {
      guard r > 0 else { throw ValidationError("--shard-rows must be at least 1") }
      Trainer.minimumShardRows = r
    }
    let t = try parseList(threads, option: "--threads") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
    let b = try parseList(batches, option: "--batches") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
    let sb = try parseList(summaryBatches, option: "--summary-batches") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
    runTrainBenchmark(threads: t, batches: b, quick: quick, threadClock: threadClock, torchPython: torch,
                      timeMLP: !summariesOnly, summaryBatches: summaries || summariesOnly ? sb : nil)
  }
}

struct TrainBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "TimeMLP training/inference throughput and FLOP utilization (--summaries: summary networks too).")
  @OptionGroup var options: TrainBenchOptions
  func run() throws { try options.run() }
}

struct AllBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "all", abstract: "gemm, kernels and train.")
  @OptionGroup var options: TrainBenchOptions
  func run() throws {
    runGEMMBenchmark()
    print()
    runKernelBenchmark()
    print()
    try options.run()
  }
}

struct SweepBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep", abstract: "Trained-model numerical sweep: every schedule × prediction × sampler.")
  @Option(help: "Offline simulations.") var simulations = 20_000
  @Option(help: "Training epochs.") var epochs = 10
  @Option(help: "Hidden layer widths, comma-separated.") var widths = "64,64"
  @Option(help: "Posterior draws per cell.") var samples = 10_000
  @Option(help: "Worker threads.") var threads: Int?
  func run() throws {
    Threading.configure(threads: threads)
    runTrainedSweep(sims: simulations, epochs: epochs, widths: try ModelOptions.parse(["--widths", widths]).parsedWidths(),
                    count: samples)
  }
}

struct CompositionBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "composition", abstract: "The review's composition ablation on the Gaussian model (exact scores).")
  @Option(help: "Also write the table to this file.") var out: String?
  func run() throws {
    let table = try compositionAblationTable(progress: benchLog)
    print(table)
    if let out { try AtomicFile.write(table, to: out) }
  }
}

struct DriftDiffusionAblationCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ddm-ablation", abstract: "Composition ablation on the flat drift-diffusion model with a trained estimator.")
  @Option(help: "Output table.") var out = "ddm-ablation.md"
  func run() throws { try driftDiffusionAblation(output: out) }
}

struct CouplingTimingCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "coupling", abstract: "Cost of the mini-batch optimal-transport couplings of flow matching.")
  func run() throws { try couplingTiming() }
}

struct HierarchicalBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hierarchical", abstract: "Hierarchical drift-diffusion with trained global/local networks.")
  @Option(help: "Comma-separated numbers of subjects J.") var subjects = "2,10,50,100"
  @Option(help: "Trials per subject.") var trials = 30
  @Option(help: "Data sets per J.") var datasets = 8
  @Option(help: "Posterior draws per data set.") var samples = 50
  @Option(help: "Training simulations.") var simulations = 20_000
  @Option(help: "Training epochs.") var epochs = 30
  @Option(help: "Hidden layer widths, comma-separated.") var widths = "64,64,64"
  @Option(help: "Damping d0 of the composed global score.") var d0 = 1.0
  @Option(help: "Summary network over each subject's trials (a set of [trials, 2] items), one for the global and one for the local network: none (raw columns), deepset, set-transformer.")
  var summary: SummaryOption = .none
  @Option(help: "Width of each learned summary.") var summaryDim = 16
  @Option(help: "Worker threads.") var threads: Int?
  func run() throws {
    Threading.configure(threads: threads)
    let model = try ModelOptions.parse(["--widths", widths, "--summary", summary.rawValue]
                                       + (summary == .none ? [] : ["--summary-dim", "\(summaryDim)"]))
    runHierarchicalBenchmark(
      subjects: try parseList(subjects, option: "--subjects") { Int($0).flatMap { $0 > 0 ? $0 : nil } },
      trials: trials, datasets: datasets, samples: samples, sims: simulations, epochs: epochs,
      widths: try model.parsedWidths(), d0: d0,
      summary: try model.summaryArchitecture(dataShape: [trials, 2], source: "hierarchical"),
      summaryLabel: summary.rawValue)
  }
}

struct NPZBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "npz", abstract: "Time to load a large .npz (stored and deflated members).")
  @Option(help: "Rows of theta and x.") var rows = 10_000_000
  @Option(help: "Timed loads per file.") var repeats = 5
  @Option(help: "Folder for the benchmark files (reused when present).") var dir = NSTemporaryDirectory()
  func validate() throws {
    if rows < 1 || repeats < 1 { throw ValidationError("--rows and --repeats must be at least 1") }
  }
  func run() { runNPZBenchmark(rows: rows, repeats: repeats, dir: dir) }
}

/// A small, killable training run for the crash-safety tests (hidden).
struct CheckpointProbeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "checkpoint-probe", abstract: "A small killable training run (crash-safety tests).",
    shouldDisplay: false)
  @Option(help: "Output file for the final weights.") var out: String
  @Option(help: "Checkpoint directory.") var dir: String?
  @Option(help: "offline, online or shards.") var mode = "offline"
  @Option(help: "Worker threads.") var threads = 2
  @Option(help: "Checkpoint every this many steps.") var every = 7
  func validate() throws {
    if TrainingMode(rawValue: mode) == nil { throw ValidationError("--mode must be offline, online or shards") }
  }
  func run() {
    Threading.count = threads
    runCheckpointProbe(out: out, directory: dir, mode: TrainingMode(rawValue: mode)!, every: every)
  }
}

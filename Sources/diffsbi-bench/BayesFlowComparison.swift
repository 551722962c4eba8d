// `diffsbi-bench bayesflow`: diffsbi against BayesFlow's default diffusion workflow on the same simulations, in one
// run (Benchmarks/bayesflow_compare.sh with Benchmarks/bayesflow_two_moons.py): training time at equal epochs and
// batch size, sampling time for 10,000 draws, each side's C2ST, and the ratios.

import ArgumentParser
import CommandLineOptions
import Foundation

struct BayesFlowBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bayesflow",
    abstract: "diffsbi beside BayesFlow's default diffusion workflow on 10^4 two_moons simulations (training, sampling, C2ST).",
    discussion: """
      Runs Benchmarks/bayesflow_compare.sh with the diffsbi executable built beside this program. PYTHON must have \
      bayesflow and jax (pip install bayesflow jax); without them the BayesFlow rows say why they were skipped.
      """)
  @Option(help: "Training epochs of both sides.") var epochs = 100
  @Option(help: "Comma-separated diffsbi batch sizes (BayesFlow trains at 32 and 64 when listed).") var batches = "32,64,128"
  @Option(help: "Python with bayesflow and jax.") var python = "python3"
  @Flag(help: "Only the diffsbi rows.") var noBayesflow = false

  func run() throws {
    let list = try parseList(batches, option: "--batches") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
    guard epochs > 0 else { throw ValidationError("--epochs must be at least 1") }
    let script = benchmarkScriptPath("bayesflow_compare.sh")
    let diffsbi = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
      .appendingPathComponent("diffsbi").path
    guard FileManager.default.isExecutableFile(atPath: diffsbi) else {
      throw ValidationError("no diffsbi executable beside this program (\(diffsbi)): build the diffsbi product first")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = [script, "\(epochs)", list.map(String.init).joined(separator: " ")]
    var environment = ProcessInfo.processInfo.environment
    environment["DIFFSBI"] = diffsbi
    environment["PYTHON"] = python
    if noBayesflow { environment["BAYESFLOW"] = "0" }
    process.environment = environment
    try process.run()
    process.waitUntilExit()
    if process.terminationStatus != 0 { throw ExitCode(process.terminationStatus) }
  }
}

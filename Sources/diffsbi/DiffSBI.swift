// The `diffsbi` command tree (see Documentation/CLI.md for the interface we promise users).

import ArgumentParser
import CommandLineOptions
import DiffusionSBI

struct DiffSBI: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "diffsbi",
    abstract: "Amortized simulation-based inference with diffusion models.",
    discussion: """
      Train a neural posterior estimator on simulations once, then draw posterior samples for any observation \
      in seconds. Files in and out: NumPy .npy/.npz, CSV with a header row, safetensors.

      Exit codes: 0 success; 2 bad input (unreadable file, wrong shape, unknown option); \
      1 any other failure.
      Environment: DIFFSBI_THREADS sets the default thread count.
      """,
    version: "0.1.0",
    subcommands: commandList)
}

/// All subcommands, in the order `--help` lists them.
let commandList: [ParsableCommand.Type] = [
  DemoCommand.self, TasksCommand.self, SimulateCommand.self, TrainCommand.self, SampleCommand.self, GenerateCommand.self,
  LogProbCommand.self, MapCommand.self, C2STCommand.self, DiagnoseCommand.self, CheckCommand.self,
  BenchmarkCommand.self, ReportCommand.self,
]

// diffsbi-bench beer2014: throughput of the beer2014 simulator (CVODE BDF, Sources/Tasks/Beer2014.swift) on prior
// draws, per thread count and tolerance, with the number of failed integrations and the range of the data.

import ArgumentParser
import DiffusionSBI
import Foundation

struct Beer2014BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "beer2014", abstract: "Simulations per second of the beer2014 task on prior draws.")

  @Option(help: "Prior draws to simulate per timing.")
  var simulations = 400
  @Option(help: "Comma-separated thread counts.")
  var threads = "1,2"
  @Option(help: "Comma-separated CVODE tolerances, each relative:absolute (default: the task's).")
  var tolerances = "1e-8:1e-12"
  @Option(help: "Random seed of the prior draws and the noise.")
  var seed: UInt64 = 1

  func run() throws {
    print(machineDescription())
    let base = Beer2014Task()
    let theta = base.prior.sample(count: simulations, seed: seed)
    let saved = Threading.count
    defer { Threading.count = saved }
    print("| rtol | atol | threads | simulations | wall s | simulations/s (wall) | CPU s | simulations per CPU-s | failed | max Bac | max Ind |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for pair in tolerances.split(separator: ",") {
      let parts = pair.split(separator: ":").compactMap { Double($0) }
      guard parts.count == 2 else { throw ValidationError("--tolerances: expected relative:absolute, got '\(pair)'") }
      var task = base
      (task.relativeTolerance, task.absoluteTolerance) = (parts[0], parts[1])
      for t in threads.split(separator: ",").compactMap({ Int($0) }) {
        Threading.count = t
        let t0 = now(), c0 = processCPUTime()
        let x = task.simulate(theta, seed: seed &+ 1)
        let seconds = now() - t0, cpu = processCPUTime() - c0
        let failed = NonFiniteRows.indices(in: x).count
        var maxBac: Float = 0, maxInd: Float = 0
        for r in 0..<x.rows where x[r, 0].isFinite {
          for k in 0..<x.cols {
            if k % 2 == 0 { maxBac = max(maxBac, x[r, k]) } else { maxInd = max(maxInd, x[r, k]) }
          }
        }
        print("| \(parts[0]) | \(parts[1]) | \(t) | \(simulations) | \(fmt(seconds, 2)) | \(fmt(Double(simulations) / seconds, 1)) "
              + "| \(fmt(cpu, 2)) | \(fmt(Double(simulations) / cpu, 1)) | \(failed) | \(fmt(Double(maxBac), 2)) | \(fmt(Double(maxInd), 2)) |")
      }
    }
  }
}

/// User plus system CPU seconds of the whole process (all threads), robust to other work on a shared machine.
func processCPUTime() -> Double {
  var usage = rusage()
  getrusage(RUSAGE_SELF.rawValue, &usage)
  return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
    + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
}

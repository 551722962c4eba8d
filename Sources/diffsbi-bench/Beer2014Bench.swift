// diffsbi-bench beer2014: throughput of the beer2014 simulator (CVODE BDF, Sources/Tasks/Beer2014.swift) on prior
// draws, per thread count and tolerance, with the number of failed integrations and the range of the data; with
// --network, training steps of the time-series summary network (714 × 38 series, 144-wide summary) with the
// default TimeMLP, per convolution stride, timed by the thread's CPU clock on one thread.

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
  @Flag(help: "Time training steps of the time-series summary network on 714 × 38 series instead.")
  var network = false
  @Option(help: "With --network: comma-separated convolution strides (0: the automatic one).")
  var strides = "1,0"
  @Option(help: "With --network: batch size.")
  var batch = 64

  func run() throws {
    print(machineDescription())
    if network { return try summaryTiming() }
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

extension Beer2014BenchCommand {
  /// Training steps (BenchObjective, AdamW) of the time-series network + 5 × 256 TimeMLP on standard-normal
  /// series of the beer2014 shape, one thread, thread CPU clock.
  func summaryTiming() throws {
    let saved = (Threading.count, benchUsesThreadClock)
    (Threading.count, benchUsesThreadClock) = (1, true)
    defer { (Threading.count, benchUsesThreadClock) = saved }
    print("| stride | kernel | GRU steps | summary params | batch | samples/s (1 thread, CPU clock) | step ms |")
    print("|---|---|---|---|---|---|---|")
    for stride in strides.split(separator: ",").compactMap({ Int($0) }) {
      let choice = SummaryChoice(kind: .timeSeries, summaryDimension: 144, stride: stride == 0 ? nil : stride)
      let architecture = try choice.architecture(dataShape: [714, 38])
      guard case .timeSeries(let c) = architecture else { continue }
      var rng = Xoshiro(seed: 1)
      let summary = architecture.makeNetwork(rng: &rng)
      let net = TimeMLP(configuration: TimeMLPConfiguration(inputDimension: 72, conditionDimension: 144), rng: &rng)
      var cfg = TrainingConfiguration()
      cfg.batchSize = batch
      cfg.optimizer = .adamW
      let trainer = Trainer(model: TrainableModel(network: net, summary: summary), objective: BenchObjective(),
                            configuration: cfg)
      var data = Xoshiro(seed: 2)
      let b = TrainingBatch(parameters: data.normalMatrix(rows: batch, cols: 72),
                            conditions: data.normalMatrix(rows: batch, cols: 714 * 38))
      let s = stepSeconds(trainer, b, targetSeconds: 3)
      print("| \(c.stride) | \(c.kernelSize) | \(c.windows) | \(summary.parameters.count) | \(batch) "
            + "| \(fmt(Double(batch) / s, 0)) | \(fmt(s * 1e3, 1)) |")
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

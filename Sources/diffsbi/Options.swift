// Options shared by several commands, enum-typed option values, and the --json output.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

extension CommonOptions {
  var progressMode: ProgressMode { quiet ? .quiet : .auto }

  /// A log line on stderr unless --quiet.
  func info(_ message: String) {
    if !quiet { log(message) }
  }

  /// Prints the --json summary (keys sorted) on stdout.
  func emit(_ summary: [String: Any]) throws {
    guard json else { return }
    try printJSON(summary)
  }
}

/// Prints one JSON object on stdout; non-finite numbers become null.
func printJSON(_ object: [String: Any]) throws {
  let data = try JSONSerialization.data(withJSONObject: sanitize(object), options: [.sortedKeys])
  FileHandle.standardOutput.write(data)
  FileHandle.standardOutput.write("\n".data(using: .utf8)!)
}

func sanitize(_ value: Any) -> Any {
  switch value {
  case let d as Double: return d.isFinite ? d : NSNull()
  case let f as Float: return f.isFinite ? Double(f) : NSNull()
  case let a as [Any]: return a.map(sanitize)
  case let o as [String: Any]: return o.mapValues(sanitize)
  default: return value
  }
}

/// The estimator's constraint transform for a task's prior support.
func constraints(for task: any SimulationTask) -> [Constraint] {
  task.prior.constraint.constraints(dimension: task.parameterDimension)
}

/// Looks a task up, as bad input when the name is unknown.
func lookupTask(_ name: String) throws -> any SimulationTask {
  try TaskRegistry.task(named: name)
}

/// Formats a number for tables and messages.
func fmt(_ v: Double, _ digits: Int = 3) -> String {
  v.isFinite ? String(format: "%.\(digits)f", v) : "nan"
}

/// Parameter names θ1…θd.
func parameterNames(_ d: Int) -> [String] { (1...max(d, 1)).map { "theta_\($0)" } }

/// Training progress on the reporter: epoch, running loss, samples/s and ETA.
func trainingProgress(_ reporter: ProgressReporter, batchSize: Int) -> (TrainingProgress) -> Void {
  var running = Double.nan
  return { p in
    if p.loss.isFinite { running = running.isNaN ? Double(p.loss) : 0.98 * running + 0.02 * Double(p.loss) }
    // The run's own epoch cap (it scales with the data offline); with a time budget, no cap.
    let cap = p.epochs.map { "/\($0)" } ?? ""
    reporter.update(
      done: (p.step + 1) * batchSize, total: p.totalSteps * batchSize, unit: "samples",
      values: [("epoch", "\(p.epoch + 1)\(cap)"), ("loss", fmt(running, 4))], force: p.step + 1 == p.totalSteps)
  }
}


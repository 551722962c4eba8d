// Progress display for long work: a live bar on a terminal, plain periodic lines otherwise, nothing when quiet.

import Foundation

/// How progress is shown on stderr.
enum ProgressMode {
  /// A live, self-overwriting bar when stderr is a terminal; plain lines every few seconds otherwise.
  case auto
  /// Nothing at all.
  case quiet
}

/// Writes progress to stderr. Not thread-safe: call from the thread that runs the work.
final class ProgressReporter {
  let mode: ProgressMode
  let label: String
  let isTerminal: Bool
  let plainInterval: Double
  private var lastPlain = -Double.infinity
  private var lastDraw = -Double.infinity
  private let start = Date()
  private var drewBar = false

  init(label: String, mode: ProgressMode, plainInterval: Double = 5) {
    self.label = label
    self.mode = mode
    self.isTerminal = isatty(STDERR_FILENO) == 1
    self.plainInterval = plainInterval
  }

  /// Reports `done` of `total` units with optional named values (loss, epoch, ...).
  func update(done: Int, total: Int, unit: String = "", values: [(String, String)] = [], force: Bool = false) {
    if mode == .quiet { return }
    let elapsed = Date().timeIntervalSince(start)
    let frac = total > 0 ? min(1, Double(done) / Double(total)) : 0
    let rate = elapsed > 0 ? Double(done) / elapsed : 0
    let eta = rate > 0 ? Double(total - done) / rate : .nan
    let extras = values.map { "\($0.0) \($0.1)" }.joined(separator: "  ")
    if isTerminal {
      if !force && elapsed - lastDraw < 0.1 { return }
      lastDraw = elapsed
      let width = 24
      let filled = Int(frac * Double(width))
      let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
      let line = "\(label) \(bar) \(Int(frac * 100))%  \(extras)  \(formatRate(rate, unit))  ETA \(formatDuration(eta))"
      FileHandle.standardError.write(("\r\u{1B}[2K" + line).data(using: .utf8)!)
      drewBar = true
    } else {
      if !force && elapsed - lastPlain < plainInterval { return }
      lastPlain = elapsed
      let line = "\(label): \(done)/\(total) (\(Int(frac * 100))%)  \(extras)  \(formatRate(rate, unit))  ETA \(formatDuration(eta))\n"
      FileHandle.standardError.write(line.data(using: .utf8)!)
    }
  }

  /// Ends the bar line (terminal) and prints a final message.
  func finish(_ message: String) {
    if mode == .quiet { return }
    if isTerminal && drewBar { FileHandle.standardError.write("\r\u{1B}[2K".data(using: .utf8)!) }
    FileHandle.standardError.write("\(label): \(message)\n".data(using: .utf8)!)
  }

  private func formatRate(_ r: Double, _ unit: String) -> String {
    if unit.isEmpty { return "" }
    if r >= 1e6 { return String(format: "%.1fM %@/s", r / 1e6, unit) }
    if r >= 1e3 { return String(format: "%.1fk %@/s", r / 1e3, unit) }
    if r >= 1 { return String(format: "%.1f %@/s", r, unit) }
    return String(format: "%.3f %@/s", r, unit)
  }
}

/// "1h02m", "3m05s", "12s", or "--" for unknown.
func formatDuration(_ s: Double) -> String {
  guard s.isFinite, s >= 0 else { return "--" }
  let t = Int(s.rounded())
  if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
  if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
  return "\(t)s"
}

/// Writes one line to stderr.
func log(_ message: String) {
  FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

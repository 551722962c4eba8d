// Running child processes from tests: the built executables next to the test bundle, and tools on PATH.

import Foundation
import Testing

/// What a finished child process left behind.
public struct ProcessResult: Sendable {
  public var status: Int32
  public var stdout: String
  public var stderr: String

  /// stdout followed by stderr (for failure messages).
  public var output: String { stdout + stderr }
}

/// Runs `executable` with `arguments` (extra `environment` variables on top of this process's, in `directory`
/// when given) and waits for it. Both pipes are read concurrently so that a chatty process cannot block on a full
/// pipe.
@discardableResult
public func runProcess(
  _ executable: URL, _ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil
) throws -> ProcessResult {
  let p = Process()
  p.executableURL = executable
  p.arguments = arguments
  var env = ProcessInfo.processInfo.environment
  for (k, v) in environment { env[k] = v }
  p.environment = env
  if let directory { p.currentDirectoryURL = directory }
  let out = Pipe()
  let err = Pipe()
  p.standardOutput = out
  p.standardError = err
  try p.run()
  nonisolated(unsafe) var errData = Data()
  let group = DispatchGroup()
  group.enter()
  DispatchQueue.global().async {
    errData = err.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  p.waitUntilExit()
  return ProcessResult(
    status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}

/// A product of this package built next to the test bundle (`diffsbi`, `diffsbi-bench`), if it is there. The
/// test runner may sit inside an .xctest bundle directory, so a few parent directories are searched.
public func builtExecutable(_ name: String) -> URL? {
  let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
  var dir = here.deletingLastPathComponent()
  for _ in 0..<4 {
    let candidate = dir.appendingPathComponent(name)
    if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    dir = dir.deletingLastPathComponent()
  }
  return nil
}

/// External tools some tests need. A test that needs a missing one is disabled with a condition trait
/// (`@Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))`), so that it reports itself as skipped.
public enum ToolProbe {
  /// The path of an executable on PATH, if any.
  public static func executable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  /// Whether the `python3` on PATH can import numpy.
  public static let hasNumpy: Bool = {
    guard let python = executable("python3") else { return false }
    return (try? runProcess(URL(fileURLWithPath: python), ["-c", "import numpy"]).status) == 0
  }()

  public static let numpyMissing: Comment = "needs python3 with numpy on PATH"

  /// A Chromium-family browser on PATH (Debian package `chromium`), if any.
  public static let chromium: String? = ["chromium", "chromium-browser", "google-chrome"].lazy
    .compactMap(executable).first
}

/// Runs `python3 -c script arguments…`.
public func runPython(_ script: String, arguments: [String] = []) throws -> ProcessResult {
  try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script] + arguments)
}

import Foundation

/// Runs the built `diffsbi` executable (a sibling of the test bundle in the build directory).
struct CLIResult {
  var status: Int32
  var stdout: String
  var stderr: String
}

enum CLI {
  static var executable: URL {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = here.deletingLastPathComponent()
    // The test runner may be inside an .xctest bundle directory on some platforms.
    for _ in 0..<4 {
      let candidate = dir.appendingPathComponent("diffsbi")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
      dir = dir.deletingLastPathComponent()
    }
    return here.deletingLastPathComponent().appendingPathComponent("diffsbi")
  }

  static var available: Bool { FileManager.default.isExecutableFile(atPath: executable.path) }

  /// A fresh temporary directory.
  static func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("diffsbi-test-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @discardableResult
  static func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil) throws -> CLIResult {
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
    // Read both pipes concurrently so a chatty process cannot block on a full pipe.
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
    return CLIResult(
      status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self))
  }
}

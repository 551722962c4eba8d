import Foundation
@testable import FileFormats

/// A fresh temporary directory for one test.
func temporaryDirectory() -> String {
  let path = NSTemporaryDirectory() + "/ffmt-" + UUID().uuidString
  try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Runs python3 with the given script and returns (status, stdout); nil when python3 with numpy is missing.
func runPython(_ script: String, arguments: [String] = []) -> (Int32, String)? {
  guard pythonWithNumpy else { return nil }
  return runProcess("/usr/bin/env", ["python3", "-c", script] + arguments)
}

let pythonWithNumpy: Bool = {
  guard let (status, _) = runProcess("/usr/bin/env", ["python3", "-c", "import numpy"]) else { return false }
  return status == 0
}()

func runProcess(_ executable: String, _ arguments: [String]) -> (Int32, String)? {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  let pipe = Pipe()
  process.standardOutput = pipe
  process.standardError = pipe
  do { try process.run() } catch { return nil }
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Whether `body` throws a FileFormatError whose message contains all of `fragments`.
func throwsFormatError(_ fragments: [String], _ body: () throws -> Void) -> Bool {
  do {
    try body()
    return false
  } catch let error as FileFormatError {
    let text = error.description
    return fragments.allSatisfy { text.contains($0) }
  } catch {
    return false
  }
}

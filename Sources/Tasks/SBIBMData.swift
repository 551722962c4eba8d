// Locating and reading the sbibm reference data (observations, true parameters, reference posterior samples and
// the simulator assets), converted from the sbibm 1.1.0 wheel; layout in data/sbibm/README.md.

import Foundation
import NumericCore

/// The sbibm data directory and its small CSV/JSON files.
public enum SBIBMData {
  /// Environment variable naming the data directory explicitly.
  public static let environmentVariable = "DIFFSBI_SBIBM_DATA"
  /// Folder names tried under each ancestor directory, in order.
  public static let candidateSubpaths = ["shared/data/sbibm", "data/sbibm"]

  /// The sbibm data directory: `$DIFFSBI_SBIBM_DATA` if set, else the first `shared/data/sbibm` or `data/sbibm`
  /// found walking up from the current directory, from the executable's directory and from this source file.
  public static func directory(sourceFile: String = #filePath) throws(TaskError) -> URL {
    let fm = FileManager.default
    if let env = ProcessInfo.processInfo.environment[environmentVariable], !env.isEmpty {
      let url = URL(fileURLWithPath: env)
      if isDataDirectory(url) { return url }
      throw .dataNotFound(searched: [env])
    }
    var starts = [URL(fileURLWithPath: fm.currentDirectoryPath)]
    if let exe = Bundle.main.executableURL { starts.append(exe.deletingLastPathComponent()) }
    starts.append(URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent())
    starts.append(URL(fileURLWithPath: sourceFile).deletingLastPathComponent())
    var searched: [String] = []
    for start in starts {
      var dir = start.standardizedFileURL
      while true {
        for sub in candidateSubpaths {
          let candidate = dir.appendingPathComponent(sub)
          if isDataDirectory(candidate) { return candidate }
        }
        searched.append(dir.path)
        let parent = dir.deletingLastPathComponent()
        if parent.path == dir.path || dir.path == "/" { break }
        dir = parent
      }
    }
    throw .dataNotFound(searched: searched)
  }

  static func isDataDirectory(_ url: URL) -> Bool {
    var isDir: ObjCBool = false
    let probe = url.appendingPathComponent("two_moons")
    return FileManager.default.fileExists(atPath: probe.path, isDirectory: &isDir) && isDir.boolValue
  }

  /// The folder of observation `k` of `task` (sbibm data name).
  public static func observationDirectory(task: String, observation k: Int) throws(TaskError) -> URL {
    try directory().appendingPathComponent(task).appendingPathComponent("observation_\(k)")
  }

  /// An asset file (`assets/<name>`).
  public static func asset(_ name: String) throws(TaskError) -> URL {
    try directory().appendingPathComponent("assets").appendingPathComponent(name)
  }

  /// Rows of numbers from a small CSV file; a first line that does not parse as numbers is taken as a header.
  public static func readNumericCSV(_ url: URL) throws(TaskError) -> [[Double]] {
    let text: String
    do { text = try String(contentsOf: url, encoding: .utf8) } catch {
      throw .badDataFile(path: url.path, reason: "cannot read (\(error))")
    }
    var rows: [[Double]] = []
    for (i, line) in text.split(whereSeparator: \.isNewline).enumerated() {
      let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      let values = fields.compactMap(Double.init)
      if values.count != fields.count {
        if i == 0 { continue }
        throw .badDataFile(path: url.path, reason: "non-numeric field on line \(i + 1)")
      }
      rows.append(values)
    }
    return rows
  }
}

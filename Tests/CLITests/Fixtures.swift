import DiffusionSBI
import Foundation
import Testing

/// Helpers shared by the CLI tests.
enum Fixture {
  static func path(_ dir: URL, _ name: String) -> String { dir.appendingPathComponent(name).path }

  static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

  /// Files in a directory (to check that a failed command left nothing behind, temporary files included).
  static func listing(_ dir: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
  }

  /// Parses the single JSON object a --json command prints on stdout.
  static func json(_ r: CLIResult) throws -> [String: Any] {
    let data = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).data(using: .utf8)!
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  /// The tiny settings every training test uses (so the suite stays fast).
  static let tinyTraining = ["--epochs", "2", "--widths", "32,32", "--batch-size", "64", "--quiet"]

  /// A tiny two_moons model in a fresh directory, trained once per test process.
  static let model: (dir: URL, model: String) = {
    let dir = CLI.temporaryDirectory()
    let model = path(dir, "model")
    _ = try? CLI.run(["train", "--task", "two_moons", "--simulations", "600", "--out", model] + tinyTraining)
    return (dir, model)
  }()

  /// Expects exit code 2, exactly one line on stderr that mentions `mention`, and nothing on stdout.
  static func expectBadInput(_ r: CLIResult, mentioning mention: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == 2, "exit \(r.status); stderr: \(r.stderr)", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
    #expect(lines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.contains(mention), "stderr should mention \(mention): \(r.stderr)", sourceLocation: sourceLocation)
  }
}

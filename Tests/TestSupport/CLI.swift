// The built `diffsbi` executable and the fixtures of the CLI tests.

import Foundation
import Testing

/// Runs the built `diffsbi` executable (a sibling of the test bundle in the build directory).
public enum CLI {
  public static var executable: URL? { builtExecutable("diffsbi") }

  public static var available: Bool { executable != nil }

  @discardableResult
  public static func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil)
    throws -> ProcessResult
  {
    guard let executable else { throw FixtureError("the diffsbi executable is not built") }
    return try runProcess(executable, arguments, environment: environment, in: directory)
  }
}

/// A fixture that could not be set up; the test using it fails with this message.
public struct FixtureError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// Helpers shared by the CLI tests.
public enum Fixture {
  public static func path(_ dir: URL, _ name: String) -> String { dir.appendingPathComponent(name).path }

  public static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

  /// Files in a directory (to check that a failed command left nothing behind, temporary files included).
  public static func listing(_ dir: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
  }

  /// Parses the single JSON object a --json command prints on stdout.
  public static func json(_ r: ProcessResult) throws -> [String: Any] {
    let data = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).data(using: .utf8)!
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  /// The tiny settings every training test uses (so the suite stays fast).
  public static let tinyTraining = ["--epochs", "2", "--widths", "32,32", "--batch-size", "64", "--quiet"]

  /// A tiny two_moons model in a fresh directory, trained once per test process; a failed training fails every
  /// test that uses it.
  public static func model() throws -> (dir: URL, model: String) { try trainedModel.get() }

  private static let trainedModel: Result<(dir: URL, model: String), FixtureError> = {
    let dir = makeTemporaryDirectory("diffsbi-cli")
    let model = path(dir, "model")
    do {
      let r = try CLI.run(["train", "--task", "two_moons", "--simulations", "600", "--out", model] + tinyTraining)
      guard r.status == 0 else { return .failure(FixtureError("fixture training exited \(r.status): \(r.stderr)")) }
    } catch {
      return .failure(FixtureError("fixture training did not run: \(error)"))
    }
    return .success((dir, model))
  }()

  /// Expects exit code 2, exactly one line on stderr that mentions `mention`, and nothing on stdout.
  public static func expectBadInput(
    _ r: ProcessResult, mentioning mention: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(r.status == 2, "exit \(r.status); stderr: \(r.stderr)", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
    #expect(lines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.contains(mention), "stderr should mention \(mention): \(r.stderr)", sourceLocation: sourceLocation)
  }
}

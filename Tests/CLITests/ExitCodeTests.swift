import DiffusionSBI
import ExitCodes
import Foundation
import Testing

/// Every public error type of the library has a deliberate exit code (Documentation/CLI.md §1.2: 2 bad input,
/// 1 other failures).
/// A new error type fails `everyLibraryErrorTypeIsListed` until it is classified in Sources/ExitCodes and listed
/// here with a representative value.
@Suite struct ExitCodeTests {
  /// A representative value of each public error type and the exit code the CLI gives it.
  static let classified: [(error: any Error, code: Int32)] = [
    (FileFormatError.fileNotFound(path: "a.npy"), 2),
    (TaskError.unknownTask("moons"), 2),
    (EstimatorError.shapeMismatch("θ"), 2),
    (TrainingError.emptyDataset, 2),
    (DiagnosticsError.dimensionMismatch("x"), 2),
    (ModelFileError.newerFormatVersion(found: 9, supported: 1), 2),
    (DiffusionError.invalidOption("σ"), 2),
    (CheckpointError.unreadable(path: "c", reason: "r"), 2),
    (CompositionError.notPositiveDefinite("prior covariance"), 2),
    (FlowMatchingError.invalidOption("α"), 2),
    (ConsistencyError.invalidOption("T"), 2),
    (SpecificationError.invalid("prior"), 2),
    (ODEError.stepSizeTooSmall(t: 0.5), 1),
    (LinearAlgebraError.notPositiveDefinite(pivot: 1), 1),
    (SimulatorError.timedOut(command: "sim", batch: 0, seconds: 1, stderr: []), 1),
    (SequentialError.noValidSimulations(round: 2), 1),
  ]

  /// The names of the public error types declared in Sources (outside the command-line tool).
  static func declaredErrorTypes() throws -> Set<String> {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Sources")
    let pattern = try NSRegularExpression(
      pattern: #"public\s+(?:final\s+)?(?:enum|struct|class)\s+(\w+)\s*:[^{]*\bError\b"#)
    var names = Set<String>()
    let files = try #require(FileManager.default.enumerator(atPath: root.path))
    for case let file as String in files where file.hasSuffix(".swift") && !file.hasPrefix("diffsbi") {
      let text = try String(contentsOfFile: root.appendingPathComponent(file).path, encoding: .utf8)
      for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
        names.insert(String(text[Range(m.range(at: 1), in: text)!]))
      }
    }
    return names
  }

  @Test func everyLibraryErrorTypeIsListed() throws {
    let declared = try Self.declaredErrorTypes()
    let listed = Set(Self.classified.map { String(describing: type(of: $0.error)) })
    #expect(declared.count >= 14)
    #expect(declared.subtracting(listed).isEmpty,
            "error types without an exit-code decision: \(declared.subtracting(listed).sorted())")
    #expect(listed.subtracting(declared).isEmpty, "listed but not declared: \(listed.subtracting(declared).sorted())")
  }

  @Test func simulatorOutputThatContradictsTheModelIsBadInput() {
    #expect(exitCode(for: SimulatorError.wrongShape(command: "sim", batch: 0, expected: [2], got: [3])) == 2)
    #expect(exitCode(for: SimulatorError.exited(command: "sim", batch: 0, status: "s", restarts: 3, stderr: [])) == 1)
  }

  @Test func eachTypeIsClassifiedOnceWithItsCode() {
    for (error, code) in Self.classified {
      let name = String(describing: type(of: error))
      #expect((error is UserInputError) != (error is ComputationError), "\(name) must be classified exactly once")
      let (message, exit) = describe(error)
      #expect(exit == code, "\(name): exit \(exit), expected \(code)")
      #expect(!message.isEmpty && !message.contains("\n"), "\(name): \(message)")
    }
  }
}

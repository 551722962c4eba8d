// Typed errors of the file readers and writers.

/// The file formats this module reads and writes, used to label errors.
public enum FileFormatKind: String, Sendable, Equatable, CustomStringConvertible {
  case npy = ".npy"
  case npz = ".npz"
  case zip = "zip"
  case deflate = "deflate"
  case csv = "CSV"
  case safetensors = "safetensors"
  case json = "JSON"

  public var description: String { rawValue }
}

/// An error while reading or writing a data file. Every message names the file (or `<memory>` for in-memory
/// input) and the problem, so that it can be shown to a user as one line.
public enum FileFormatError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The file does not exist.
  case fileNotFound(path: String)
  /// An operating-system call failed (`operation` is e.g. "open", "read", "rename"; `reason` is strerror).
  case io(path: String, operation: String, reason: String)
  /// The content violates the format.
  case malformed(path: String, format: FileFormatKind, reason: String)
  /// The content ends before the format says it should.
  case truncated(path: String, format: FileFormatKind, reason: String)
  /// The content is valid but uses a feature this reader does not support (e.g. a complex dtype).
  case unsupported(path: String, format: FileFormatKind, feature: String)
  /// An archive or table lacks a required named entry.
  case missingEntry(path: String, name: String, available: [String])
  /// A CSV row could not be read (1-based line number).
  case csvLine(path: String, line: Int, reason: String)
  /// The caller passed arrays that cannot be written (e.g. shape and element count disagree).
  case invalidArgument(path: String, reason: String)

  public var description: String {
    switch self {
    case .fileNotFound(let path):
      return "\(path): no such file"
    case .io(let path, let operation, let reason):
      return "\(path): \(operation) failed: \(reason)"
    case .malformed(let path, let format, let reason):
      return "\(path): not a valid \(format) file: \(reason)"
    case .truncated(let path, let format, let reason):
      return "\(path): truncated \(format) file: \(reason)"
    case .unsupported(let path, let format, let feature):
      return "\(path): unsupported \(format) feature: \(feature)"
    case .missingEntry(let path, let name, let available):
      let list = available.isEmpty ? "none" : available.joined(separator: ", ")
      return "\(path): no entry named '\(name)' (available: \(list))"
    case .csvLine(let path, let line, let reason):
      return "\(path):\(line): \(reason)"
    case .invalidArgument(let path, let reason):
      return "\(path): cannot write: \(reason)"
    }
  }

  /// The same error, reported against another path (used when a member of an archive is parsed from memory).
  func relabeled(_ path: String) -> FileFormatError {
    switch self {
    case .fileNotFound: return .fileNotFound(path: path)
    case .io(_, let o, let r): return .io(path: path, operation: o, reason: r)
    case .malformed(_, let f, let r): return .malformed(path: path, format: f, reason: r)
    case .truncated(_, let f, let r): return .truncated(path: path, format: f, reason: r)
    case .unsupported(_, let f, let x): return .unsupported(path: path, format: f, feature: x)
    case .missingEntry(_, let n, let a): return .missingEntry(path: path, name: n, available: a)
    case .csvLine(_, let l, let r): return .csvLine(path: path, line: l, reason: r)
    case .invalidArgument(_, let r): return .invalidArgument(path: path, reason: r)
    }
  }
}

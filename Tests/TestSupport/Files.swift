// Temporary directories and numeric comparisons shared by the test targets.

import Foundation
import NumericCore

/// A fresh directory `<prefix>-<UUID>` under the system temporary directory.
public func makeTemporaryDirectory(_ prefix: String = "diffsbi-test") -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
  try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// The path of a fresh temporary directory (see `makeTemporaryDirectory`).
public func temporaryDirectory(_ prefix: String = "diffsbi-test") -> String {
  makeTemporaryDirectory(prefix).path
}

/// max_i |a_i − b_i| over the storage of two matrices of the same shape.
public func maxDifference(_ a: Matrix, _ b: Matrix) -> Double {
  zip(a.storage, b.storage).reduce(0.0) { max($0, Double(abs($1.0 - $1.1))) }
}

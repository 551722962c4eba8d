// Matching the messages of FileFormatError in tests.

import Foundation
@testable import FileFormats

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

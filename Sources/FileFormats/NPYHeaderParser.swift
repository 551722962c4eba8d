// A strict parser for the Python dict literal in a .npy header.

/// A value in a `.npy` header dict.
enum NPYHeaderValue: Equatable {
  case string(String)
  case bool(Bool)
  case tuple([Int])
  /// A list or other literal (structured dtypes), kept only to name it in an error.
  case other(String)
}

/// Parses `{'key': value, ...}` where keys are quoted strings and values are quoted strings, `True`/`False`,
/// or tuples of non-negative integers (an optional Python 2 `L` suffix is accepted). Only spaces and newlines
/// may follow the closing brace. Duplicate keys are an error.
struct NPYHeaderParser {
  let text: [UInt8]
  let source: String
  var i = 0

  init(text: [UInt8], source: String) {
    self.text = text
    self.source = source
  }

  func fail(_ reason: String) -> FileFormatError {
    .malformed(path: source, format: .npy, reason: "header dict: \(reason) at byte \(i)")
  }

  mutating func skipSpace() {
    while i < text.count, text[i] == 0x20 || text[i] == 0x0A || text[i] == 0x09 || text[i] == 0x0D { i += 1 }
  }

  mutating func expect(_ c: Character) throws {
    skipSpace()
    guard i < text.count, text[i] == c.asciiValue! else { throw fail("expected '\(c)'") }
    i += 1
  }

  mutating func peek() -> UInt8? {
    skipSpace()
    return i < text.count ? text[i] : nil
  }

  mutating func parse() throws -> [String: NPYHeaderValue] {
    try expect("{")
    var dict: [String: NPYHeaderValue] = [:]
    while true {
      guard let c = peek() else { throw fail("unterminated dict") }
      if c == UInt8(ascii: "}") { i += 1; break }
      let key = try parseString()
      try expect(":")
      let value = try parseValue()
      guard dict.updateValue(value, forKey: key) == nil else { throw fail("duplicate key '\(key)'") }
      guard let next = peek() else { throw fail("unterminated dict") }
      if next == UInt8(ascii: ",") { i += 1; continue }
      guard next == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
    }
    skipSpace()
    guard i == text.count else { throw fail("unexpected text after the dict") }
    return dict
  }

  mutating func parseString() throws -> String {
    skipSpace()
    guard i < text.count, text[i] == UInt8(ascii: "'") || text[i] == UInt8(ascii: "\"") else {
      throw fail("expected a quoted string")
    }
    let quote = text[i]
    i += 1
    let start = i
    while i < text.count, text[i] != quote {
      guard text[i] >= 0x20, text[i] < 0x7F, text[i] != UInt8(ascii: "\\") else {
        throw fail("unsupported character in a string")
      }
      i += 1
    }
    guard i < text.count else { throw fail("unterminated string") }
    let s = String(decoding: text[start..<i], as: UTF8.self)
    i += 1
    return s
  }

  mutating func parseValue() throws -> NPYHeaderValue {
    guard let c = peek() else { throw fail("missing value") }
    switch c {
    case UInt8(ascii: "'"), UInt8(ascii: "\""):
      return .string(try parseString())
    case UInt8(ascii: "T"), UInt8(ascii: "F"):
      for (word, value) in [("True", true), ("False", false)] {
        let w = Array(word.utf8)
        if i + w.count <= text.count, Array(text[i..<(i + w.count)]) == w {
          i += w.count
          return .bool(value)
        }
      }
      throw fail("expected True or False")
    case UInt8(ascii: "("):
      i += 1
      var values: [Int] = []
      while true {
        guard let d = peek() else { throw fail("unterminated tuple") }
        if d == UInt8(ascii: ")") { i += 1; break }
        // A one-element tuple needs its trailing comma: "(3,)"; "(3)" is an int in Python.
        values.append(try parseInt())
        guard let next = peek() else { throw fail("unterminated tuple") }
        if next == UInt8(ascii: ",") { i += 1; continue }
        guard next == UInt8(ascii: ")") else { throw fail("expected ',' or ')' in the shape") }
        if values.count == 1 { throw fail("'(n)' is not a tuple; write '(n,)'") }
      }
      return .tuple(values)
    case UInt8(ascii: "["):
      throw FileFormatError.unsupported(path: source, format: .npy, feature: "list-valued header entry (structured dtype)")
    default:
      throw fail("unexpected character '\(Character(Unicode.Scalar(c)))'")
    }
  }

  mutating func parseInt() throws -> Int {
    skipSpace()
    let start = i
    var value = 0
    while i < text.count, text[i] >= 0x30, text[i] <= 0x39 {
      let (m, o1) = value.multipliedReportingOverflow(by: 10)
      let (s, o2) = m.addingReportingOverflow(Int(text[i] - 0x30))
      guard !o1, !o2 else { throw fail("shape entry too large") }
      value = s
      i += 1
    }
    guard i > start else { throw fail("expected a non-negative integer in the shape") }
    if i < text.count, text[i] == UInt8(ascii: "L") { i += 1 }
    return value
  }
}

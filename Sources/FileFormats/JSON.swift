// A small strict JSON (RFC 8259) parser and string escaper for file headers.

/// A parsed JSON value. Numbers keep their text so that 64-bit integers are read exactly; object members
/// keep their order.
enum JSONValue: Equatable {
  case object([(String, JSONValue)])
  case array([JSONValue])
  case string(String)
  case number(String)
  case bool(Bool)
  case null

  static func == (a: JSONValue, b: JSONValue) -> Bool {
    switch (a, b) {
    case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    case (.array(let x), .array(let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.number(let x), .number(let y)): return x == y
    case (.bool(let x), .bool(let y)): return x == y
    case (.null, .null): return true
    default: return false
    }
  }

  /// The value as a non-negative integer that fits in Int, or nil.
  var nonNegativeInt: Int? {
    guard case .number(let t) = self, !t.isEmpty, t.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
      let v = Int(t)
    else { return nil }
    return v
  }
}

/// Parses JSON text with a nesting limit (so hostile input cannot exhaust the stack).
struct JSONParser {
  let text: UnsafeBufferPointer<UInt8>
  let source: String
  let format: FileFormatKind
  var i = 0
  static let maximumDepth = 64

  static func parse(_ bytes: [UInt8], source: String, format: FileFormatKind) throws -> JSONValue {
    try bytes.withUnsafeBufferPointer { p in
      var parser = JSONParser(text: p, source: source, format: format)
      let value = try parser.value(depth: 0)
      parser.skipSpace()
      guard parser.i == p.count else { throw parser.fail("unexpected text after the JSON value") }
      return value
    }
  }

  func fail(_ reason: String) -> FileFormatError {
    .malformed(path: source, format: format, reason: "JSON header: \(reason) at byte \(i)")
  }

  mutating func skipSpace() {
    while i < text.count, text[i] == 0x20 || text[i] == 0x0A || text[i] == 0x0D || text[i] == 0x09 { i += 1 }
  }

  mutating func value(depth: Int) throws -> JSONValue {
    guard depth < Self.maximumDepth else { throw fail("nesting deeper than \(Self.maximumDepth)") }
    skipSpace()
    guard i < text.count else { throw fail("unexpected end") }
    switch text[i] {
    case UInt8(ascii: "{"):
      i += 1
      var members: [(String, JSONValue)] = []
      skipSpace()
      if i < text.count, text[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
      while true {
        skipSpace()
        let key = try string()
        skipSpace()
        guard i < text.count, text[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
        i += 1
        members.append((key, try value(depth: depth + 1)))
        skipSpace()
        guard i < text.count else { throw fail("unterminated object") }
        if text[i] == UInt8(ascii: ",") { i += 1; continue }
        guard text[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
        i += 1
        return .object(members)
      }
    case UInt8(ascii: "["):
      i += 1
      var items: [JSONValue] = []
      skipSpace()
      if i < text.count, text[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
      while true {
        items.append(try value(depth: depth + 1))
        skipSpace()
        guard i < text.count else { throw fail("unterminated array") }
        if text[i] == UInt8(ascii: ",") { i += 1; continue }
        guard text[i] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
        i += 1
        return .array(items)
      }
    case UInt8(ascii: "\""):
      return .string(try string())
    case UInt8(ascii: "t"): try word("true"); return .bool(true)
    case UInt8(ascii: "f"): try word("false"); return .bool(false)
    case UInt8(ascii: "n"): try word("null"); return .null
    default:
      return .number(try number())
    }
  }

  mutating func word(_ w: String) throws {
    for c in w.utf8 {
      guard i < text.count, text[i] == c else { throw fail("invalid literal") }
      i += 1
    }
  }

  mutating func number() throws -> String {
    let start = i
    if i < text.count, text[i] == UInt8(ascii: "-") { i += 1 }
    func digits() -> Int {
      let s = i
      while i < text.count, text[i] >= 0x30, text[i] <= 0x39 { i += 1 }
      return i - s
    }
    let intDigits = digits()
    guard intDigits > 0 else { throw fail("invalid value") }
    guard intDigits == 1 || text[i - intDigits] != 0x30 else { throw fail("leading zero in a number") }
    if i < text.count, text[i] == UInt8(ascii: ".") {
      i += 1
      guard digits() > 0 else { throw fail("digits expected after '.'") }
    }
    if i < text.count, text[i] | 0x20 == UInt8(ascii: "e") {
      i += 1
      if i < text.count, text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") { i += 1 }
      guard digits() > 0 else { throw fail("digits expected in the exponent") }
    }
    return String(decoding: UnsafeBufferPointer(rebasing: text[start..<i]), as: UTF8.self)
  }

  mutating func hex4() throws -> UInt32 {
    guard text.count - i >= 4 else { throw fail("short \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = text[i]
      let d: UInt8
      switch c {
      case 0x30...0x39: d = c - 0x30
      case 0x41...0x46: d = c - 0x41 + 10
      case 0x61...0x66: d = c - 0x61 + 10
      default: throw fail("invalid \\u escape")
      }
      v = v << 4 | UInt32(d)
      i += 1
    }
    return v
  }

  mutating func string() throws -> String {
    guard i < text.count, text[i] == UInt8(ascii: "\"") else { throw fail("expected a string") }
    i += 1
    var out: [UInt8] = []
    while true {
      guard i < text.count else { throw fail("unterminated string") }
      let c = text[i]
      i += 1
      if c == UInt8(ascii: "\"") { break }
      guard c >= 0x20 else { throw fail("control character in a string") }
      guard c == UInt8(ascii: "\\") else { out.append(c); continue }
      guard i < text.count else { throw fail("unterminated escape") }
      let e = text[i]
      i += 1
      switch e {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
          guard text.count - i >= 6, text[i] == UInt8(ascii: "\\"), text[i + 1] == UInt8(ascii: "u") else {
            throw fail("unpaired surrogate")
          }
          i += 2
          let low = try hex4()
          guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let u = Unicode.Scalar(scalar) else { throw fail("unpaired surrogate") }
        out.append(contentsOf: Array(String(Character(u)).utf8))
      default: throw fail("invalid escape")
      }
    }
    let s = String(decoding: out, as: UTF8.self)  // replaces invalid sequences; detect that by round trip
    guard s.utf8.elementsEqual(out) else { throw fail("invalid UTF-8 in a string") }
    return s
  }
}

/// JSON string literal for `s` (quotes included), escaping quotes, backslashes and control characters.
func jsonQuoted(_ s: String) -> String {
  var out = "\""
  for u in s.unicodeScalars {
    switch u {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    default:
      if u.value < 0x20 {
        let h = String(u.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
      } else {
        out.unicodeScalars.append(u)
      }
    }
  }
  return out + "\""
}

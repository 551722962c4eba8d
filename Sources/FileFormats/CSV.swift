// Numeric CSV tables with a header row (RFC 4180 quoting in the header).

import NumericCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A numeric table: column names from the header row and one matrix row per data line.
public struct CSVTable: Sendable, Equatable {
  public var names: [String]
  public var matrix: Matrix

  public init(names: [String], matrix: Matrix) {
    self.names = names
    self.matrix = matrix
  }

  /// The column with the given name.
  public func column(_ name: String) -> [Float]? {
    names.firstIndex(of: name).map { matrix.column($0) }
  }
}

/// Reading and writing CSV files of numbers with a header row.
///
/// Reading: the first non-blank line holds the column names (quoted or not); every later non-blank line must
/// have the same number of cells, each a decimal number, `nan`, `inf` or `-inf` (surrounding spaces allowed).
/// Line endings may be `\n` or `\r\n`. Errors name the file and the 1-based line.
public enum CSV {
  // MARK: Reading

  /// Parses CSV bytes.
  public static func decode(_ bytes: [UInt8], delimiter: UInt8 = UInt8(ascii: ","), source: String = "<memory>")
    throws -> CSVTable
  {
    var names: [String]? = nil
    var values: [Float] = []
    var rows = 0
    var lineNumber = 0
    var start = 0
    let n = bytes.count
    try bytes.withUnsafeBufferPointer { p in
      while start < n {
        lineNumber += 1
        var end = start
        while end < n, p[end] != 0x0A { end += 1 }
        let next = end + 1
        if end > start, p[end - 1] == 0x0D { end -= 1 }
        defer { start = next }
        let line = UnsafeBufferPointer(rebasing: p[start..<end])
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
        guard let header = names else {
          names = try parseHeader(line, delimiter: delimiter, line: lineNumber, source: source)
          continue
        }
        var column = 0
        var cellStart = 0
        for k in 0...line.count {
          guard k == line.count || line[k] == delimiter else { continue }
          column += 1
          guard column <= header.count else {
            throw FileFormatError.csvLine(
              path: source, line: lineNumber,
              reason: "more than the \(header.count) cells of the header")
          }
          let cell = UnsafeBufferPointer(rebasing: line[cellStart..<k])
          guard let v = parseNumber(cell) else {
            let text = String(decoding: cell.prefix(40), as: UTF8.self)
            let reason = text.allSatisfy({ $0 == " " || $0 == "\t" })
              ? "empty cell in column '\(header[column - 1])'"
              : "'\(text)' in column '\(header[column - 1])' is not a number"
            throw FileFormatError.csvLine(path: source, line: lineNumber, reason: reason)
          }
          values.append(v)
          cellStart = k + 1
        }
        guard column == header.count else {
          throw FileFormatError.csvLine(
            path: source, line: lineNumber, reason: "\(column) cells but the header has \(header.count)")
        }
        rows += 1
      }
    }
    guard let header = names else {
      throw FileFormatError.malformed(path: source, format: .csv, reason: "no header row")
    }
    return CSVTable(names: header, matrix: Matrix(rows: rows, cols: header.count, storage: values))
  }

  /// Parses a number cell: optional spaces around a decimal float or nan/inf.
  static func parseNumber(_ cell: UnsafeBufferPointer<UInt8>) -> Float? {
    var a = 0, b = cell.count
    while a < b, cell[a] == 0x20 || cell[a] == 0x09 { a += 1 }
    while b > a, cell[b - 1] == 0x20 || cell[b - 1] == 0x09 { b -= 1 }
    guard b > a, b - a <= 64 else { return nil }
    // Accept only characters of decimal numbers and the words nan/inf/infinity (no hex floats).
    for k in a..<b {
      let c = cell[k] | 0x20  // lowercase letters
      let ok = (cell[k] >= 0x30 && cell[k] <= 0x39) || cell[k] == UInt8(ascii: "+") || cell[k] == UInt8(ascii: "-")
        || cell[k] == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "n")
        || c == UInt8(ascii: "a") || c == UInt8(ascii: "i") || c == UInt8(ascii: "f") || c == UInt8(ascii: "t")
        || c == UInt8(ascii: "y")
      if !ok { return nil }
    }
    // strtod on a NUL-terminated copy; the whole cell must be consumed.
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 65) { buffer -> Float? in
      for k in a..<b { buffer[k - a] = CChar(bitPattern: cell[k]) }
      buffer[b - a] = 0
      var end: UnsafeMutablePointer<CChar>?
      let v = strtod(buffer.baseAddress!, &end)
      guard let end, end - buffer.baseAddress! == b - a else { return nil }
      return Float(v)
    }
  }

  /// Splits the header line into names, honouring double quotes (`""` inside quotes is one quote).
  static func parseHeader(_ line: UnsafeBufferPointer<UInt8>, delimiter: UInt8, line number: Int, source: String)
    throws -> [String]
  {
    var names: [[UInt8]] = []
    var current: [UInt8] = []
    var k = 0
    var quoted = false
    while k <= line.count {
      if k == line.count {
        guard !quoted else {
          throw FileFormatError.csvLine(path: source, line: number, reason: "unterminated quote in the header")
        }
        names.append(current); current = []
        break
      }
      let c = line[k]
      if quoted {
        if c == UInt8(ascii: "\"") {
          if k + 1 < line.count, line[k + 1] == UInt8(ascii: "\"") { current.append(c); k += 1 } else { quoted = false }
        } else {
          current.append(c)
        }
      } else if c == UInt8(ascii: "\"") && current.allSatisfy({ $0 == 0x20 }) {
        current = []
        quoted = true
      } else if c == delimiter {
        names.append(current); current = []
      } else {
        current.append(c)
      }
      k += 1
    }
    let trimmed = names.map { String(decoding: $0, as: UTF8.self).trimmingSpaces() }
    if let i = trimmed.firstIndex(of: "") {
      throw FileFormatError.csvLine(path: source, line: number, reason: "header column \(i + 1) has no name")
    }
    return trimmed
  }

  /// Reads the CSV file at `path`.
  public static func read(_ path: String, delimiter: UInt8 = UInt8(ascii: ",")) throws -> CSVTable {
    try decode(FileIO.readAll(path), delimiter: delimiter, source: path)
  }

  // MARK: Writing

  /// CSV text for a table: a header row, then one line per matrix row; numbers in the shortest form that
  /// reads back exactly (`nan`, `inf` and `-inf` for non-finite values).
  public static func encode(_ table: CSVTable) throws -> String {
    guard table.names.count == table.matrix.cols else {
      throw FileFormatError.invalidArgument(
        path: "<memory>", reason: "\(table.names.count) names for \(table.matrix.cols) columns")
    }
    var out = table.names.map(quoteIfNeeded).joined(separator: ",") + "\n"
    out.reserveCapacity(out.utf8.count + table.matrix.count * 12)
    let m = table.matrix
    for i in 0..<m.rows {
      for j in 0..<m.cols {
        if j > 0 { out += "," }
        let v = m[i, j]
        out += v.isNaN ? "nan" : v.isInfinite ? (v > 0 ? "inf" : "-inf") : "\(v)"
      }
      out += "\n"
    }
    return out
  }

  static func quoteIfNeeded(_ name: String) -> String {
    if name.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || name != name.trimmingSpaces() {
      return "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
    return name
  }

  /// Writes a table to `path` atomically.
  public static func write(_ table: CSVTable, to path: String) throws {
    try AtomicFile.write(encode(table), to: path)
  }

  /// Writes a matrix with column names to `path` atomically.
  public static func write(_ matrix: Matrix, names: [String], to path: String) throws {
    try write(CSVTable(names: names, matrix: matrix), to: path)
  }
}

extension String {
  func trimmingSpaces() -> String {
    var s = Substring(self)
    while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
    while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
    return String(s)
  }

  func replacingOccurrences(of target: String, with replacement: String) -> String {
    var out = ""
    var rest = Substring(self)
    while let r = rest.firstRange(of: target) {
      out += rest[..<r.lowerBound] + replacement
      rest = rest[r.upperBound...]
    }
    return out + rest
  }
}

import NumericCore
import Testing
import TestSupport
@testable import FileFormats

@Suite struct CSVTests {
  @Test func parsesHeaderNumbersAndNonFinite() throws {
    let text = "theta_1, \"x, one\" ,\"q\"\"\"\r\n1,2.5, -3e2\r\n\r\n nan ,inf,-inf\n"
    let t = try CSV.decode(Array(text.utf8))
    #expect(t.names == ["theta_1", "x, one", "q\""])
    #expect(t.matrix.rows == 2 && t.matrix.cols == 3)
    #expect(Array(t.matrix.storage[0..<3]) == [1, 2.5, -300])
    #expect(t.matrix[1, 0].isNaN && t.matrix[1, 1] == .infinity && t.matrix[1, 2] == -.infinity)
    #expect(t.column("x, one")?[0] == 2.5)
  }

  @Test func errorsCarryLineNumbers() {
    let cases: [(String, [String])] = [
      ("a,b\n1,2\n3\n", ["data.csv:3:", "1 cells but the header has 2"]),
      ("a,b\n1,2,3\n", ["data.csv:2:", "more than the 2 cells"]),
      ("a,b\n1,2\n\n4,abc\n", ["data.csv:4:", "'abc' in column 'b' is not a number"]),
      ("a,b\n1,\n", ["data.csv:2:", "empty cell in column 'b'"]),
      ("a,,c\n", ["data.csv:1:", "header column 2 has no name"]),
      ("\"a,b\n", ["data.csv:1:", "unterminated quote"]),
      ("\n  \n", ["data.csv", "no header row"]),
      ("a\n0x10\n", ["data.csv:2:", "not a number"]),
    ]
    for (text, fragments) in cases {
      #expect(throwsFormatError(fragments) { _ = try CSV.decode(Array(text.utf8), source: "data.csv") }, "\(text)")
    }
  }

  @Test func roundTripIsExact() throws {
    let dir = temporaryDirectory()
    let m = Matrix(rows: 3, cols: 2, storage: [1.0 / 3, -2e-7, .nan, .infinity, 123456.789, 0])
    try CSV.write(m, names: ["a", "b,c"], to: dir + "/t.csv")
    let back = try CSV.read(dir + "/t.csv")
    #expect(back.names == ["a", "b,c"])
    for (u, v) in zip(back.matrix.storage, m.storage) { #expect(u == v || (u.isNaN && v.isNaN)) }
    #expect(throwsFormatError(["1 names for 2 columns"]) { try CSV.write(m, names: ["a"], to: dir + "/u.csv") })
  }

  @Test func headerOnlyGivesEmptyMatrix() throws {
    let t = try CSV.decode(Array("a,b\n".utf8))
    #expect(t.matrix.rows == 0 && t.matrix.cols == 2)
  }
}

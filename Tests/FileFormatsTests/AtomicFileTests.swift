import Foundation
import Testing
import TestSupport
@testable import FileFormats

@Suite struct AtomicFileTests {
  @Test func writeCreatesFileAndLeavesNoTemporaries() throws {
    let dir = temporaryDirectory()
    let path = dir + "/out.bin"
    try AtomicFile.write([1, 2, 3], to: path)
    #expect(try FileIO.readAll(path) == [1, 2, 3])
    try AtomicFile.write("replaced", to: path)
    #expect(try FileIO.readAll(path) == Array("replaced".utf8))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out.bin"])
  }

  @Test func failingBodyLeavesOldContentAndNoTemporaries() throws {
    let dir = temporaryDirectory()
    let path = dir + "/keep.txt"
    try AtomicFile.write("old", to: path)
    struct Boom: Error {}
    #expect(throws: Boom.self) {
      try AtomicFile.write(to: path) { w in
        try w.write("partial new content")
        throw Boom()
      }
    }
    #expect(try FileIO.readAll(path) == Array("old".utf8))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["keep.txt"])
  }

  @Test func abandonedWriterRemovesItsTemporaryFile() throws {
    let dir = temporaryDirectory()
    do {
      let w = try AtomicFileWriter(path: dir + "/never.bin")
      try w.write([9, 9])
      #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 1)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
  }

  @Test func errorsNameTheFile() {
    #expect(throwsFormatError(["/nonexistent-dir/x.npy", "create temporary file"]) {
      try AtomicFile.write([1], to: "/nonexistent-dir/x.npy")
    })
    #expect(throwsFormatError(["/no/such/file.npy", "no such file"]) { _ = try FileIO.readAll("/no/such/file.npy") })
    #expect(throwsFormatError(["is a directory"]) { _ = try FileIO.readAll(NSTemporaryDirectory()) })
  }
}

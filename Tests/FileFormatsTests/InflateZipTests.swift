import Foundation
import NumericCore
import Testing
import TestSupport
@testable import FileFormats

func bytes(hex: String) -> [UInt8] {
  var out: [UInt8] = []
  var it = hex.makeIterator()
  while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
  return out
}

@Suite struct InflateZipTests {
  @Test func crc32CheckValue() {
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(CRC32.checksum([]) == 0)
  }

  @Test func fixedHuffmanBlock() throws {
    // zlib.compressobj(9, DEFLATED, -15, strategy=Z_FIXED) of "hello hello hello hello".
    let stream: [UInt8] = [203, 72, 205, 201, 201, 87, 200, 64, 39, 1]
    #expect(try Inflate.decompress(stream, outputSize: 23) == Array("hello hello hello hello".utf8))
    #expect(throwsFormatError(["expected 24"]) { _ = try Inflate.decompress(stream, outputSize: 24) })
    #expect(throwsFormatError(["exceeds the declared size"]) { _ = try Inflate.decompress(stream, outputSize: 22) })
  }

  /// The text zlib compressed for `dynamicStream`: 700 words drawn with an LCG.
  static var dynamicText: [UInt8] {
    let words = ["theta", "posterior", "score", "diffusion", "noise", "sample", "x"]
    var s: UInt64 = 1
    var out = ""
    for _ in 0..<700 {
      s = (s &* 1_103_515_245 &+ 12345) % (1 << 31)
      out += words[Int((s >> 16) % 7)] + " "
    }
    return Array(out.utf8)
  }

  static let dynamicStream = bytes(hex: """
    9558016e83300cfc0a5fab56aa216da52a54f2f3372d84d8e7bba4d3a4c120d8cef97c76765d6eb7d7b6acf7e9be2edb3c6d97efc7d73c3d\
    d66d9f9fcbfa9cecf7c7ffb57fcefba52e3b2ed66e8a95f601bb3b4c7caccff9f89d1dd8743d23ab4fcadae201fd9477ed1b1df2df426b31\
    174bd1bab31b367a5c8a410c1043485036d76e5141c1c7e64367f001d635fe1244d86bfa06fda62d78483c20e5b5bf3704d4fbaf31590f8e\
    7627e0c05c780f2e81696fc9276eb3186e4fed3f5191ec9d79cdccf6502604ae507cec0da3740f1866a353843a240b60294190aa41e888b0\
    e7ca2095ea032219887155de79a28ec0a9becb154b5b710cd75944e29dcc669a10ccce2da34376e7ad50984779f0198fb8641668c5f548a2\
    a471e9e44f75a11817a1103e76285f829884a62946954c40183cf59537e31795b2a2cdf6cc91349463b713da36b03dd10e60aafac88e65d5\
    8f94ca339f7b480243834722238d5a1b8a8d8d97019715ffbea509c6029c29082b11194efc446c9dcfa87c9c23987d313ba9e1cd42a6786e\
    11ed4ec3e7d2c781e1a2c629439a4c2c2fb28c0f595946cefaf419153b7d6f2c4cb8f71e78d1f2e698788caa4e0b3eaf2eeb052de4d4b061\
    6149b0c950534a3319e57dd46655dd88248616967ac6f841febc7b49c589410f279f3ca06395c0106ba2099b54f7ce69a23f3505d535a1fe\
    6ad0327af63236c069bd11899433aa0f519d71e14f0e7a1c48a3368d1a765765008dce1928379741e71f1d6fbc117b9fc25955f57ca76b56\
    a69d955c3e5bf37f1be4a4ebc96e28e7d240ca64462b03ccc9254f05d94057e012c55c143f
    """.replacingOccurrences(of: "\n", with: ""))

  @Test func dynamicHuffmanBlockAndTruncations() throws {
    let text = Self.dynamicText
    #expect(text.count == 4634 && CRC32.checksum(text) == 3_405_311_418)
    #expect(Self.dynamicStream.count == 597 && (Self.dynamicStream[0] >> 1) & 3 == 2)
    #expect(try Inflate.decompress(Self.dynamicStream, outputSize: text.count) == text)
    // Every truncation and many single-bit flips must fail cleanly (or, for flips, possibly succeed).
    for cut in stride(from: 0, to: Self.dynamicStream.count, by: 7) {
      #expect(throws: FileFormatError.self) {
        _ = try Inflate.decompress(Array(Self.dynamicStream[0..<cut]), outputSize: text.count)
      }
    }
    var rng = Xoshiro(seed: 5)
    for _ in 0..<300 {
      var s = Self.dynamicStream
      s[rng.nextInt(below: s.count)] ^= UInt8(1 << rng.nextInt(below: 8))
      _ = try? Inflate.decompress(s, outputSize: text.count)
    }
  }

  @Test func storedBlocksAndImpossibleSizes() throws {
    // Two stored blocks: "abc" (not final) then "de" (final).
    let stream: [UInt8] = [0x00, 3, 0, 0xFC, 0xFF, 97, 98, 99, 0x01, 2, 0, 0xFD, 0xFF, 100, 101]
    #expect(try Inflate.decompress(stream, outputSize: 5) == Array("abcde".utf8))
    #expect(throwsFormatError(["deflate", "invalid stored block lengths"]) {
      _ = try Inflate.decompress([0x01, 2, 0, 0, 0, 1, 2], outputSize: 2)
    })
    #expect(throwsFormatError(["impossible"]) { _ = try Inflate.decompress([0x03, 0], outputSize: 1 << 40) })
    #expect(throwsFormatError(["impossible"]) { _ = try Inflate.decompress([0x03, 0], outputSize: -1) })
    #expect(throwsFormatError(["invalid block type"]) { _ = try Inflate.decompress([0x07], outputSize: 0) })
    #expect(throwsFormatError(["ends early"]) { _ = try Inflate.decompress([], outputSize: 0) })
    // A match reaching before the start of the output: "posterior score posterior" compressed by zlib with the
    // preset dictionary "posterior score " (Z_FIXED), decoded without it.
    #expect(throwsFormatError(["too far back"]) { _ = try Inflate.decompress([43, 192, 197, 7, 0], outputSize: 25) })
  }

  /// Compression by zlib and decompression back, at every level, with outputs that need the buffer to grow.
  @Test func deflateRoundTrips() throws {
    var rng = Xoshiro(seed: 3)
    let random = (0..<50_000).map { _ in UInt8(truncatingIfNeeded: rng.nextInt(below: 256)) }
    let zeros = [UInt8](repeating: 0, count: 3_000_000)  // ~3 KB compressed: the buffer doubles 6 times
    let text = Self.dynamicText
    for input in [[], [42], text, random, zeros] {
      for level in [0, 1, 6, 9] {
        let packed = try Deflate.compress(input, level: level)
        #expect(try Inflate.decompress(packed, outputSize: input.count) == input)
        if input.count > 1 {
          #expect(throwsFormatError(["expected \(input.count + 1)"]) {
            _ = try Inflate.decompress(packed, outputSize: input.count + 1)
          })
          #expect(throwsFormatError(["exceeds the declared size"]) {
            _ = try Inflate.decompress(packed, outputSize: input.count - 1)
          })
        }
      }
    }
    #expect(try Deflate.compress(zeros).count < 4000)
    #expect(throwsFormatError(["level 10"]) { _ = try Deflate.compress(text, level: 10) })
    let head = CRC32.checksum(Array(text[..<1000]))
    #expect(Array(text[1000...]).withUnsafeBytes { CRC32.update(head, $0) } == CRC32.checksum(text))
  }

  @Test func npzRoundTripStored() throws {
    let dir = temporaryDirectory()
    let theta = Matrix(rows: 4, cols: 2, storage: (0..<8).map { Float($0) / 3 })
    let x = Matrix(rows: 4, cols: 3, storage: (0..<12).map { Float($0) * -1.5 })
    try NPZ.write([("theta", theta), ("x", x)], to: dir + "/d.npz")
    let back = try NPZ.read(dir + "/d.npz")
    #expect(back.names == ["theta", "x"])
    #expect(try back.matrix("theta") == theta && back.matrix("x") == x)
    #expect(throwsFormatError([dir + "/d.npz", "no entry named 'y'", "theta, x"]) { _ = try back.require("y") })
    #expect(throwsFormatError(["duplicate member name"]) {
      try NPZ.write([("a", theta), ("a", x)], to: dir + "/dup.npz")
    })
    #expect(!FileManager.default.fileExists(atPath: dir + "/dup.npz"))
  }

  @Test func npzRoundTripDeflated() throws {
    let dir = temporaryDirectory()
    let theta = Matrix(rows: 500, cols: 2, storage: (0..<1000).map { Float($0 % 17) / 4 })
    let x = Matrix(rows: 500, cols: 3, storage: (0..<1500).map { Float($0 % 5) * -1.5 })
    for (name, compression) in [("s", ZipCompression.stored), ("d", .deflate), ("d1", .deflate(level: 1)),
                                ("d9", .deflate(level: 9))] {
      let path = dir + "/\(name).npz"
      try NPZ.write([("theta", theta), ("x", x)], to: path, compression: compression)
      let zip = try ZipArchive(path: path)
      #expect(zip.entries.map(\.method) == (compression == .stored ? [0, 0] : [8, 8]))
      let back = try NPZ.read(path)
      #expect(back.names == ["theta", "x"])
      #expect(try back.matrix("theta") == theta && back.matrix("x") == x)
      let file = try NPZFile(path: path)
      #expect(try file.header("x").shape == [500, 3])
      #expect(try file.rows("theta", 490..<500) == theta.rows(490..<500))
    }
    #expect(try FileIO.size(of: dir + "/d.npz") * 4 < FileIO.size(of: dir + "/s.npz"))
    // Members that expand more than 4-fold take the general path (extract, then decode), others are inflated
    // straight into the array; float64, big-endian and Fortran-order members are converted after reading.
    var rng = Xoshiro(seed: 7)
    let noisy = rng.normalMatrix(rows: 3000, cols: 3)
    let wide = try NDArray(shape: [3, 4, 5], data: (0..<60).map { Float($0) - 30 })
    for compression in [ZipCompression.stored, .deflate] {
      for type in [NPYStorageType.float32, .float64] {
        let path = dir + "/n-\(compression.level ?? 0)-\(type).npz"
        let zeros = Matrix(rows: 50_000, cols: 2)  // 400 KB that deflate to well under 1 KB
        try NPZ.write([("noisy", NDArray(noisy)), ("theta", NDArray(theta)), ("wide", wide), ("zeros", NDArray(zeros))],
                      to: path, as: type, compression: compression)
        let z = try NPZ.read(path)
        #expect(try z.matrix("noisy") == noisy && z.matrix("theta") == theta && z.require("wide") == wide)
        #expect(try z.matrix("zeros") == zeros)
        #expect(try NPZFile(path: path).rows("noisy", 100..<103) == noisy.rows(100..<103))
      }
    }
    #expect(throwsFormatError(["level 12"]) {
      try NPZ.write([("theta", theta)], to: dir + "/bad.npz", compression: .deflate(level: 12))
    })
    #expect(!FileManager.default.fileExists(atPath: dir + "/bad.npz"))
    #expect(ZipCompression.deflate.description == "deflate (level 6)")
  }

  /// With `.deflate`, a member that DEFLATE does not shrink is stored.
  @Test func incompressibleMembersAreStored() throws {
    let dir = temporaryDirectory()
    var rng = Xoshiro(seed: 11)
    let noise = (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.nextInt(below: 256)) }
    try AtomicFile.write(to: dir + "/r.zip") { writer in
      var zip = ZipWriter(path: dir + "/r.zip", compression: .deflate)
      try zip.add(name: "noise", data: noise, to: writer)
      try zip.add(name: "text", data: Self.dynamicText, to: writer)
      try zip.finish(to: writer)
    }
    let zip = try ZipArchive(path: dir + "/r.zip")
    #expect(zip.entries.map(\.method) == [0, 8])
    #expect(try zip.extract(zip.entries[0]) == noise && zip.extract(zip.entries[1]) == Self.dynamicText)
  }

  /// A deflated archive whose central directory lies about a member's sizes, or whose data is damaged, fails
  /// with a typed error naming the member.
  @Test func lyingHeadersAndDamagedDeflatedMembers() throws {
    let dir = temporaryDirectory()
    let a = Matrix(rows: 200, cols: 2, storage: (0..<400).map { Float($0 % 9) })
    try NPZ.write([("a", a)], to: dir + "/a.npz", compression: .deflate)
    let good = try FileIO.readAll(dir + "/a.npz")
    let end = good.count - 22
    let central = Int(readLE(good, end + 16, as: UInt32.self)!)
    let compressed = Int(readLE(good, central + 20, as: UInt32.self)!)
    let uncompressed = Int(readLE(good, central + 24, as: UInt32.self)!)
    func with(_ value: UInt32, at offset: Int) -> [UInt8] {
      var b = good
      withUnsafeBytes(of: value.littleEndian) { for k in 0..<4 { b[offset + k] = $0[k] } }
      return b
    }
    #expect(try NPZ.decode(good).matrix("a") == a)
    // Declared uncompressed size: one too many, one too few, absurdly large. (The .npy header, read first,
    // disagrees with the first two; the stream's own error is reported.)
    #expect(throwsFormatError(["a.npy", "expected \(uncompressed + 1)"]) {
      _ = try NPZ.decode(with(UInt32(uncompressed + 1), at: central + 24))
    })
    #expect(throwsFormatError(["a.npy", "exceeds the declared size"]) {
      _ = try NPZ.decode(with(UInt32(uncompressed - 1), at: central + 24))
    })
    #expect(throwsFormatError(["a.npy", "impossible"]) {
      _ = try NPZ.decode(with(0xFFFF_FFF0, at: central + 24))
    })
    // Declared compressed size: beyond the member's region, or cutting the stream short.
    // (The local header's name, 5 bytes, lies between the fixed header and the data.)
    #expect(throwsFormatError(["a.npy", "runs past its region"]) {
      _ = try NPZ.decode(with(UInt32(compressed + 1), at: central + 20))
    })
    #expect(throwsFormatError(["overlaps"]) { _ = try NPZ.decode(with(UInt32(compressed + 6), at: central + 20)) })
    #expect(throwsFormatError(["a.npy", "ends early"]) {
      _ = try NPZ.decode(with(UInt32(compressed / 2), at: central + 20))
    })
    // A damaged CRC, and damaged compressed bytes.
    #expect(throwsFormatError(["a.npy", "CRC-32 mismatch"]) {
      _ = try NPZ.decode(with(readLE(good, central + 16, as: UInt32.self)! ^ 1, at: central + 16))
    })
    var damaged = 0
    for k in stride(from: 40, to: 30 + 5 + compressed, by: 3) {
      var b = good
      b[k] ^= 0x55
      do { _ = try NPZ.decode(b) } catch is FileFormatError { damaged += 1 }
    }
    #expect(damaged > 0)
    for cut in 0..<good.count {
      #expect(throws: FileFormatError.self) { _ = try NPZ.decode(Array(good[0..<cut])) }
    }
  }

  @Test func corruptArchivesFailCleanly() throws {
    let dir = temporaryDirectory()
    try NPZ.write([("a", Matrix(rows: 2, cols: 2, storage: [1, 2, 3, 4]))], to: dir + "/a.npz")
    let good = try FileIO.readAll(dir + "/a.npz")
    var flipped = good
    flipped[100] ^= 0x40  // inside the member data: CRC mismatch
    #expect(throwsFormatError(["CRC-32 mismatch", "a.npy"]) { _ = try NPZ.decode(flipped) })
    #expect(throwsFormatError(["end-of-central-directory"]) { _ = try NPZ.decode(Array(good[0..<(good.count - 30)])) })
    for cut in 0..<good.count { _ = try? NPZ.decode(Array(good[0..<cut])) }
    var rng = Xoshiro(seed: 9)
    for _ in 0..<2000 {
      var s = good
      for _ in 0..<3 { s[rng.nextInt(below: s.count)] = UInt8(truncatingIfNeeded: rng.nextInt(below: 256)) }
      _ = try? NPZ.decode(s)
    }
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func numpyInterop() throws {
    let dir = temporaryDirectory()
    let theta = Matrix(rows: 3, cols: 2, storage: [1, 2, 3, 4, 5, 6])
    try NPZ.write([("theta", theta), ("x", Matrix(rows: 3, cols: 1, storage: [7, 8, 9]))], to: dir + "/ours.npz")
    let big = Matrix(rows: 2000, cols: 2, storage: (0..<4000).map { Float($0 % 101) * 0.25 })
    let counts = try NDArray(shape: [2000], data: (0..<2000).map { Float($0) })
    try NPZ.write([("theta", NDArray(big)), ("x", counts)], to: dir + "/ours-deflated.npz", as: .float64,
                  compression: .deflate)
    let script = """
      import numpy as np, sys, zipfile
      d = sys.argv[1]
      z = np.load(d + "/ours.npz")
      assert sorted(z.files) == ["theta", "x"], z.files
      assert np.array_equal(z["theta"], np.arange(1, 7).reshape(3, 2)) and z["theta"].dtype == np.float32
      assert np.array_equal(z["x"], [[7], [8], [9]])
      with zipfile.ZipFile(d + "/ours-deflated.npz") as f:
          assert [i.compress_type for i in f.infolist()] == [zipfile.ZIP_DEFLATED] * 2
          assert f.testzip() is None
      z = np.load(d + "/ours-deflated.npz")
      assert z["theta"].dtype == np.float64 and z["theta"].shape == (2000, 2)
      assert np.array_equal(z["theta"].ravel(), (np.arange(4000) % 101) * 0.25)
      assert np.array_equal(z["x"], np.arange(2000))
      t = np.linspace(-2, 2, 3000).reshape(1000, 3)
      np.savez_compressed(d + "/compressed.npz", theta=t, x=np.sin(t[:, :2]).astype(np.float32))
      np.savez(d + "/stored.npz", theta=t.astype(">f8"), x=np.asfortranarray(t))
      print("ok")
      """
    let python = try runPython(script, arguments: [dir])
    #expect(python.status == 0, "\(python.output)")
    let want = (0..<3000).map { Float(-2 + 4 * Double($0) / 2999) }
    for name in ["compressed", "stored"] {
      let z = try NPZ.read(dir + "/\(name).npz")
      #expect(Set(z.names) == ["theta", "x"])
      let t = try z.require("theta")
      #expect(t.shape == [1000, 3])
      #expect(zip(t.data, want).allSatisfy { abs($0 - $1) <= 1e-6 })
    }
    let x = try NPZ.read(dir + "/compressed.npz").matrix("x")
    #expect(x.rows == 1000 && x.cols == 2 && abs(x[999, 1] - sin(want[2998])) < 1e-6)
  }
}

@Suite struct ZipBombTests {
  /// A central directory with two entries that share one member's data is rejected (an overlapping zip bomb).
  @Test func overlappingMembersAreRejected() throws {
    let dir = temporaryDirectory()
    try NPZ.write([("a", NumericCore.Matrix(rows: 1, cols: 1, storage: [1]))], to: dir + "/one.npz")
    let one = try FileIO.readAll(dir + "/one.npz")
    // Layout: local header + data, central entry (46 + name), end record (22).
    let end = one.count - 22
    let centralStart = Int(readLE(one, end + 16, as: UInt32.self)!)
    let central = Array(one[centralStart..<end])
    var second = central
    second[46 + 0] = UInt8(ascii: "b")  // rename the copy to "b.npy"
    var bomb = Array(one[0..<centralStart]) + central + second
    var record = Array(one[end...])
    record[8] = 2; record[10] = 2  // two entries
    let size = UInt32(central.count * 2)
    withUnsafeBytes(of: size.littleEndian) { for k in 0..<4 { record[12 + k] = $0[k] } }
    bomb += record
    #expect(throwsFormatError(["overlaps"]) { _ = try NPZ.decode(bomb) })
  }
}

@Suite struct NPZFileTests {
  @Test func membersAndRowRangesOnDemand() throws {
    let dir = temporaryDirectory()
    let theta = NumericCore.Matrix(rows: 10, cols: 2, storage: (0..<20).map { Float($0) })
    let x = try NDArray(shape: [10, 2, 2], data: (0..<40).map { Float($0) * 0.5 })
    try NPZ.write([("theta", NDArray(theta)), ("x", x)], to: dir + "/s.npz")
    let f = try NPZFile(path: dir + "/s.npz")
    #expect(f.names == ["theta", "x"])
    #expect(try f.header("x").shape == [10, 2, 2])
    #expect(try f.matrix("theta") == theta)
    #expect(try f.rows("theta", 3..<6) == theta.rows(3..<6))
    #expect(try f.rows("x", 9..<10).storage == Array(x.data[36..<40]))
    #expect(throwsFormatError(["no entry named 'y'"]) { _ = try f.array("y") })
    #expect(throwsFormatError(["outside 0..<10"]) { _ = try f.rows("x", 8..<11) })
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func deflatedMembersFromNumpy() throws {
    let dir = temporaryDirectory()
    let script = """
      import numpy as np, sys
      np.savez_compressed(sys.argv[1] + "/c.npz", theta=np.arange(12, dtype=np.float64).reshape(6, 2))
      """
    let python = try runPython(script, arguments: [dir])
    #expect(python.status == 0, "\(python.output)")
    let f = try NPZFile(path: dir + "/c.npz")
    #expect(try f.header("theta").shape == [6, 2])
    #expect(try f.rows("theta", 4..<6).storage == [8, 9, 10, 11])
  }
}

/// Replays the fuzzing seeds and regression inputs (Fuzz/seeds/READER/, Fuzz/regressions/READER/) through the
/// readers: each must return or throw a FileFormatError, never crash.
@Suite struct FuzzCorpusReplayTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fuzz").path

  static func inputs(_ reader: String, folders: [String] = ["seeds", "regressions"]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    for folder in folders {
      let dir = root + "/\(folder)/\(reader)"
      for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
        if let b = try? FileIO.readAll(dir + "/" + name) { out.append(b) }
      }
    }
    return out
  }

  @Test func seedsAndRegressionsDecodeOrFailCleanly() throws {
    let npy = Self.inputs("npy"), npz = Self.inputs("npz"), csv = Self.inputs("csv")
    let st = Self.inputs("safetensors"), inflate = Self.inputs("inflate")
    #expect(!npy.isEmpty && !npz.isEmpty && !csv.isEmpty && !st.isEmpty && !inflate.isEmpty)
    func clean(_ body: () throws -> Void) -> Bool {
      do { try body(); return true } catch is FileFormatError { return true } catch { return false }
    }
    for b in npy { #expect(clean { _ = try NPY.decode(b) }) }
    for b in npz { #expect(clean { _ = try NPZ.decode(b) }) }
    for b in csv { #expect(clean { _ = try CSV.decode(b) }) }
    for b in st { #expect(clean { _ = try SafeTensors.decode(b) }) }
    for b in inflate where b.count >= 2 {
      #expect(clean { _ = try Inflate.decompress(Array(b[2...]), outputSize: Int(b[0]) | Int(b[1]) << 8) })
    }
    // The seeds are valid files.
    #expect(try Self.inputs("npz", folders: ["seeds"]).allSatisfy { try NPZ.decode($0).names.sorted() == ["theta", "x"] })
    #expect(try Self.inputs("npy", folders: ["seeds"]).allSatisfy { try NPY.decode($0).shape.count <= 3 })
    #expect(try Self.inputs("safetensors", folders: ["seeds"]).allSatisfy { try !SafeTensors.decode($0).tensors.names.isEmpty })
  }
}

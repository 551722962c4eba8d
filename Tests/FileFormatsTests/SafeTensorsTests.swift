import Foundation
import NumericCore
import Testing
import TestSupport
@testable import FileFormats

@Suite struct SafeTensorsTests {
  /// A file from a header text and a byte buffer.
  static func handmade(_ header: String, _ buffer: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    appendLE(&out, UInt64(header.utf8.count))
    return out + Array(header.utf8) + buffer
  }

  @Test func roundTripWithMetadata() throws {
    let dir = temporaryDirectory()
    let w = try NDArray(shape: [2, 3], data: [1, -2, 3.5, .infinity, 0, 1e-30])
    let b = NDArray(vector: [0.25, 0.5])
    let s = try NDArray(shape: [], data: [7])
    let meta = ["format": "pt", "config": "{\"width\": 128, \"quote\": \"\\\"\"}", "ünïcode": "π\n"]
    try SafeTensors.write([("layer.0.weight", w), ("layer.0.bias", b), ("scale", s)], metadata: meta, to: dir + "/m.safetensors")
    let bytes = try FileIO.readAll(dir + "/m.safetensors")
    #expect((Int(readLE(bytes, 0, as: UInt64.self)!) + 8) % 8 == 0)
    let back = try SafeTensors.read(dir + "/m.safetensors")
    #expect(back.metadata == meta)
    #expect(back.tensors.names == ["layer.0.weight", "layer.0.bias", "scale"])
    #expect(back.tensors["layer.0.weight"] == w && back.tensors["layer.0.bias"] == b && back.tensors["scale"] == s)
    #expect(throwsFormatError(["duplicate or reserved"]) { _ = try SafeTensors.encode([("a", b), ("a", b)]) })
  }

  @Test func readsOtherDtypes() throws {
    var buffer: [UInt8] = []
    appendLE(&buffer, Double(-0.1).bitPattern)  // F64
    appendLE(&buffer, UInt16(0x3C00)); appendLE(&buffer, UInt16(0xC500))  // F16: 1, -5
    appendLE(&buffer, UInt16(0x3F80)); appendLE(&buffer, UInt16(0x4049))  // BF16: 1, 3.140625
    appendLE(&buffer, UInt16(0x0001))  // F16 smallest subnormal 2^-24
    buffer += [0xFF, 1]  // I8: -1, 1
    let header = """
      {"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},\
      "b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},"s":{"dtype":"F16","shape":[],"data_offsets":[16,18]},\
      "i":{"dtype":"I8","shape":[2],"data_offsets":[18,20]}}
      """
    let f = try SafeTensors.decode(Self.handmade(header, buffer))
    #expect(f.tensors["d"]?.data == [Float(-0.1)])
    #expect(f.tensors["h"]?.data == [1, -5])
    #expect(f.tensors["b"]?.data == [1, 3.140625])
    #expect(f.tensors["s"]?.data == [0x1p-24] && f.tensors["s"]?.shape == [])
    #expect(f.tensors["i"]?.data == [-1, 1])
    #expect(f.metadata.isEmpty)
  }

  @Test func rejectsInvalidHeaders() {
    let four = [UInt8](repeating: 0, count: 4)
    let cases: [(String, [UInt8], String)] = [
      (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, four, "do not hold"),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#, four, "do not hold"),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, four, "ends at byte 8"),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, four + four, "overlaps"),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, four + four, "gap"),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, four + four, "unused bytes"),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, four, "duplicate"),
      (#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,4]}}"#, four, "dtype C64"),
      (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, four, "invalid shape"),
      (#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, four, "invalid shape"),
      (#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}"#, four, "overflows"),
      (#"{"a":{"dtype":"F32","shape":[1]}}"#, four, "needs dtype"),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#, four, "unexpected or repeated"),
      (#"{"__metadata__":{"k":1}}"#, [], "not a string"),
      (#"{"a":[1]}"#, four, "not an object"),
      (#"[1]"#, [], "JSON object"),
      (#"{"a":"#, [], "unexpected end"),
      (#"{"a\ud800":1}"#, [], "unpaired surrogate"),
      ("{\"a\":" + String(repeating: "[", count: 100), [], "nesting"),
      (#"{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}"#, four, "leading zero"),
    ]
    for (header, buffer, fragment) in cases {
      let ok = throwsFormatError(["x.st", fragment]) { _ = try SafeTensors.decode(Self.handmade(header, buffer), source: "x.st") }
      #expect(ok, "\(header) should fail with '\(fragment)'")
    }
    var invalidUTF8: [UInt8] = []
    let header = Array(#"{"a\#u{01}":1}"#.utf8).map { $0 == 1 ? 0xFF : $0 }
    appendLE(&invalidUTF8, UInt64(header.count))
    #expect(throwsFormatError(["invalid UTF-8"]) { _ = try SafeTensors.decode(invalidUTF8 + header) })
    var huge: [UInt8] = []
    appendLE(&huge, UInt64(200_000_000))
    #expect(throwsFormatError(["exceeds 100 MB"]) { _ = try SafeTensors.decode(huge + [0x7B]) })
    var long: [UInt8] = []
    appendLE(&long, UInt64(50))
    #expect(throwsFormatError(["truncated", "header of 50 bytes"]) { _ = try SafeTensors.decode(long + [0x7B]) })
    #expect(throwsFormatError(["truncated"]) { _ = try SafeTensors.decode([1, 2, 3]) })
  }

  @Test func randomCorruptionNeverCrashes() throws {
    let good = try SafeTensors.encode(
      [("w", NDArray(shape: [3, 2], data: [1, 2, 3, 4, 5, 6])), ("b", NDArray(vector: [1]))], metadata: ["k": "v"])
    var rng = Xoshiro(seed: 3)
    for _ in 0..<3000 {
      var s = good
      for _ in 0..<2 { s[rng.nextInt(below: s.count)] = UInt8(truncatingIfNeeded: rng.nextInt(below: 256)) }
      _ = try? SafeTensors.decode(s)
    }
    for cut in 0..<good.count { _ = try? SafeTensors.decode(Array(good[0..<cut])) }
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func pythonReadsOurLayout() throws {
    let dir = temporaryDirectory()
    try SafeTensors.write(
      [("w", NDArray(shape: [2, 2], data: [1, 2, 3, 4])), ("b", NDArray(vector: [-1, 0.5]))],
      metadata: ["format": "pt"], to: dir + "/m.safetensors")
    // A reader written against the format description with json + numpy (the safetensors package may be absent).
    let script = """
      import json, struct, sys, numpy as np
      raw = open(sys.argv[1] + "/m.safetensors", "rb").read()
      n = struct.unpack("<Q", raw[:8])[0]
      h = json.loads(raw[8:8 + n])
      assert h.pop("__metadata__") == {"format": "pt"}
      buf = raw[8 + n:]
      t = {k: np.frombuffer(buf[v["data_offsets"][0]:v["data_offsets"][1]], dtype="<f4").reshape(v["shape"]) for k, v in h.items()}
      assert np.array_equal(t["w"], [[1, 2], [3, 4]]) and np.array_equal(t["b"], [-1, 0.5])
      try:
          import safetensors.numpy
          assert np.array_equal(safetensors.numpy.load_file(sys.argv[1] + "/m.safetensors")["w"], t["w"])
      except ImportError:
          pass
      print("ok")
      """
    let python = try runPython(script, arguments: [dir])
    #expect(python.status == 0, "\(python.output)")
  }
}

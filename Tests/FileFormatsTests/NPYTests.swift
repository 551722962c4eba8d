import Foundation
import NumericCore
import Testing
import TestSupport
@testable import FileFormats

@Suite struct NPYTests {
  static let values3D: [Float] = (0..<24).map { Float($0) * 0.5 - 3 }

  @Test(arguments: [[5], [3, 4], [2, 3, 4], [], [0, 3]])
  func roundTripAllLayouts(shape: [Int]) throws {
    let count = shape.reduce(1, *)
    let array = try NDArray(shape: shape, data: (0..<count).map { Float($0) * 1.25 - 2 })
    for type in [NPYStorageType.float32, .float64] {
      for order in [ByteOrder.littleEndian, .bigEndian] {
        for fortran in [false, true] {
          for version: UInt8 in [1, 2, 3] {
            let bytes = NPY.encode(array, as: type, byteOrder: order, fortranOrder: fortran, version: version)
            #expect(bytes[6] == version)
            let header = try NPY.parseHeader(bytes)
            #expect(header.dataOffset % 64 == 0)
            #expect(header.fortranOrder == fortran)
            #expect(try NPY.decode(bytes) == array)
          }
        }
      }
    }
  }

  @Test func fortranOrderMatchesColumnMajorLayout() throws {
    // A 2×3 array [[0,1,2],[3,4,5]] in Fortran order stores 0,3,1,4,2,5.
    let a = try NDArray(shape: [2, 3], data: [0, 1, 2, 3, 4, 5])
    let bytes = NPY.encode(a, fortranOrder: true)
    let header = try NPY.parseHeader(bytes)
    let stored = bytes[header.dataOffset...].withUnsafeBytes { raw in
      (0..<6).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
    }
    #expect(stored == [0, 3, 1, 4, 2, 5])
    #expect(NPY.fortranToC(NPY.cToFortran(Self.values3D, shape: [2, 3, 4]), shape: [2, 3, 4]) == Self.values3D)
  }

  /// Builds a .npy file by hand from a header string and raw data bytes.
  static func handmade(_ dict: String, data: [UInt8], version: UInt8 = 1) -> [UInt8] {
    var out: [UInt8] = NPY.magic + [version, 0]
    let header = Array(dict.utf8)
    if version == 1 { appendLE(&out, UInt16(header.count)) } else { appendLE(&out, UInt32(header.count)) }
    return out + header + data
  }

  @Test func readsIntegerAndBoolTypesAndPython2Headers() throws {
    let i4 = Self.handmade("{'descr': '<i4', 'fortran_order': False, 'shape': (2L,), }\n",
                           data: [0xFF, 0xFF, 0xFF, 0xFF, 7, 0, 0, 0])
    #expect(try NPY.decode(i4).data == [-1, 7])
    let u1 = Self.handmade("{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (3,)}", data: [0, 128, 255])
    #expect(try NPY.decode(u1).data == [0, 128, 255])
    let b1 = Self.handmade("{'descr': '|b1', 'fortran_order': False, 'shape': (2,)}", data: [0, 1])
    #expect(try NPY.decode(b1).data == [0, 1])
    let i8 = Self.handmade("{'descr': '>i8', 'fortran_order': False, 'shape': (1,)}", data: [0, 0, 0, 0, 0, 0, 1, 0])
    #expect(try NPY.decode(i8).data == [256])
    let f2 = Self.handmade("{'descr': '<f2', 'fortran_order': False, 'shape': (3,)}", data: [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x7C])
    #expect(try NPY.decode(f2).data == [1, -2, .infinity])
  }

  @Test func rejectsMalformedHeaders() {
    let ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"
    let four: [UInt8] = [0, 0, 128, 63]
    #expect(throws: Never.self) { try NPY.decode(Self.handmade(ok, data: four)) }
    let cases: [(String, [UInt8], String)] = [
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", four, "truncated"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", four + [0], "after the"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (1), }", four, "not a tuple"),
      ("{'descr': '<f4', 'fortran_order': False}", four, "needs the keys"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", four, "unexpected character"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': True}", four, "unexpected header key"),
      ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", four, "duplicate"),
      ("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", four, "dtype '<c8'"),
      ("{'descr': '|f4', 'fortran_order': False, 'shape': (1,)}", four, "byte order"),
      ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", four, "structured"),
      ("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", four, "unexpected character"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", four, "non-negative"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", four, "too large"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", four, "overflows"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", four, "after the dict"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", four, "unterminated"),
    ]
    for (dict, data, fragment) in cases {
      let ok = throwsFormatError(["<memory>", fragment]) { _ = try NPY.decode(Self.handmade(dict, data: data)) }
      #expect(ok, "\(dict) should fail with '\(fragment)'")
    }
    #expect(throwsFormatError(["magic"]) { _ = try NPY.decode(Array("not numpy at all".utf8)) })
    #expect(throwsFormatError(["version 4.0"]) { _ = try NPY.decode(NPY.magic + [4, 0, 0, 0, 0, 0]) })
    #expect(throwsFormatError(["truncated"]) { _ = try NPY.decode(NPY.magic + [1]) })
    var huge = NPY.magic + [2, 0]
    appendLE(&huge, UInt32(0xFFFF_FFF0))
    #expect(throwsFormatError(["truncated", "header of"]) { _ = try NPY.decode(huge) })
  }

  @Test func hugeShapeIsRejectedWithoutAllocating() {
    // A 1e12-element float64 claim in a tiny file must fail fast from the size check.
    let bytes = Self.handmade("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000)}", data: [])
    #expect(throwsFormatError(["needs 8000000000000 data bytes"]) { _ = try NPY.decode(bytes) })
  }

  @Test func fileRoundTripHeaderAndRowRanges() throws {
    let dir = temporaryDirectory()
    let m = Matrix(rows: 6, cols: 3, storage: (0..<18).map(Float.init))
    try NPY.write(m, to: dir + "/m.npy")
    #expect(try NPY.readMatrix(dir + "/m.npy") == m)
    let h = try NPY.readHeader(dir + "/m.npy")
    #expect(h.shape == [6, 3] && h.elementType == .float32 && !h.bigEndian)
    #expect(try NPY.readRows(dir + "/m.npy", 2..<5) == m.rows(2..<5))
    try NPY.write(NDArray(vector: [1, 2, 3]), to: dir + "/v.npy", as: .float64)
    #expect(try NPY.readMatrix(dir + "/v.npy") == Matrix(rows: 3, cols: 1, storage: [1, 2, 3]))
    #expect(throwsFormatError([dir + "/t.npy", "3-D"]) {
      try NPY.write(NDArray(shape: [1, 2, 2], data: [1, 2, 3, 4]), to: dir + "/t.npy")
      _ = try NPY.readMatrix(dir + "/t.npy")
    })
  }

  @Test func nonFiniteRowsAreCountedAndDroppedAcrossPairs() throws {
    let theta = Matrix(rows: 4, cols: 2, storage: [0, 1, .nan, 2, 3, 4, 5, 6])
    let x = Matrix(rows: 4, cols: 1, storage: [1, 2, 3, -.infinity])
    #expect(NonFiniteRows.count(in: theta) == 1)
    #expect(NonFiniteRows.indices(in: x) == [3])
    let (kept, dropped) = try NonFiniteRows.drop([theta, x])
    #expect(dropped == 2)
    #expect(kept[0] == Matrix(rows: 2, cols: 2, storage: [0, 1, 3, 4]))
    #expect(kept[1] == Matrix(rows: 2, cols: 1, storage: [1, 3]))
    #expect(NDArray(theta).nonFiniteCount == 1)
    #expect(throwsFormatError(["row counts differ"]) { _ = try NonFiniteRows.drop([theta, Matrix(rows: 3, cols: 1)]) })
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func numpyReadsOurFilesAndWeReadNumpys() throws {
    let dir = temporaryDirectory()
    let a = try NDArray(shape: [2, 3, 4], data: Self.values3D)
    try NPY.write(a, to: dir + "/ours_le.npy")
    try NPY.write(a, to: dir + "/ours_be_f.npy", as: .float64, byteOrder: .bigEndian, fortranOrder: true)
    let script = """
      import numpy as np, sys
      d = sys.argv[1]
      want = (np.arange(24, dtype=np.float64) * 0.5 - 3).reshape(2, 3, 4)
      for name in ["ours_le.npy", "ours_be_f.npy"]:
          a = np.load(d + "/" + name)
          assert a.shape == (2, 3, 4) and np.array_equal(a, want), name
      np.save(d + "/np_f8.npy", want)
      np.save(d + "/np_f4_fortran_be.npy", np.asfortranarray(want.astype('>f4')))
      np.save(d + "/np_i8.npy", np.arange(5))
      np.save(d + "/np_bool.npy", np.array([True, False]))
      np.lib.format.write_array(open(d + "/np_v3.npy", "wb"), want.astype(np.float32), version=(3, 0))
      np.lib.format.write_array(open(d + "/np_v2.npy", "wb"), want.astype(np.float32), version=(2, 0))
      print("ok")
      """
    let python = try runPython(script, arguments: [dir])
    #expect(python.status == 0, "\(python.output)")
    for name in ["np_f8", "np_f4_fortran_be", "np_v3", "np_v2"] {
      #expect(try NPY.read(dir + "/\(name).npy") == a, "\(name)")
    }
    #expect(try NPY.read(dir + "/np_i8.npy").data == [0, 1, 2, 3, 4])
    #expect(try NPY.read(dir + "/np_bool.npy").data == [1, 0])
  }
}

@Suite struct NPYRegressionTests {
  /// A zero dimension makes the element count 0 while the other dimensions' product overflows; reordering a
  /// Fortran-order array and row access must not compute that product.
  @Test func zeroDimensionWithHugeOthers() throws {
    let f = NPYTests.handmade("{'descr': '<f4', 'fortran_order': True, 'shape': (4294967296, 4294967296, 0), }\n", data: [])
    #expect(try NPY.decode(f).data.isEmpty)
    let dir = temporaryDirectory()
    let c = NPYTests.handmade("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }\n", data: [])
    try AtomicFile.write(c, to: dir + "/z.npy")
    #expect(try NPY.readRows(dir + "/z.npy", 0..<0).count == 0)
    #expect(try NPY.read(dir + "/z.npy").shape == [0, 4_294_967_296, 4_294_967_296])
  }
}

extension NPYRegressionTests {
  @Test func rowAccessWithZeroInnerDimension() throws {
    let dir = temporaryDirectory()
    let c = NPYTests.handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4294967296, 4294967296, 0), }\n", data: [])
    try AtomicFile.write(c, to: dir + "/z.npy")
    let m = try NPY.readRows(dir + "/z.npy", 1..<3)
    #expect(m.rows == 2 && m.cols == 0)
  }
}

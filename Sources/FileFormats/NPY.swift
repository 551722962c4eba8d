// NumPy .npy files: format versions 1.0, 2.0 and 3.0.
//
// Layout (numpy/lib/format.py, "NEP 1"): the magic string "\x93NUMPY", a major and a minor version byte, the
// header length (UInt16 little-endian in version 1, UInt32 in versions 2 and 3), then an ASCII (version 3:
// UTF-8) Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), } padded with spaces
// and a newline, then the raw elements.

import NumericCore

/// The parsed header of a `.npy` file.
public struct NPYHeader: Sendable, Equatable {
  /// Format version (major, minor).
  public var version: (major: UInt8, minor: UInt8)
  public var elementType: ElementType
  /// Whether multi-byte elements are stored big-endian.
  public var bigEndian: Bool
  /// Whether elements are stored in column-major (Fortran) order.
  public var fortranOrder: Bool
  public var shape: [Int]
  /// Byte offset of the first element.
  public var dataOffset: Int
  /// The number of elements, the product of `shape`.
  public var elementCount: Int

  public static func == (a: NPYHeader, b: NPYHeader) -> Bool {
    a.version == b.version && a.elementType == b.elementType && a.bigEndian == b.bigEndian
      && a.fortranOrder == b.fortranOrder && a.shape == b.shape && a.dataOffset == b.dataOffset
  }
}

/// The element type written to a `.npy` file.
public enum NPYStorageType: Sendable {
  case float32, float64
}

/// The byte order of written elements.
public enum ByteOrder: Sendable {
  case littleEndian, bigEndian
}

/// Reading and writing NumPy `.npy` files.
public enum NPY {
  static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
  /// Largest accepted number of dimensions.
  static let maximumRank = 32

  // MARK: Reading

  /// Parses the header at the start of `bytes`. `fileSize` (defaults to `bytes.count`) is the size of the
  /// whole file, against which the data size is checked: data must fill the file exactly.
  public static func parseHeader(_ bytes: [UInt8], fileSize: Int? = nil, source: String = "<memory>") throws
    -> NPYHeader
  {
    try parseHeader(bytes, fileSize: fileSize ?? bytes.count, checkData: true, source: source)
  }

  /// The header parser behind `parseHeader(_:fileSize:source:)` and `readStream`: with `checkData` false the data
  /// are not in `bytes` (a stream), so only the header itself is validated.
  static func parseHeader(_ bytes: [UInt8], fileSize total: Int, checkData: Bool, source: String) throws -> NPYHeader {
    func bad(_ r: String) -> FileFormatError { .malformed(path: source, format: .npy, reason: r) }
    guard bytes.count >= 8 else {
      throw FileFormatError.truncated(path: source, format: .npy, reason: "\(bytes.count) bytes, shorter than the preamble")
    }
    guard Array(bytes[0..<6]) == magic else { throw bad("missing the \\x93NUMPY magic string") }
    let major = bytes[6], minor = bytes[7]
    guard (1...3).contains(major), minor == 0 else {
      throw FileFormatError.unsupported(path: source, format: .npy, feature: "format version \(major).\(minor)")
    }
    let lengthBytes = major == 1 ? 2 : 4
    let headerStart = 8 + lengthBytes
    guard bytes.count >= headerStart else {
      throw FileFormatError.truncated(path: source, format: .npy, reason: "the header length field is cut off")
    }
    let headerLength = major == 1
      ? Int(readLE(bytes, 8, as: UInt16.self)!) : Int(readLE(bytes, 8, as: UInt32.self)!)
    guard headerLength <= bytes.count - headerStart else {
      throw FileFormatError.truncated(
        path: source, format: .npy,
        reason: "header of \(headerLength) bytes but only \(bytes.count - headerStart) bytes follow")
    }
    let text = bytes[headerStart..<(headerStart + headerLength)]
    var parser = NPYHeaderParser(text: Array(text), source: source)
    var dict = try parser.parse()
    guard let descr = dict.removeValue(forKey: "descr"), let fortran = dict.removeValue(forKey: "fortran_order"),
      let shapeValue = dict.removeValue(forKey: "shape")
    else { throw bad("the header dict needs the keys 'descr', 'fortran_order' and 'shape'") }
    if let extra = dict.keys.sorted().first { throw bad("unexpected header key '\(extra)'") }
    guard case .string(let descrText) = descr else {
      if case .other(let what) = descr {
        throw FileFormatError.unsupported(path: source, format: .npy, feature: "descr \(what) (structured dtype)")
      }
      throw bad("'descr' must be a string")
    }
    guard case .bool(let fortranOrder) = fortran else { throw bad("'fortran_order' must be True or False") }
    guard case .tuple(let shape) = shapeValue else { throw bad("'shape' must be a tuple of integers") }
    guard shape.count <= maximumRank else { throw bad("\(shape.count) dimensions (at most \(maximumRank))") }
    let (elementType, bigEndian) = try parseDescr(descrText, source: source)
    guard let count = NDArray.elementCount(shape) else { throw bad("shape \(shape) overflows") }
    let dataOffset = headerStart + headerLength
    let (needed, overflow) = count.multipliedReportingOverflow(by: elementType.size)
    guard !overflow else { throw bad("shape \(shape) overflows") }
    let available = total - dataOffset
    guard checkData else {
      return NPYHeader(
        version: (major, minor), elementType: elementType, bigEndian: bigEndian, fortranOrder: fortranOrder,
        shape: shape, dataOffset: dataOffset, elementCount: count)
    }
    guard needed <= available else {
      throw FileFormatError.truncated(
        path: source, format: .npy,
        reason: "shape \(shape) of \(elementType) needs \(needed) data bytes but the file has \(available)")
    }
    guard needed == available else {
      throw bad("\(available - needed) bytes after the \(needed) data bytes of shape \(shape)")
    }
    return NPYHeader(
      version: (major, minor), elementType: elementType, bigEndian: bigEndian, fortranOrder: fortranOrder,
      shape: shape, dataOffset: dataOffset, elementCount: count)
  }

  /// Maps a NumPy type string such as `<f4`, `>f8`, `|u1` or `|b1` to an element type and byte order.
  static func parseDescr(_ d: String, source: String) throws -> (ElementType, Bool) {
    let chars = Array(d.utf8)
    guard chars.count >= 2 else {
      throw FileFormatError.malformed(path: source, format: .npy, reason: "descr '\(d)' is too short")
    }
    var i = 0
    var order: UInt8 = UInt8(ascii: "=")
    if [UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "|"), UInt8(ascii: "=")].contains(chars[0]) {
      order = chars[0]
      i = 1
    }
    guard i + 1 < chars.count, let size = Int(String(decoding: chars[(i + 1)...], as: UTF8.self)) else {
      throw FileFormatError.unsupported(path: source, format: .npy, feature: "dtype '\(d)'")
    }
    let type: ElementType?
    switch (chars[i], size) {
    case (UInt8(ascii: "f"), 2): type = .float16
    case (UInt8(ascii: "f"), 4): type = .float32
    case (UInt8(ascii: "f"), 8): type = .float64
    case (UInt8(ascii: "i"), 1): type = .int8
    case (UInt8(ascii: "i"), 2): type = .int16
    case (UInt8(ascii: "i"), 4): type = .int32
    case (UInt8(ascii: "i"), 8): type = .int64
    case (UInt8(ascii: "u"), 1): type = .uint8
    case (UInt8(ascii: "u"), 2): type = .uint16
    case (UInt8(ascii: "u"), 4): type = .uint32
    case (UInt8(ascii: "u"), 8): type = .uint64
    case (UInt8(ascii: "b"), 1): type = .bool
    default: type = nil
    }
    guard let type else { throw FileFormatError.unsupported(path: source, format: .npy, feature: "dtype '\(d)'") }
    if order == UInt8(ascii: "|") && type.size != 1 {
      throw FileFormatError.malformed(path: source, format: .npy, reason: "descr '\(d)' lacks a byte order")
    }
    return (type, order == UInt8(ascii: ">"))
  }

  /// Decodes a whole `.npy` file held in memory.
  public static func decode(_ bytes: [UInt8], source: String = "<memory>") throws -> NDArray {
    let header = try parseHeader(bytes, source: source)
    let data = bytes.withUnsafeBytes { raw in
      header.elementType.decode(
        UnsafeRawBufferPointer(rebasing: raw[header.dataOffset...]), count: header.elementCount,
        bigEndian: header.bigEndian)
    }
    if header.fortranOrder && header.shape.count > 1 {
      return NDArray(unchecked: header.shape, data: fortranToC(data, shape: header.shape))
    }
    return NDArray(unchecked: header.shape, data: data)
  }

  /// Reads one `.npy` array from a byte stream (a pipe), never trusting its header: `read(n)` must return exactly
  /// `n` bytes (or throw); the header may be at most `maximumHeaderBytes` long; `accept` sees the parsed header
  /// before any data byte is read and throws to refuse a shape (for example a wrong row count or an element count
  /// above the caller's bound), so that a hostile header cannot make the reader allocate or wait for more than
  /// the caller allows.
  public static func readStream(
    source: String, maximumHeaderBytes: Int = 1 << 20, read: (Int) throws -> [UInt8],
    accept: (NPYHeader) throws -> Void
  ) throws -> NDArray {
    var bytes = try read(8)
    guard Array(bytes[0..<6]) == magic else {
      throw FileFormatError.malformed(path: source, format: .npy, reason: "missing the \\x93NUMPY magic string")
    }
    guard (1...3).contains(bytes[6]), bytes[7] == 0 else {
      throw FileFormatError.unsupported(path: source, format: .npy, feature: "format version \(bytes[6]).\(bytes[7])")
    }
    let lengthBytes = bytes[6] == 1 ? 2 : 4
    bytes += try read(lengthBytes)
    let headerLength = lengthBytes == 2
      ? Int(readLE(bytes, 8, as: UInt16.self)!) : Int(readLE(bytes, 8, as: UInt32.self)!)
    guard headerLength <= maximumHeaderBytes else {
      throw FileFormatError.malformed(
        path: source, format: .npy, reason: "header of \(headerLength) bytes (at most \(maximumHeaderBytes))")
    }
    bytes += try read(headerLength)
    let header = try parseHeader(bytes, fileSize: bytes.count, checkData: false, source: source)
    try accept(header)
    let payload = try read(header.elementCount * header.elementType.size)
    let data = payload.withUnsafeBytes { raw in
      header.elementType.decode(raw, count: header.elementCount, bigEndian: header.bigEndian)
    }
    if header.fortranOrder && header.shape.count > 1 {
      return NDArray(unchecked: header.shape, data: fortranToC(data, shape: header.shape))
    }
    return NDArray(unchecked: header.shape, data: data)
  }

  /// Reorders column-major elements into row-major order.
  static func fortranToC(_ f: [Float], shape: [Int]) -> [Float] {
    // Empty arrays first: with a zero dimension the other dimensions' products may overflow.
    guard !f.isEmpty else { return f }
    let rank = shape.count
    var fStride = [Int](repeating: 1, count: rank)  // Fortran strides: first axis fastest
    for k in 1..<rank { fStride[k] = fStride[k - 1] * shape[k - 1] }
    var out = [Float](repeating: 0, count: f.count)
    var index = [Int](repeating: 0, count: rank)
    var offset = 0
    for c in 0..<f.count {  // walk C order, advancing the last axis fastest
      out[c] = f[offset]
      var k = rank - 1
      while k >= 0 {
        index[k] += 1
        offset += fStride[k]
        if index[k] < shape[k] { break }
        offset -= fStride[k] * shape[k]
        index[k] = 0
        k -= 1
      }
    }
    return out
  }

  /// Reads the `.npy` file at `path`.
  public static func read(_ path: String) throws -> NDArray {
    try decode(FileIO.readAll(path), source: path)
  }

  /// Reads the `.npy` file at `path` as a matrix (1-D arrays become one column; see `NDArray.matrix`).
  public static func readMatrix(_ path: String) throws -> Matrix {
    try read(path).matrix(source: path)
  }

  /// Reads only the header of the `.npy` file at `path` (the data size is checked against the file size).
  public static func readHeader(_ path: String) throws -> NPYHeader {
    let size = try FileIO.size(of: path)
    let prefix = try FileIO.readBytes(path, offset: 0, count: min(size, 12))
    var headerEnd = prefix.count
    if prefix.count >= 12, Array(prefix[0..<6]) == magic {
      headerEnd = prefix[6] == 1
        ? 10 + Int(readLE(prefix, 8, as: UInt16.self)!) : 12 + Int(readLE(prefix, 8, as: UInt32.self)!)
    }
    let head = try FileIO.readBytes(path, offset: 0, count: min(size, headerEnd))
    return try parseHeader(head, fileSize: size, source: path)
  }

  /// Reads rows `range` (along the first axis) of a C-order `.npy` file of rank ≥ 1 as a matrix with the
  /// remaining dimensions flattened into columns, without reading the rest of the file.
  public static func readRows(_ path: String, _ range: Range<Int>) throws -> Matrix {
    let h = try readHeader(path)
    guard h.shape.count >= 1 else {
      throw FileFormatError.unsupported(path: path, format: .npy, feature: "row access to a 0-D array")
    }
    guard !(h.fortranOrder && h.shape.count > 1) else {
      throw FileFormatError.unsupported(path: path, format: .npy, feature: "row access to a Fortran-order array")
    }
    guard range.lowerBound >= 0, range.upperBound <= h.shape[0] else {
      throw FileFormatError.invalidArgument(path: path, reason: "rows \(range) outside 0..<\(h.shape[0])")
    }
    if range.isEmpty { return Matrix(rows: 0, cols: 0) }
    let cols = NDArray.elementCount(Array(h.shape.dropFirst()))!  // fits: rows ≥ 1 and the element count fits
    let rowBytes = cols * h.elementType.size
    let bytes = try FileIO.readBytes(path, offset: h.dataOffset + range.lowerBound * rowBytes,
                                     count: range.count * rowBytes)
    let data = bytes.withUnsafeBytes { h.elementType.decode($0, count: range.count * cols, bigEndian: h.bigEndian) }
    return Matrix(rows: range.count, cols: cols, storage: data)
  }

  // MARK: Writing

  /// Encodes an array as `.npy` bytes. The version is the lowest that fits the header (1.0 unless the header
  /// exceeds 65535 bytes), unless `version` (1, 2 or 3) is given.
  public static func encode(
    _ array: NDArray, as type: NPYStorageType = .float32, byteOrder: ByteOrder = .littleEndian,
    fortranOrder: Bool = false, version: UInt8? = nil
  ) -> [UInt8] {
    var values = array.data
    if fortranOrder && array.shape.count > 1 { values = cToFortran(values, shape: array.shape) }
    return header(shape: array.shape, type: type, byteOrder: byteOrder, fortranOrder: fortranOrder, version: version)
      + elementBytes(values[...], type: type, byteOrder: byteOrder)
  }

  /// The preamble and header dict, padded so that the data starts at a multiple of 64 bytes.
  static func header(shape: [Int], type: NPYStorageType, byteOrder: ByteOrder, fortranOrder: Bool, version: UInt8?)
    -> [UInt8]
  {
    let endian = byteOrder == .littleEndian ? "<" : ">"
    let descr = endian + (type == .float32 ? "f4" : "f8")
    let dims = shape.map(String.init)
    let shapeText = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
    var dict = "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(shapeText), }"
    let major = version ?? (dict.utf8.count + 12 < 65536 ? 1 : 2)
    let preamble = major == 1 ? 10 : 12
    let unpadded = preamble + dict.utf8.count + 1
    dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var out: [UInt8] = magic + [major, 0]
    if major == 1 { appendLE(&out, UInt16(dict.utf8.count)) } else { appendLE(&out, UInt32(dict.utf8.count)) }
    out.append(contentsOf: dict.utf8)
    return out
  }

  /// The stored bytes of `values`.
  static func elementBytes(_ values: ArraySlice<Float>, type: NPYStorageType, byteOrder: ByteOrder) -> [UInt8] {
    let big = byteOrder == .bigEndian
    let size = type == .float32 ? 4 : 8
    return [UInt8](unsafeUninitializedCapacity: values.count * size) { buffer, count in
      let raw = UnsafeMutableRawBufferPointer(buffer)
      var offset = 0
      for v in values {
        switch type {
        case .float32:
          raw.storeBytes(of: big ? v.bitPattern.bigEndian : v.bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self)
        case .float64:
          let bits = Double(v).bitPattern
          raw.storeBytes(of: big ? bits.bigEndian : bits.littleEndian, toByteOffset: offset, as: UInt64.self)
        }
        offset += size
      }
      count = values.count * size
    }
  }

  /// Reorders row-major elements into column-major order.
  static func cToFortran(_ c: [Float], shape: [Int]) -> [Float] {
    // Column-major order of shape s is row-major order of the reversed shape with reversed axes.
    guard !c.isEmpty else { return c }
    let reversed = Array(shape.reversed())
    var out = [Float](repeating: 0, count: c.count)
    let rank = shape.count
    var cStride = [Int](repeating: 1, count: rank)
    for k in stride(from: rank - 2, through: 0, by: -1) { cStride[k] = cStride[k + 1] * shape[k + 1] }
    let rStride = Array(cStride.reversed())
    var index = [Int](repeating: 0, count: rank)
    var offset = 0
    for f in 0..<c.count {
      out[f] = c[offset]
      var k = rank - 1
      while k >= 0 {
        index[k] += 1
        offset += rStride[k]
        if index[k] < reversed[k] { break }
        offset -= rStride[k] * reversed[k]
        index[k] = 0
        k -= 1
      }
    }
    return out
  }

  /// Writes an array to `path` atomically.
  public static func write(
    _ array: NDArray, to path: String, as type: NPYStorageType = .float32, byteOrder: ByteOrder = .littleEndian,
    fortranOrder: Bool = false
  ) throws {
    // Streamed in chunks, so that the encoded bytes never exist in memory all at once.
    var values = array.data
    if fortranOrder && array.shape.count > 1 { values = cToFortran(values, shape: array.shape) }
    try AtomicFile.write(to: path) { writer in
      try writer.write(header(shape: array.shape, type: type, byteOrder: byteOrder, fortranOrder: fortranOrder, version: nil))
      var start = 0
      while start < values.count {
        let end = min(values.count, start + (1 << 20))
        try writer.write(elementBytes(values[start..<end], type: type, byteOrder: byteOrder))
        start = end
      }
    }
  }

  /// Writes a matrix to `path` atomically as a 2-D array.
  public static func write(_ matrix: Matrix, to path: String, as type: NPYStorageType = .float32) throws {
    try write(NDArray(matrix), to: path, as: type)
  }
}

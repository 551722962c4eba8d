// NumPy .npz archives: a zip of .npy members ("theta.npy", "x.npy", ...), as written by numpy.savez (stored)
// and numpy.savez_compressed (deflated); both are read and written.

import NumericCore

/// Arrays by name, in file order (from `.npz` or safetensors files).
public struct NamedArrays: Sendable, Equatable {
  public private(set) var names: [String] = []
  public private(set) var arrays: [String: NDArray] = [:]
  /// The file the arrays came from, used in error messages.
  public var source: String = "<memory>"

  public init(source: String = "<memory>") { self.source = source }

  /// Named arrays from an ordered list.
  public init(_ pairs: [(String, NDArray)]) {
    for (name, array) in pairs { self[name] = array }
  }

  public subscript(name: String) -> NDArray? {
    get { arrays[name] }
    set {
      guard let newValue else {
        if arrays.removeValue(forKey: name) != nil { names.removeAll { $0 == name } }
        return
      }
      if arrays.updateValue(newValue, forKey: name) == nil { names.append(name) }
    }
  }

  /// The array with the given name, or an error naming the file and the available names.
  public func require(_ name: String) throws -> NDArray {
    guard let a = arrays[name] else {
      throw FileFormatError.missingEntry(path: source, name: name, available: names)
    }
    return a
  }

  /// The array with the given name as a matrix (see `NDArray.matrix`).
  public func matrix(_ name: String) throws -> Matrix { try require(name).matrix(source: source) }
}

/// Reading and writing NumPy `.npz` archives.
public enum NPZ {
  /// Decodes every `.npy` member of an archive held in memory; member names lose their `.npy` suffix.
  public static func decode(_ bytes: [UInt8], source: String = "<memory>") throws -> NamedArrays {
    let zip = try ZipArchive(bytes: bytes, source: source)
    var out = NamedArrays(source: source)
    for entry in zip.entries {
      guard !entry.name.hasSuffix("/") else { continue }  // directories
      let name = entry.name.hasSuffix(".npy") ? String(entry.name.dropLast(4)) : entry.name
      out[name] = try decodeMember(entry, of: zip)
    }
    return out
  }

  /// Decodes one `.npy` member. Float32 members in the host's byte order and C order (what NumPy and this
  /// module write) are decoded straight into the array's storage, without an intermediate copy of the member;
  /// so are deflated ones, unless they claim to expand more than `Inflate.initialExpansion`-fold (then the
  /// general path, whose buffer only grows with the real output, bounds the allocation).
  static func decodeMember(_ entry: ZipEntry, of zip: ZipArchive) throws -> NDArray {
    let label = "\(zip.source)[\(entry.name)]"
    let size = entry.uncompressedSize
    do {
      if entry.method != 0 && size > Inflate.initialExpansion * entry.compressedSize + (1 << 16) {
        return try NPY.decode(zip.extract(entry), source: label)
      }
      return try zip.withContent(entry) { next in
        // The preamble (magic, version, header length), then the header (as `NPZFile.header`).
        var head = [UInt8](repeating: 0, count: min(size, 12))
        try head.withUnsafeMutableBytes { try next($0) }
        if head.count >= 12, Array(head[0..<6]) == NPY.magic {
          let end = head[6] == 1
            ? 10 + Int(readLE(head, 8, as: UInt16.self)!) : 12 + Int(readLE(head, 8, as: UInt32.self)!)
          var rest = [UInt8](repeating: 0, count: max(0, min(size, end) - head.count))
          try rest.withUnsafeMutableBytes { try next($0) }
          head += rest
        }
        let header = try NPY.parseHeader(head, fileSize: size, source: label)
        let count = header.elementCount
        if header.elementType == .float32 && header.bigEndian == (1.bigEndian == 1)
          && !(header.fortranOrder && header.shape.count > 1)
        {
          let data = try [Float](unsafeUninitializedCapacity: count) { buffer, n in
            n = 0
            try next(UnsafeMutableRawBufferPointer(buffer))
            n = count
          }
          return NDArray(unchecked: header.shape, data: data)
        }
        var body = [UInt8](repeating: 0, count: size - head.count)
        try body.withUnsafeMutableBytes { try next($0) }
        return try NPY.decode(head + body, source: label)
      }
    } catch let e as FileFormatError {
      throw e.relabeled(label)
    }
  }

  /// Reads the `.npz` file at `path`.
  public static func read(_ path: String) throws -> NamedArrays {
    try decode(FileIO.readAll(path), source: path)
  }

  /// Writes arrays as `.npy` members to `path` atomically, in the given order; each member is encoded (and
  /// compressed) and written in turn, so peak memory is about one member (two with compression).
  ///
  /// `compression`: `.stored` (the default, as `numpy.savez`: fastest to read, and `NPZFile.rows` reads row
  /// ranges in place) or `.deflate` / `.deflate(level:)` (as `numpy.savez_compressed`; a member that DEFLATE
  /// does not shrink is stored). NumPy's `np.load` reads both.
  public static func write(
    _ arrays: [(String, NDArray)], to path: String, as type: NPYStorageType = .float32,
    compression: ZipCompression = .stored
  ) throws {
    if let level = compression.level, !(0...9).contains(level) {
      throw FileFormatError.invalidArgument(path: path, reason: "DEFLATE level \(level) is not in 0...9")
    }
    try AtomicFile.write(to: path) { writer in
      var zip = ZipWriter(path: path, compression: compression)
      for (name, array) in arrays {
        try zip.add(name: name + ".npy", data: NPY.encode(array, as: type), to: writer)
      }
      try zip.finish(to: writer)
    }
  }

  /// Writes named matrices (e.g. `[("theta", θ), ("x", x)]`) to `path` atomically (see above for `compression`).
  public static func write(
    _ matrices: [(String, Matrix)], to path: String, as type: NPYStorageType = .float32,
    compression: ZipCompression = .stored
  ) throws {
    try write(matrices.map { ($0.0, NDArray($0.1)) }, to: path, as: type, compression: compression)
  }
}

/// An `.npz` file opened for reading members on demand: only the central directory is read up front, and
/// rows of stored (uncompressed) C-order members can be read without reading the rest of the member, so
/// memory stays bounded for archives larger than memory.
public struct NPZFile {
  public let path: String
  let zip: ZipArchive

  public init(path: String) throws {
    self.path = path
    self.zip = try ZipArchive(path: path)
  }

  /// Member names without the `.npy` suffix, in archive order.
  public var names: [String] {
    zip.entries.filter { !$0.name.hasSuffix("/") }.map { $0.name.hasSuffix(".npy") ? String($0.name.dropLast(4)) : $0.name }
  }

  func entry(_ name: String) throws -> ZipEntry {
    guard let e = zip.entry(named: name + ".npy") ?? zip.entry(named: name) else {
      throw FileFormatError.missingEntry(path: path, name: name, available: names)
    }
    return e
  }

  /// The whole array named `name`.
  public func array(_ name: String) throws -> NDArray {
    try NPZ.decodeMember(entry(name), of: zip)
  }

  /// The array named `name` as a matrix (see `NDArray.matrix`).
  public func matrix(_ name: String) throws -> Matrix { try array(name).matrix(source: "\(path)[\(name)]") }

  /// The `.npy` header of member `name` (read without the data for stored members).
  public func header(_ name: String) throws -> NPYHeader {
    let e = try entry(name)
    let label = "\(path)[\(e.name)]"
    guard e.method == 0 else { return try NPY.parseHeader(zip.extract(e), source: label) }
    guard e.compressedSize == e.uncompressedSize else {
      throw FileFormatError.malformed(path: label, format: .zip, reason: "stored member sizes differ")
    }
    let start = try zip.dataOffset(of: e)
    let prefix = try zip.data.read(start, min(e.uncompressedSize, 12))
    var headerEnd = prefix.count
    if prefix.count >= 12, Array(prefix[0..<6]) == NPY.magic {
      headerEnd = prefix[6] == 1
        ? 10 + Int(readLE(prefix, 8, as: UInt16.self)!) : 12 + Int(readLE(prefix, 8, as: UInt32.self)!)
    }
    let head = try zip.data.read(start, min(e.uncompressedSize, headerEnd))
    return try NPY.parseHeader(head, fileSize: e.uncompressedSize, source: label)
  }

  /// Rows `range` (along the first axis, remaining axes flattened) of member `name`. Stored C-order members
  /// are read in place (without a CRC check, which needs the whole member); others are decoded whole.
  public func rows(_ name: String, _ range: Range<Int>) throws -> Matrix {
    let e = try entry(name)
    let label = "\(path)[\(e.name)]"
    let h = try header(name)
    guard h.shape.count >= 1 else {
      throw FileFormatError.unsupported(path: label, format: .npy, feature: "row access to a 0-D array")
    }
    guard range.lowerBound >= 0, range.upperBound <= h.shape[0] else {
      throw FileFormatError.invalidArgument(path: label, reason: "rows \(range) outside 0..<\(h.shape[0])")
    }
    if range.isEmpty { return Matrix(rows: 0, cols: 0) }
    let cols = NDArray.elementCount(Array(h.shape.dropFirst()))!  // fits: rows ≥ 1 and the element count fits
    if e.method != 0 || (h.fortranOrder && h.shape.count > 1) {
      let all = try array(name)
      return Matrix(rows: range.count, cols: cols,
                    storage: Array(all.data[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }
    let rowBytes = cols * h.elementType.size
    let start = try zip.dataOffset(of: e) + h.dataOffset + range.lowerBound * rowBytes
    let bytes = try zip.data.read(start, range.count * rowBytes)
    let values = bytes.withUnsafeBytes { h.elementType.decode($0, count: range.count * cols, bigEndian: h.bigEndian) }
    return Matrix(rows: range.count, cols: cols, storage: values)
  }
}

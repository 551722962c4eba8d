// safetensors files (huggingface/safetensors format description).
//
// Layout: an unsigned 64-bit little-endian header size N; N bytes of UTF-8 JSON, an object mapping each tensor
// name to {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} (offsets relative to the byte buffer
// after the header) plus an optional "__metadata__" object of string values; then the byte buffer. Elements
// are little-endian, row-major.

/// The tensors and string metadata of a safetensors file.
public struct SafeTensorsFile: Sendable, Equatable {
  /// Tensors in the order of their data in the file.
  public var tensors: NamedArrays
  public var metadata: [String: String]

  public init(tensors: NamedArrays, metadata: [String: String] = [:]) {
    self.tensors = tensors
    self.metadata = metadata
  }
}

/// Reading and writing safetensors files.
///
/// Reading accepts F32, F64, F16, BF16 and the integer and boolean types, converting to Float, and validates
/// the header strictly: the header size is at most 100 MB and fits the file; every tensor's byte range matches
/// its shape and dtype; the ranges do not overlap and together cover the byte buffer exactly.
/// Writing stores F32 little-endian, the header padded with spaces to a multiple of 8 bytes.
public enum SafeTensors {
  /// The largest accepted header (the reference implementation's limit).
  public static let maximumHeaderSize = 100_000_000

  static func elementType(_ dtype: String) -> ElementType? {
    switch dtype {
    case "F32": return .float32
    case "F64": return .float64
    case "F16": return .float16
    case "BF16": return .bfloat16
    case "I8": return .int8
    case "I16": return .int16
    case "I32": return .int32
    case "I64": return .int64
    case "U8": return .uint8
    case "U16": return .uint16
    case "U32": return .uint32
    case "U64": return .uint64
    case "BOOL": return .bool
    default: return nil
    }
  }

  /// Decodes a safetensors file held in memory.
  public static func decode(_ bytes: [UInt8], source: String = "<memory>") throws -> SafeTensorsFile {
    func bad(_ r: String) -> FileFormatError { .malformed(path: source, format: .safetensors, reason: r) }
    guard let n64 = readLE(bytes, 0, as: UInt64.self) else {
      throw FileFormatError.truncated(path: source, format: .safetensors, reason: "\(bytes.count) bytes, no header size")
    }
    guard n64 <= UInt64(maximumHeaderSize) else { throw bad("header size \(n64) exceeds 100 MB") }
    let n = Int(n64)
    guard n <= bytes.count - 8 else {
      throw FileFormatError.truncated(
        path: source, format: .safetensors, reason: "header of \(n) bytes but the file has \(bytes.count - 8) after the size")
    }
    guard n > 0, bytes[8] == UInt8(ascii: "{") else { throw bad("the header must be a JSON object") }
    let json = try JSONParser.parse(Array(bytes[8..<(8 + n)]), source: source, format: .safetensors)
    guard case .object(let members) = json else { throw bad("the header must be a JSON object") }
    let bufferStart = 8 + n
    let bufferSize = bytes.count - bufferStart
    var metadata: [String: String] = [:]
    var entries: [(name: String, type: ElementType, shape: [Int], begin: Int, end: Int)] = []
    var seen = Set<String>()
    for (name, value) in members {
      guard seen.insert(name).inserted else { throw bad("duplicate key '\(name)'") }
      if name == "__metadata__" {
        guard case .object(let pairs) = value else { throw bad("__metadata__ must be an object of strings") }
        for (k, v) in pairs {
          guard case .string(let s) = v else { throw bad("__metadata__ value '\(k)' is not a string") }
          metadata[k] = s
        }
        continue
      }
      guard case .object(let fields) = value else { throw bad("tensor '\(name)' is not an object") }
      var dtype: String?, shape: [Int]?, offsets: [Int]?
      for (k, v) in fields {
        switch (k, v) {
        case ("dtype", .string(let s)) where dtype == nil: dtype = s
        case ("shape", .array(let a)) where shape == nil:
          shape = a.compactMap(\.nonNegativeInt)
          guard shape!.count == a.count else { throw bad("tensor '\(name)' has an invalid shape") }
        case ("data_offsets", .array(let a)) where offsets == nil:
          offsets = a.compactMap(\.nonNegativeInt)
          guard a.count == 2, offsets!.count == 2 else { throw bad("tensor '\(name)' has invalid data_offsets") }
        default: throw bad("tensor '\(name)' has an unexpected or repeated field '\(k)'")
        }
      }
      guard let dtype, let shape, let offsets else {
        throw bad("tensor '\(name)' needs dtype, shape and data_offsets")
      }
      guard let type = elementType(dtype) else {
        throw FileFormatError.unsupported(path: source, format: .safetensors, feature: "dtype \(dtype) of tensor '\(name)'")
      }
      guard shape.count <= NPY.maximumRank, let count = NDArray.elementCount(shape),
        case let (size, o) = count.multipliedReportingOverflow(by: type.size), !o
      else { throw bad("tensor '\(name)' shape \(shape) overflows") }
      let (begin, end) = (offsets[0], offsets[1])
      guard begin <= end, end - begin == size else {
        throw bad("tensor '\(name)' data_offsets [\(begin), \(end)] do not hold \(shape) of \(dtype) (\(size) bytes)")
      }
      guard end <= bufferSize else {
        throw FileFormatError.truncated(
          path: source, format: .safetensors,
          reason: "tensor '\(name)' ends at byte \(end) of a \(bufferSize)-byte buffer")
      }
      entries.append((name, type, shape, begin, end))
    }
    entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
    var covered = 0
    for e in entries {
      guard e.begin == covered else {
        throw bad(e.begin < covered
          ? "tensor '\(e.name)' overlaps the previous tensor" : "gap in the byte buffer before tensor '\(e.name)'")
      }
      covered = e.end
    }
    guard covered == bufferSize else { throw bad("\(bufferSize - covered) unused bytes after the last tensor") }
    var tensors = NamedArrays(source: source)
    bytes.withUnsafeBytes { raw in
      for e in entries {
        let data = e.type.decode(
          UnsafeRawBufferPointer(rebasing: raw[(bufferStart + e.begin)..<(bufferStart + e.end)]),
          count: (e.end - e.begin) / e.type.size, bigEndian: false)
        tensors[e.name] = NDArray(unchecked: e.shape, data: data)
      }
    }
    return SafeTensorsFile(tensors: tensors, metadata: metadata)
  }

  /// Reads the safetensors file at `path`.
  public static func read(_ path: String) throws -> SafeTensorsFile {
    try decode(FileIO.readAll(path), source: path)
  }

  /// Encodes tensors (as F32, in the given order) and metadata.
  public static func encode(_ tensors: [(String, NDArray)], metadata: [String: String] = [:]) throws -> [UInt8] {
    var parts: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.keys.sorted().map { jsonQuoted($0) + ":" + jsonQuoted(metadata[$0]!) }
      parts.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
    }
    var offset = 0
    var names = Set<String>()
    for (name, array) in tensors {
      guard name != "__metadata__", names.insert(name).inserted else {
        throw FileFormatError.invalidArgument(path: "<memory>", reason: "duplicate or reserved tensor name '\(name)'")
      }
      let size = array.data.count * 4
      let shape = array.shape.map(String.init).joined(separator: ",")
      parts.append(jsonQuoted(name) + ":{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + size)]}")
      offset += size
    }
    var header = Array(("{" + parts.joined(separator: ",") + "}").utf8)
    header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
    var out: [UInt8] = []
    out.reserveCapacity(8 + header.count + offset)
    appendLE(&out, UInt64(header.count))
    out += header
    for (_, array) in tensors {
      for v in array.data { appendLE(&out, v.bitPattern) }
    }
    return out
  }

  /// Writes tensors and metadata to `path` atomically.
  public static func write(_ tensors: [(String, NDArray)], metadata: [String: String] = [:], to path: String) throws {
    do {
      try AtomicFile.write(encode(tensors, metadata: metadata), to: path)
    } catch let e as FileFormatError {
      throw e.relabeled(path)
    }
  }
}

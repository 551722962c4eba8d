// Zip archives (PKWARE APPNOTE.TXT 6.3): the container only — end record (ZIP64 included), central directory,
// local headers — for reading stored and deflated members and writing them. The member data itself is raw
// DEFLATE, handled by zlib (Deflate.swift); every field read here is bounds-checked and no size is trusted.

/// One member of a zip archive, as listed in the central directory.
public struct ZipEntry: Sendable, Equatable {
  public var name: String
  /// 0 = stored, 8 = deflated.
  public var method: UInt16
  public var flags: UInt16
  public var crc32: UInt32
  public var compressedSize: Int
  public var uncompressedSize: Int
  public var localHeaderOffset: Int
  /// Where this member's byte range ends: the next member's local header or the central directory.
  var regionEnd: Int
}

/// How the members of a written archive are encoded.
public struct ZipCompression: Sendable, Equatable, CustomStringConvertible {
  /// The zlib level (0...9) for DEFLATE; nil for stored members.
  public let level: Int?

  /// Members stored as they are (method 0): what `numpy.savez` writes; fastest to read, row ranges readable
  /// in place.
  public static let stored = ZipCompression(level: nil)
  /// Members deflated (method 8) at zlib's default level 6: what `numpy.savez_compressed` writes.
  public static let deflate = ZipCompression(level: Deflate.defaultLevel)
  /// Members deflated at `level` (0...9).
  public static func deflate(level: Int) -> ZipCompression { ZipCompression(level: level) }

  public var description: String { level.map { "deflate (level \($0))" } ?? "stored" }
}

/// Random access to the bytes of a file or of an in-memory buffer.
protocol ByteSource {
  var size: Int { get }
  /// Bytes `offset ..< offset + count`; the caller has checked that they lie within `size`.
  func read(_ offset: Int, _ count: Int) throws -> [UInt8]
  /// Fills `buffer` with the bytes from `offset` on; the caller has checked that they lie within `size`.
  func read(_ offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws
}

struct MemoryBytes: ByteSource {
  let bytes: [UInt8]
  var size: Int { bytes.count }
  func read(_ offset: Int, _ count: Int) throws -> [UInt8] { Array(bytes[offset..<(offset + count)]) }
  func read(_ offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
    bytes.withUnsafeBytes { all in
      buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: all[offset..<(offset + buffer.count)]))
    }
  }
}

struct FileBytes: ByteSource {
  let path: String
  let size: Int
  init(path: String) throws {
    self.path = path
    self.size = try FileIO.size(of: path)
  }
  func read(_ offset: Int, _ count: Int) throws -> [UInt8] { try FileIO.readBytes(path, offset: offset, count: count) }
  func read(_ offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
    try FileIO.fill(buffer, from: path, offset: offset)
  }
}

/// Little-endian fields of a record; a read outside it throws `malformed` with the record's name.
struct ZipRecord {
  let bytes: [UInt8]
  let what: String
  let source: String

  func value<T: FixedWidthInteger>(_ offset: Int, _ type: T.Type) throws -> T {
    guard let v = readLE(bytes, offset, as: T.self) else {
      throw FileFormatError.malformed(path: source, format: .zip, reason: "\(what) overruns at byte \(offset)")
    }
    return v
  }
  func u16(_ offset: Int) throws -> Int { Int(try value(offset, UInt16.self)) }
  func u32(_ offset: Int) throws -> Int { Int(try value(offset, UInt32.self)) }
}

/// A zip archive read through its central directory, from memory or from a file (members are then read on
/// demand, so memory stays bounded by the largest member used).
public struct ZipArchive {
  public let entries: [ZipEntry]
  let data: any ByteSource
  let source: String
  /// Where the central directory starts (members lie before it).
  let directoryOffset: Int

  /// Parses an archive held in memory.
  public init(bytes: [UInt8], source: String = "<memory>") throws {
    try self.init(data: MemoryBytes(bytes: bytes), source: source)
  }

  /// Parses the central directory of the archive at `path` without reading the members.
  public init(path: String) throws {
    try self.init(data: FileBytes(path: path), source: path)
  }

  /// Parses the end-of-central-directory record (and the ZIP64 one when present) and the central directory.
  init(data: any ByteSource, source: String) throws {
    self.data = data
    self.source = source
    func bad(_ r: String) -> FileFormatError { .malformed(path: source, format: .zip, reason: r) }
    let n = data.size
    guard n >= 22 else { throw FileFormatError.truncated(path: source, format: .zip, reason: "\(n) bytes") }
    // The end record (APPNOTE 4.3.16) is 22 bytes plus a comment of up to 65535 bytes: search backwards.
    let tailStart = max(0, n - 22 - 65535)
    let tail = ZipRecord(bytes: try data.read(tailStart, n - tailStart), what: "end record", source: source)
    var found: Int?
    var k = tail.bytes.count - 22
    while found == nil && k >= 0 {
      if try tail.value(k, UInt32.self) == 0x0605_4B50, k + 22 + (try tail.u16(k + 20)) <= tail.bytes.count {
        found = k
      }
      k -= 1
    }
    guard let e = found else { throw bad("no end-of-central-directory record") }
    guard try tail.u16(e + 4) == 0, try tail.u16(e + 6) == 0 else {
      throw FileFormatError.unsupported(path: source, format: .zip, feature: "multi-disk archives")
    }
    let eocd = tailStart + e
    var entryCount = try tail.u16(e + 10), directorySize = try tail.u32(e + 12)
    var directoryOffset = try tail.u32(e + 16), directoryEnd = eocd
    if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
      // ZIP64 (APPNOTE 4.3.14–15): a 20-byte locator precedes the end record and points at the 56-byte record.
      guard eocd >= 20 + 56 else { throw bad("missing ZIP64 end record") }
      let locator = ZipRecord(bytes: try data.read(eocd - 20, 20), what: "ZIP64 locator", source: source)
      let at = try locator.value(8, UInt64.self)
      guard try locator.value(0, UInt32.self) == 0x0706_4B50, at <= UInt64(eocd - 20 - 56) else {
        throw bad("missing or invalid ZIP64 end-record locator")
      }
      let record = ZipRecord(bytes: try data.read(Int(at), 56), what: "ZIP64 end record", source: source)
      let c = try record.value(32, UInt64.self), s = try record.value(40, UInt64.self)
      let o = try record.value(48, UInt64.self)
      guard try record.value(0, UInt32.self) == 0x0606_4B50, c <= UInt64(n), s <= UInt64(n), o <= UInt64(n) else {
        throw bad("invalid ZIP64 end record")
      }
      (entryCount, directorySize, directoryOffset, directoryEnd) = (Int(c), Int(s), Int(o), Int(at))
    }
    guard directoryOffset <= directoryEnd, directorySize <= directoryEnd - directoryOffset else {
      throw bad("central directory (offset \(directoryOffset), \(directorySize) bytes) outside the file")
    }
    guard entryCount <= directorySize / 46 else { throw bad("\(entryCount) entries cannot fit the central directory") }
    self.directoryOffset = directoryOffset
    let cd = ZipRecord(bytes: try data.read(directoryOffset, directorySize), what: "central directory", source: source)
    var entries: [ZipEntry] = []
    entries.reserveCapacity(entryCount)
    var p = 0
    var seen = Set<String>()
    for _ in 0..<entryCount {
      // Central directory file header (APPNOTE 4.3.12): 46 fixed bytes, then name, extra field and comment.
      guard try cd.value(p, UInt32.self) == 0x0201_4B50 else {
        throw bad("bad central directory entry at offset \(directoryOffset + p)")
      }
      let flags = try cd.value(p + 8, UInt16.self), method = try cd.value(p + 10, UInt16.self)
      let crc = try cd.value(p + 16, UInt32.self)
      var compressed = UInt64(try cd.u32(p + 20)), uncompressed = UInt64(try cd.u32(p + 24))
      var offset = UInt64(try cd.u32(p + 42))
      let nameStart = p + 46, nameEnd = nameStart + (try cd.u16(p + 28))
      let extraEnd = nameEnd + (try cd.u16(p + 30)), entryEnd = extraEnd + (try cd.u16(p + 32))
      guard entryEnd <= cd.bytes.count else { throw bad("central directory entry at \(directoryOffset + p) overruns") }
      let name = String(decoding: cd.bytes[nameStart..<nameEnd], as: UTF8.self)
      // ZIP64 extended information (tag 0x0001, APPNOTE 4.5.3): only the fields saturated above, in this order.
      var x = nameEnd
      while x + 4 <= extraEnd {
        let tag = try cd.u16(x), fieldEnd = x + 4 + (try cd.u16(x + 2))
        guard fieldEnd <= extraEnd else { throw bad("extra field overruns in entry '\(name)'") }
        if tag == 0x0001 {
          var q = x + 4
          func next() throws -> UInt64 {
            guard q + 8 <= fieldEnd else { throw bad("short ZIP64 field in entry '\(name)'") }
            defer { q += 8 }
            return try cd.value(q, UInt64.self)
          }
          if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
          if compressed == 0xFFFF_FFFF { compressed = try next() }
          if offset == 0xFFFF_FFFF { offset = try next() }
        }
        x = fieldEnd
      }
      guard compressed <= UInt64(n), offset <= UInt64(n), uncompressed <= UInt64(Inflate.maximumOutputSize) else {
        throw bad("entry '\(name)' has sizes beyond the file")
      }
      guard seen.insert(name).inserted else { throw bad("duplicate entry '\(name)'") }
      entries.append(ZipEntry(
        name: name, method: method, flags: flags, crc32: crc, compressedSize: Int(compressed),
        uncompressedSize: Int(uncompressed), localHeaderOffset: Int(offset), regionEnd: directoryOffset))
      p = entryEnd
    }
    // Members must occupy disjoint byte ranges before the central directory; otherwise many entries could
    // point at the same compressed data and expand far beyond what the file size justifies.
    let order = entries.indices.sorted { entries[$0].localHeaderOffset < entries[$1].localHeaderOffset }
    for (k, i) in order.enumerated() {
      if k + 1 < order.count { entries[i].regionEnd = entries[order[k + 1]].localHeaderOffset }
      guard entries[i].localHeaderOffset + 30 + entries[i].compressedSize <= entries[i].regionEnd else {
        throw bad("member '\(entries[i].name)' overlaps the next member or the central directory")
      }
    }
    self.entries = entries
  }

  /// The entry with the given name.
  public func entry(named name: String) -> ZipEntry? { entries.first { $0.name == name } }

  /// The file offset of an entry's (compressed) data, after its local header (APPNOTE 4.3.7: 30 fixed bytes,
  /// name, extra field); the data must end before the next member.
  public func dataOffset(of entry: ZipEntry) throws -> Int {
    let label = "\(source)[\(entry.name)]"
    let h = entry.localHeaderOffset
    guard h + 30 <= entry.regionEnd else {
      throw FileFormatError.malformed(path: label, format: .zip, reason: "bad local header at offset \(h)")
    }
    let header = ZipRecord(bytes: try data.read(h, 30), what: "local header", source: label)
    guard try header.value(0, UInt32.self) == 0x0403_4B50 else {
      throw FileFormatError.malformed(path: label, format: .zip, reason: "bad local header at offset \(h)")
    }
    let start = h + 30 + (try header.u16(26)) + (try header.u16(28))
    guard start <= entry.regionEnd, entry.compressedSize <= entry.regionEnd - start else {
      throw FileFormatError.truncated(path: label, format: .zip, reason: "member data runs past its region")
    }
    return start
  }

  /// The name of `entry` for messages, once the entry is one we can read: not encrypted, stored or deflated, and a
  /// stored member declares equal sizes.
  func readableLabel(_ entry: ZipEntry) throws -> String {
    let label = "\(source)[\(entry.name)]"
    guard entry.flags & 1 == 0 else {
      throw FileFormatError.unsupported(path: label, format: .zip, feature: "encrypted members")
    }
    guard entry.method == 0 || entry.method == 8 else {
      throw FileFormatError.unsupported(path: label, format: .zip, feature: "compression method \(entry.method)")
    }
    if entry.method == 0 && entry.compressedSize != entry.uncompressedSize {
      throw FileFormatError.malformed(path: label, format: .zip, reason: "stored member sizes differ")
    }
    return label
  }

  /// The uncompressed content of an entry, checked against its declared size and CRC-32.
  public func extract(_ entry: ZipEntry) throws -> [UInt8] {
    let label = try readableLabel(entry)
    func bad(_ r: String) -> FileFormatError { .malformed(path: label, format: .zip, reason: r) }
    let raw = try data.read(try dataOffset(of: entry), entry.compressedSize)
    let content = entry.method == 0
      ? raw : try Inflate.decompress(raw, outputSize: entry.uncompressedSize, source: label)
    let crc = CRC32.checksum(content)
    guard crc == entry.crc32 else {
      throw bad("CRC-32 mismatch (stored \(hex(entry.crc32)), computed \(hex(crc)))")
    }
    return content
  }
}

extension ZipArchive {
  /// Streams an entry's content, in order, into buffers the caller provides (for decoding a member straight
  /// into its final storage): `body` gets a function that fills the next `buffer.count` bytes and throws when
  /// the member has fewer left. The caller sizes its buffers from what it has read (bounded by the declared
  /// size); afterwards the whole member must have been consumed, and its CRC-32, computed over each piece
  /// while it is in cache, must match.
  func withContent<R>(
    _ entry: ZipEntry, _ body: (_ next: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> R
  ) throws -> R {
    let label = try readableLabel(entry)
    func bad(_ r: String) -> FileFormatError { .malformed(path: label, format: .zip, reason: r) }
    let start = try dataOffset(of: entry)
    var crc: UInt32 = 0
    var delivered = 0
    let result: R
    do {
      result = try stream(entry, from: start, label, body, &crc, &delivered)
    } catch let error as FileFormatError {
      // A damaged member is reported as such (CRC-32 or DEFLATE error), ahead of what the damage made the
      // caller see.
      _ = try extract(entry)
      throw error
    }
    guard delivered == entry.uncompressedSize else {
      throw bad("\(delivered) of the member's \(entry.uncompressedSize) bytes used")
    }
    guard crc == entry.crc32 else {
      throw bad("CRC-32 mismatch (stored \(hex(entry.crc32)), computed \(hex(crc)))")
    }
    return result
  }

  /// `withContent` after the checks: feeds `body` from the member's data at `start`, one MiB at a time (no
  /// buffer for the whole member), updating the CRC and the count.
  private func stream<R>(
    _ entry: ZipEntry, from start: Int, _ label: String,
    _ body: (_ next: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> R,
    _ crc: inout UInt32, _ delivered: inout Int
  ) throws -> R {
    let piece = 1 << 20
    if entry.method == 0 {
      return try body { buffer in
        guard buffer.count <= entry.uncompressedSize - delivered else {
          throw FileFormatError.truncated(path: label, format: .zip, reason: "member ends early")
        }
        var k = 0
        while k < buffer.count {
          let to = UnsafeMutableRawBufferPointer(rebasing: buffer[k..<(k + min(piece, buffer.count - k))])
          try data.read(start + delivered + k, into: to)
          crc = CRC32.update(crc, UnsafeRawBufferPointer(to))
          k += to.count
        }
        delivered += buffer.count
      }
    }
    let reader = PieceReader(data: data, start: start, count: entry.compressedSize, piece: piece)
    return try Inflate.withStream(
      inputSize: entry.compressedSize, refill: { try reader.next() }, outputSize: entry.uncompressedSize,
      source: label
    ) { fill in
      try withoutActuallyEscaping(fill) { next in
        try body { buffer in
          var k = 0
          while k < buffer.count {
            let to = UnsafeMutableRawBufferPointer(rebasing: buffer[k..<(k + min(piece, buffer.count - k))])
            try next(to)
            crc = CRC32.update(crc, UnsafeRawBufferPointer(to))
            k += to.count
          }
          delivered += buffer.count
        }
      }
    }
  }
}

/// Reads `count` bytes from `start` of a byte source one piece at a time into one reused buffer.
private final class PieceReader {
  let data: any ByteSource
  let start: Int
  let count: Int
  let buffer: UnsafeMutableRawBufferPointer
  var consumed = 0

  init(data: any ByteSource, start: Int, count: Int, piece: Int) {
    self.data = data
    self.start = start
    self.count = count
    buffer = .allocate(byteCount: max(1, min(piece, count)), alignment: 16)
  }

  deinit { buffer.deallocate() }

  /// The next piece (valid until the next call); empty after the last.
  func next() throws -> UnsafeRawBufferPointer {
    let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(buffer.count, count - consumed)])
    try data.read(start + consumed, into: piece)
    consumed += piece.count
    return UnsafeRawBufferPointer(piece)
  }
}

func hex(_ v: UInt32) -> String {
  let s = String(v, radix: 16)
  return "0x" + String(repeating: "0", count: 8 - s.count) + s
}

/// Writes a zip archive to a stream, one member at a time: stored, or deflated when that is smaller.
struct ZipWriter {
  private var central: [UInt8] = []
  private var offset = 0
  private var count = 0
  private var names = Set<String>()
  let path: String
  let compression: ZipCompression

  init(path: String, compression: ZipCompression = .stored) {
    self.path = path
    self.compression = compression
  }

  /// Appends one member: local header then data. With `.deflate`, a member that DEFLATE does not shrink is
  /// stored instead (readers see method 0 and can read its rows in place).
  mutating func add(name: String, data: [UInt8], to writer: AtomicFileWriter) throws {
    let nameBytes = Array(name.utf8)
    guard names.insert(name).inserted else {
      throw FileFormatError.invalidArgument(path: path, reason: "duplicate member name '\(name)'")
    }
    guard data.count < 0xFFFF_FFFF, offset < 0xFFFF_FFFF, nameBytes.count < 0xFFFF, count < 0xFFFF else {
      throw FileFormatError.invalidArgument(path: path, reason: "archive exceeds 4 GiB (ZIP64 writing is not supported)")
    }
    var method: UInt16 = 0
    var payload = data
    if let level = compression.level {
      let deflated = try Deflate.compress(data, level: level, source: path)
      if deflated.count < data.count {
        method = 8
        payload = deflated
      }
    }
    let crc = CRC32.checksum(data)
    var local: [UInt8] = []
    appendLE(&local, UInt32(0x0403_4B50))
    appendLE(&local, UInt16(20))  // version needed: 2.0 (DEFLATE)
    appendLE(&local, UInt16(0))  // flags (for DEFLATE: normal compression)
    appendLE(&local, method)
    appendLE(&local, UInt16(0))  // time 00:00
    appendLE(&local, UInt16(0x21))  // date 1980-01-01
    appendLE(&local, crc)
    appendLE(&local, UInt32(payload.count))
    appendLE(&local, UInt32(data.count))
    appendLE(&local, UInt16(nameBytes.count))
    appendLE(&local, UInt16(0))
    local += nameBytes
    try writer.write(local)
    try writer.write(payload)

    appendLE(&central, UInt32(0x0201_4B50))
    appendLE(&central, UInt16(0x031E))  // made by: Unix, 3.0
    central += local[4..<30]
    appendLE(&central, UInt16(0))  // comment length
    appendLE(&central, UInt16(0))  // disk
    appendLE(&central, UInt16(0))  // internal attributes
    appendLE(&central, UInt32(0o100644) << 16)  // external attributes: regular file, rw-r--r--
    appendLE(&central, UInt32(offset))
    central += nameBytes
    offset += local.count + payload.count
    count += 1
  }

  /// Writes the central directory and the end record.
  func finish(to writer: AtomicFileWriter) throws {
    guard offset + central.count < 0xFFFF_FFFF else {
      throw FileFormatError.invalidArgument(path: path, reason: "archive exceeds 4 GiB (ZIP64 writing is not supported)")
    }
    var end: [UInt8] = []
    appendLE(&end, UInt32(0x0605_4B50))
    appendLE(&end, UInt16(0))
    appendLE(&end, UInt16(0))
    appendLE(&end, UInt16(count))
    appendLE(&end, UInt16(count))
    appendLE(&end, UInt32(central.count))
    appendLE(&end, UInt32(offset))
    appendLE(&end, UInt16(0))
    try writer.write(central)
    try writer.write(end)
  }
}

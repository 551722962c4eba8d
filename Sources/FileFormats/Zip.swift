// Zip archives (PKWARE APPNOTE 6.3): reading stored and deflated members through the central directory
// (ZIP64 included), and writing stored members.

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
}

/// Random access to the bytes of a file or of an in-memory buffer.
protocol ByteSource {
  var size: Int { get }
  /// Bytes `offset ..< offset + count`; the caller has checked that they lie within `size`.
  func read(_ offset: Int, _ count: Int) throws -> [UInt8]
}

struct MemoryBytes: ByteSource {
  let bytes: [UInt8]
  var size: Int { bytes.count }
  func read(_ offset: Int, _ count: Int) throws -> [UInt8] { Array(bytes[offset..<(offset + count)]) }
}

struct FileBytes: ByteSource {
  let path: String
  let size: Int
  init(path: String) throws {
    self.path = path
    self.size = try FileIO.size(of: path)
  }
  func read(_ offset: Int, _ count: Int) throws -> [UInt8] { try FileIO.readBytes(path, offset: offset, count: count) }
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
    // The end record is 22 bytes plus a comment of up to 65535 bytes.
    let tailStart = max(0, n - 22 - 65535)
    let tail = try data.read(tailStart, n - tailStart)
    var k = tail.count - 22
    var found = -1
    while k >= 0 {
      if readLE(tail, k, as: UInt32.self) == 0x0605_4B50, k + 22 + Int(readLE(tail, k + 20, as: UInt16.self)!) <= tail.count {
        found = k
        break
      }
      k -= 1
    }
    guard found >= 0 else { throw bad("no end-of-central-directory record") }
    let eocd = tailStart + found
    var entryCount = Int(readLE(tail, found + 10, as: UInt16.self)!)
    var directorySize = Int(readLE(tail, found + 12, as: UInt32.self)!)
    var directoryOffset = Int(readLE(tail, found + 16, as: UInt32.self)!)
    var directoryEnd = eocd
    let disk = readLE(tail, found + 4, as: UInt16.self)!, cdDisk = readLE(tail, found + 6, as: UInt16.self)!
    if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
      // ZIP64: a locator (20 bytes) precedes the end record and points at the 56-byte ZIP64 end record.
      guard eocd >= 76 else { throw bad("missing ZIP64 end record") }
      let locator = try data.read(eocd - 20, 20)
      guard readLE(locator, 0, as: UInt32.self) == 0x0706_4B50, let at64 = readLE(locator, 8, as: UInt64.self),
        at64 <= UInt64(eocd - 20 - 56)
      else { throw bad("missing or invalid ZIP64 end-record locator") }
      let r = Int(at64)
      let record = try data.read(r, 56)
      guard readLE(record, 0, as: UInt32.self) == 0x0606_4B50, let c = readLE(record, 32, as: UInt64.self),
        let s = readLE(record, 40, as: UInt64.self), let o = readLE(record, 48, as: UInt64.self),
        c <= UInt64(n), s <= UInt64(n), o <= UInt64(n)
      else { throw bad("invalid ZIP64 end record") }
      entryCount = Int(c)
      directorySize = Int(s)
      directoryOffset = Int(o)
      directoryEnd = r
    }
    guard disk == 0, cdDisk == 0 else {
      throw FileFormatError.unsupported(path: source, format: .zip, feature: "multi-disk archives")
    }
    guard directoryOffset <= directoryEnd, directorySize <= directoryEnd - directoryOffset else {
      throw bad("central directory (offset \(directoryOffset), \(directorySize) bytes) outside the file")
    }
    guard entryCount <= directorySize / 46 else { throw bad("\(entryCount) entries cannot fit the central directory") }
    self.directoryOffset = directoryOffset
    let cd = try data.read(directoryOffset, directorySize)
    var entries: [ZipEntry] = []
    entries.reserveCapacity(entryCount)
    var p = 0
    var seen = Set<String>()
    for _ in 0..<entryCount {
      guard p + 46 <= cd.count, readLE(cd, p, as: UInt32.self) == 0x0201_4B50 else {
        throw bad("bad central directory entry at offset \(directoryOffset + p)")
      }
      let flags = readLE(cd, p + 8, as: UInt16.self)!
      let method = readLE(cd, p + 10, as: UInt16.self)!
      let crc = readLE(cd, p + 16, as: UInt32.self)!
      var compressed = UInt64(readLE(cd, p + 20, as: UInt32.self)!)
      var uncompressed = UInt64(readLE(cd, p + 24, as: UInt32.self)!)
      let nameLength = Int(readLE(cd, p + 28, as: UInt16.self)!)
      let extraLength = Int(readLE(cd, p + 30, as: UInt16.self)!)
      let commentLength = Int(readLE(cd, p + 32, as: UInt16.self)!)
      var offset = UInt64(readLE(cd, p + 42, as: UInt32.self)!)
      let nameStart = p + 46
      guard nameStart + nameLength + extraLength + commentLength <= cd.count else {
        throw bad("central directory entry at \(directoryOffset + p) overruns")
      }
      let name = String(decoding: cd[nameStart..<(nameStart + nameLength)], as: UTF8.self)
      // ZIP64 extended information (tag 0x0001): only the fields saturated in the fixed header, in this order.
      var e = nameStart + nameLength
      let extraEnd = e + extraLength
      while e + 4 <= extraEnd {
        let tag = readLE(cd, e, as: UInt16.self)!
        let size = Int(readLE(cd, e + 2, as: UInt16.self)!)
        guard e + 4 + size <= extraEnd else { throw bad("extra field overruns in entry '\(name)'") }
        if tag == 0x0001 {
          var q = e + 4
          func next() throws -> UInt64 {
            guard q + 8 <= e + 4 + size else { throw bad("short ZIP64 field in entry '\(name)'") }
            defer { q += 8 }
            return readLE(cd, q, as: UInt64.self)!
          }
          if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
          if compressed == 0xFFFF_FFFF { compressed = try next() }
          if offset == 0xFFFF_FFFF { offset = try next() }
        }
        e += 4 + size
      }
      guard compressed <= UInt64(n), offset <= UInt64(n), uncompressed <= UInt64(Int.max / 2) else {
        throw bad("entry '\(name)' has sizes beyond the file")
      }
      guard seen.insert(name).inserted else { throw bad("duplicate entry '\(name)'") }
      entries.append(ZipEntry(
        name: name, method: method, flags: flags, crc32: crc, compressedSize: Int(compressed),
        uncompressedSize: Int(uncompressed), localHeaderOffset: Int(offset)))
      p = extraEnd + commentLength
    }
    // Members must occupy disjoint byte ranges before the central directory; otherwise many entries could
    // point at the same compressed data and expand far beyond what the file size justifies.
    let byOffset = entries.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
    for (k, e) in byOffset.enumerated() {
      let end = e.localHeaderOffset + 30 + e.compressedSize
      let limit = k + 1 < byOffset.count ? byOffset[k + 1].localHeaderOffset : directoryOffset
      guard end <= limit else { throw bad("member '\(e.name)' overlaps the next member or the central directory") }
    }
    self.entries = entries
  }

  /// The entry with the given name.
  public func entry(named name: String) -> ZipEntry? { entries.first { $0.name == name } }

  /// The file offset of an entry's (compressed) data, after its local header.
  public func dataOffset(of entry: ZipEntry) throws -> Int {
    let label = "\(source)[\(entry.name)]"
    let h = entry.localHeaderOffset
    guard h + 30 <= directoryOffset else { throw FileFormatError.malformed(path: label, format: .zip, reason: "bad local header at offset \(h)") }
    let header = try data.read(h, 30)
    guard readLE(header, 0, as: UInt32.self) == 0x0403_4B50 else {
      throw FileFormatError.malformed(path: label, format: .zip, reason: "bad local header at offset \(h)")
    }
    let start = h + 30 + Int(readLE(header, 26, as: UInt16.self)!) + Int(readLE(header, 28, as: UInt16.self)!)
    guard entry.compressedSize <= directoryOffset - start else {
      throw FileFormatError.truncated(path: label, format: .zip, reason: "member data runs into the central directory")
    }
    return start
  }

  /// The uncompressed content of an entry, checked against its CRC-32.
  public func extract(_ entry: ZipEntry) throws -> [UInt8] {
    let label = "\(source)[\(entry.name)]"
    func bad(_ r: String) -> FileFormatError { .malformed(path: label, format: .zip, reason: r) }
    guard entry.flags & 1 == 0 else {
      throw FileFormatError.unsupported(path: label, format: .zip, feature: "encrypted members")
    }
    guard entry.method == 0 || entry.method == 8 else {
      throw FileFormatError.unsupported(path: label, format: .zip, feature: "compression method \(entry.method)")
    }
    if entry.method == 0 && entry.compressedSize != entry.uncompressedSize { throw bad("stored member sizes differ") }
    let start = try dataOffset(of: entry)
    let raw = try data.read(start, entry.compressedSize)
    let content = entry.method == 0 ? raw : try Inflate.decompress(raw, outputSize: entry.uncompressedSize, source: label)
    let crc = CRC32.checksum(content)
    guard crc == entry.crc32 else {
      throw bad("CRC-32 mismatch (stored \(hex(entry.crc32)), computed \(hex(crc)))")
    }
    return content
  }
}

func hex(_ v: UInt32) -> String {
  let s = String(v, radix: 16)
  return "0x" + String(repeating: "0", count: 8 - s.count) + s
}

/// Writes a zip archive of stored (uncompressed) members to a stream, one member at a time.
struct ZipStoredWriter {
  private var central: [UInt8] = []
  private var offset = 0
  private var count = 0
  private var names = Set<String>()
  let path: String

  init(path: String) { self.path = path }

  /// Appends one member: local header then data.
  mutating func add(name: String, data: [UInt8], to writer: AtomicFileWriter) throws {
    let nameBytes = Array(name.utf8)
    guard names.insert(name).inserted else {
      throw FileFormatError.invalidArgument(path: path, reason: "duplicate member name '\(name)'")
    }
    guard data.count < 0xFFFF_FFFF, offset < 0xFFFF_FFFF, nameBytes.count < 0xFFFF, count < 0xFFFF else {
      throw FileFormatError.invalidArgument(path: path, reason: "archive exceeds 4 GiB (ZIP64 writing is not supported)")
    }
    let crc = CRC32.checksum(data)
    var local: [UInt8] = []
    appendLE(&local, UInt32(0x0403_4B50))
    appendLE(&local, UInt16(20))  // version needed: 2.0
    appendLE(&local, UInt16(0))  // flags
    appendLE(&local, UInt16(0))  // stored
    appendLE(&local, UInt16(0))  // time 00:00
    appendLE(&local, UInt16(0x21))  // date 1980-01-01
    appendLE(&local, crc)
    appendLE(&local, UInt32(data.count))
    appendLE(&local, UInt32(data.count))
    appendLE(&local, UInt16(nameBytes.count))
    appendLE(&local, UInt16(0))
    local += nameBytes
    try writer.write(local)
    try writer.write(data)

    appendLE(&central, UInt32(0x0201_4B50))
    appendLE(&central, UInt16(0x031E))  // made by: Unix, 3.0
    central += local[4..<30]
    appendLE(&central, UInt16(0))  // comment length
    appendLE(&central, UInt16(0))  // disk
    appendLE(&central, UInt16(0))  // internal attributes
    appendLE(&central, UInt32(0o100644) << 16)  // external attributes: regular file, rw-r--r--
    appendLE(&central, UInt32(offset))
    central += nameBytes
    offset += local.count + data.count
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

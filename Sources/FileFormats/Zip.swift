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

/// A zip archive held in memory.
public struct ZipArchive {
  public let entries: [ZipEntry]
  let bytes: [UInt8]
  let source: String

  /// Parses the end-of-central-directory record and the central directory.
  public init(bytes: [UInt8], source: String = "<memory>") throws {
    self.bytes = bytes
    self.source = source
    func bad(_ r: String) -> FileFormatError { .malformed(path: source, format: .zip, reason: r) }
    let n = bytes.count
    guard n >= 22 else { throw FileFormatError.truncated(path: source, format: .zip, reason: "\(n) bytes") }
    // The end record is 22 bytes plus a comment of up to 65535 bytes.
    var eocd = -1
    var k = n - 22
    while k >= max(0, n - 22 - 65535) {
      if readLE(bytes, k, as: UInt32.self) == 0x0605_4B50, k + 22 + Int(readLE(bytes, k + 20, as: UInt16.self)!) <= n {
        eocd = k
        break
      }
      k -= 1
    }
    guard eocd >= 0 else { throw bad("no end-of-central-directory record") }
    var entryCount = Int(readLE(bytes, eocd + 10, as: UInt16.self)!)
    var directorySize = Int(readLE(bytes, eocd + 12, as: UInt32.self)!)
    var directoryOffset = Int(readLE(bytes, eocd + 16, as: UInt32.self)!)
    var directoryEnd = eocd
    let disk = readLE(bytes, eocd + 4, as: UInt16.self)!, cdDisk = readLE(bytes, eocd + 6, as: UInt16.self)!
    if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
      // ZIP64: a locator (20 bytes) precedes the end record and points at the ZIP64 end record.
      guard eocd >= 76, readLE(bytes, eocd - 20, as: UInt32.self) == 0x0706_4B50,
        let at64 = readLE(bytes, eocd - 12, as: UInt64.self), at64 <= UInt64(eocd - 20 - 56),
        readLE(bytes, Int(at64), as: UInt32.self) == 0x0606_4B50
      else { throw bad("missing or invalid ZIP64 end record") }
      let r = Int(at64)
      guard let c = readLE(bytes, r + 32, as: UInt64.self), let s = readLE(bytes, r + 40, as: UInt64.self),
        let o = readLE(bytes, r + 48, as: UInt64.self), c <= UInt64(n), s <= UInt64(n), o <= UInt64(n)
      else { throw bad("ZIP64 end record out of range") }
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
    var entries: [ZipEntry] = []
    entries.reserveCapacity(entryCount)
    var p = directoryOffset
    let limit = directoryOffset + directorySize
    var seen = Set<String>()
    for _ in 0..<entryCount {
      guard p + 46 <= limit, readLE(bytes, p, as: UInt32.self) == 0x0201_4B50 else {
        throw bad("bad central directory entry at offset \(p)")
      }
      let flags = readLE(bytes, p + 8, as: UInt16.self)!
      let method = readLE(bytes, p + 10, as: UInt16.self)!
      let crc = readLE(bytes, p + 16, as: UInt32.self)!
      var compressed = UInt64(readLE(bytes, p + 20, as: UInt32.self)!)
      var uncompressed = UInt64(readLE(bytes, p + 24, as: UInt32.self)!)
      let nameLength = Int(readLE(bytes, p + 28, as: UInt16.self)!)
      let extraLength = Int(readLE(bytes, p + 30, as: UInt16.self)!)
      let commentLength = Int(readLE(bytes, p + 32, as: UInt16.self)!)
      var offset = UInt64(readLE(bytes, p + 42, as: UInt32.self)!)
      let nameStart = p + 46
      guard nameStart + nameLength + extraLength + commentLength <= limit else { throw bad("entry at \(p) overruns") }
      let name = String(decoding: bytes[nameStart..<(nameStart + nameLength)], as: UTF8.self)
      // ZIP64 extended information (tag 0x0001): only the fields saturated in the fixed header, in this order.
      var e = nameStart + nameLength
      let extraEnd = e + extraLength
      while e + 4 <= extraEnd {
        let tag = readLE(bytes, e, as: UInt16.self)!
        let size = Int(readLE(bytes, e + 2, as: UInt16.self)!)
        guard e + 4 + size <= extraEnd else { throw bad("extra field overruns in entry '\(name)'") }
        if tag == 0x0001 {
          var q = e + 4
          func next() throws -> UInt64 {
            guard q + 8 <= e + 4 + size else { throw bad("short ZIP64 field in entry '\(name)'") }
            defer { q += 8 }
            return readLE(bytes, q, as: UInt64.self)!
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
    self.entries = entries
  }

  /// The entry with the given name.
  public func entry(named name: String) -> ZipEntry? { entries.first { $0.name == name } }

  /// The uncompressed content of an entry, checked against its CRC-32.
  public func extract(_ entry: ZipEntry) throws -> [UInt8] {
    let label = "\(source)[\(entry.name)]"
    func bad(_ r: String) -> FileFormatError { .malformed(path: label, format: .zip, reason: r) }
    guard entry.flags & 1 == 0 else {
      throw FileFormatError.unsupported(path: label, format: .zip, feature: "encrypted members")
    }
    let h = entry.localHeaderOffset
    guard readLE(bytes, h, as: UInt32.self) == 0x0403_4B50, let nameLength = readLE(bytes, h + 26, as: UInt16.self),
      let extraLength = readLE(bytes, h + 28, as: UInt16.self)
    else { throw bad("bad local header at offset \(h)") }
    let start = h + 30 + Int(nameLength) + Int(extraLength)
    guard start <= bytes.count, entry.compressedSize <= bytes.count - start else {
      throw FileFormatError.truncated(path: label, format: .zip, reason: "member data runs past the end of the file")
    }
    let data: [UInt8]
    switch entry.method {
    case 0:
      guard entry.compressedSize == entry.uncompressedSize else { throw bad("stored member sizes differ") }
      data = Array(bytes[start..<(start + entry.compressedSize)])
    case 8:
      data = try bytes.withUnsafeBytes { raw in
        try Inflate.decompress(
          UnsafeRawBufferPointer(rebasing: raw[start..<(start + entry.compressedSize)]),
          outputSize: entry.uncompressedSize, source: label)
      }
    default:
      throw FileFormatError.unsupported(path: label, format: .zip, feature: "compression method \(entry.method)")
    }
    let crc = CRC32.checksum(data)
    guard crc == entry.crc32 else {
      throw bad("CRC-32 mismatch (stored \(hex(entry.crc32)), computed \(hex(crc)))")
    }
    return data
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

// CRC-32 as used by zip and gzip, computed by the system zlib.

internal import CZlib

/// CRC-32 with the reflected polynomial 0xEDB88320 (ISO 3309 / ITU-T V.42; RFC 1952 section 8), computed by
/// zlib's `crc32_z`. `CRC32.checksum(Array("123456789".utf8)) == 0xCBF43926`.
public enum CRC32 {
  /// Continues a running checksum (start from 0) over `bytes`.
  public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
    return UInt32(truncatingIfNeeded: crc32_z(UInt(crc), base.assumingMemoryBound(to: UInt8.self), bytes.count))
  }

  /// The checksum of `bytes`.
  public static func checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { update(0, $0) }
  }
}

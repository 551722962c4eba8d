// Bounds-checked little/big-endian reads from a byte buffer, and element conversions to Float.

/// Little-endian integer read at `offset`; the caller has checked the bounds.
@inline(__always)
func loadLE<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ offset: Int, as: T.Type) -> T {
  T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
}

/// Little-endian integer read at `offset` of an array, nil when out of bounds.
func readLE<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type) -> T? {
  guard offset >= 0, offset <= bytes.count - MemoryLayout<T>.size else { return nil }
  return bytes.withUnsafeBytes { loadLE($0, offset, as: T.self) }
}

/// Appends `value` little-endian.
func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
  withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
}

/// IEEE 754 binary16 bits to Float (exact: every half value is a float).
@inline(__always)
func floatFromHalfBits(_ h: UInt16) -> Float {
  let sign = UInt32(h & 0x8000) << 16
  let exponent = Int((h >> 10) & 0x1F)
  let mantissa = UInt32(h & 0x3FF)
  if exponent == 0x1F {  // Inf or NaN
    return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
  }
  if exponent == 0 {  // zero or subnormal: mantissa · 2^-24
    let magnitude = Float(mantissa) * 0x1p-24
    return sign != 0 ? -magnitude : magnitude
  }
  return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}

/// bfloat16 bits to Float (the upper half of a float).
@inline(__always)
func floatFromBFloat16Bits(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

/// The scalar element types of stored arrays.
public enum ElementType: Sendable, Equatable, CustomStringConvertible {
  case float16, bfloat16, float32, float64
  case int8, int16, int32, int64
  case uint8, uint16, uint32, uint64
  case bool

  /// Bytes per element.
  public var size: Int {
    switch self {
    case .int8, .uint8, .bool: return 1
    case .float16, .bfloat16, .int16, .uint16: return 2
    case .float32, .int32, .uint32: return 4
    case .float64, .int64, .uint64: return 8
    }
  }

  public var description: String {
    switch self {
    case .float16: return "float16"
    case .bfloat16: return "bfloat16"
    case .float32: return "float32"
    case .float64: return "float64"
    case .int8: return "int8"
    case .int16: return "int16"
    case .int32: return "int32"
    case .int64: return "int64"
    case .uint8: return "uint8"
    case .uint16: return "uint16"
    case .uint32: return "uint32"
    case .uint64: return "uint64"
    case .bool: return "bool"
    }
  }

  /// Converts `count` elements stored at `source` (with the given byte order) to Float, into `out`.
  func convert(
    _ source: UnsafeRawBufferPointer, count: Int, bigEndian: Bool, into out: UnsafeMutableBufferPointer<Float>
  ) {
    @inline(__always) func u16(_ i: Int) -> UInt16 {
      let v = source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
      return bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
    }
    @inline(__always) func u32(_ i: Int) -> UInt32 {
      let v = source.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
      return bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
    }
    @inline(__always) func u64(_ i: Int) -> UInt64 {
      let v = source.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
      return bigEndian ? UInt64(bigEndian: v) : UInt64(littleEndian: v)
    }
    switch self {
    case .float16: for i in 0..<count { out[i] = floatFromHalfBits(u16(i)) }
    case .bfloat16: for i in 0..<count { out[i] = floatFromBFloat16Bits(u16(i)) }
    case .float32: for i in 0..<count { out[i] = Float(bitPattern: u32(i)) }
    case .float64: for i in 0..<count { out[i] = Float(Double(bitPattern: u64(i))) }
    case .int8: for i in 0..<count { out[i] = Float(Int8(bitPattern: source[i])) }
    case .uint8: for i in 0..<count { out[i] = Float(source[i]) }
    case .bool: for i in 0..<count { out[i] = source[i] != 0 ? 1 : 0 }
    case .int16: for i in 0..<count { out[i] = Float(Int16(bitPattern: u16(i))) }
    case .uint16: for i in 0..<count { out[i] = Float(u16(i)) }
    case .int32: for i in 0..<count { out[i] = Float(Int32(bitPattern: u32(i))) }
    case .uint32: for i in 0..<count { out[i] = Float(u32(i)) }
    case .int64: for i in 0..<count { out[i] = Float(Int64(bitPattern: u64(i))) }
    case .uint64: for i in 0..<count { out[i] = Float(u64(i)) }
    }
  }

  /// Decodes `count` elements at `source` into a new Float array.
  func decode(_ source: UnsafeRawBufferPointer, count: Int, bigEndian: Bool) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { buffer, n in
      if self == .float32 && bigEndian == (1.bigEndian == 1), count > 0 {
        // Stored in the host's byte order: a plain copy.
        UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<(count * 4)]))
      } else {
        convert(source, count: count, bigEndian: bigEndian, into: buffer)
      }
      n = count
    }
  }
}

// A DEFLATE decoder (RFC 1951): stored, fixed-Huffman and dynamic-Huffman blocks.

/// Decompresses raw DEFLATE data (RFC 1951, no zlib or gzip wrapper).
///
/// The output size must be known in advance (zip records it); the decoder writes into a buffer of exactly that
/// size and fails if the stream would produce more or less. Since one DEFLATE bit can produce at most 258 bytes
/// (a length-258 match coded in the minimum of 1 + 1 bits), a declared size above `258 * 8 / 2 + 1` ≈ 1032
/// times the input size is rejected up front, so hostile input cannot cause a large allocation.
///
/// Huffman codes are decoded with one lookup table per code, indexed by the next `maxLength` bits (bit-reversed
/// canonical codes, RFC 1951 section 3.2.2).
public enum Inflate {
  /// The largest output one input byte can justify.
  static let maximumRatio = 1032

  /// Decodes `input` into exactly `outputSize` bytes.
  public static func decompress(_ input: UnsafeRawBufferPointer, outputSize: Int, source: String = "<memory>")
    throws -> [UInt8]
  {
    func bad(_ reason: String) -> FileFormatError { .malformed(path: source, format: .deflate, reason: reason) }
    guard outputSize >= 0, outputSize <= input.count * maximumRatio + 1024 else {
      throw bad("declared size \(outputSize) is impossible for \(input.count) compressed bytes")
    }
    return try [UInt8](unsafeUninitializedCapacity: outputSize) { out, count in
      var state = InflateState(input: input, output: out, source: source)
      defer { count = state.written }
      try state.run()
      guard state.written == outputSize else {
        throw bad("stream produced \(state.written) bytes, expected \(outputSize)")
      }
    }
  }

  /// Convenience for arrays.
  public static func decompress(_ input: [UInt8], outputSize: Int, source: String = "<memory>") throws -> [UInt8] {
    try input.withUnsafeBytes { try decompress($0, outputSize: outputSize, source: source) }
  }
}

/// A canonical Huffman code as a lookup table: entry = symbol << 4 | length, 0 for an unused bit pattern.
struct HuffmanTable {
  var table: [UInt16]
  var maxLength: Int

  /// Builds the table from code lengths (0 = symbol unused). Over-subscribed codes are rejected; incomplete
  /// codes are allowed, and decoding an unassigned pattern is an error.
  init(lengths: [UInt8], source: String) throws {
    var counts = [Int](repeating: 0, count: 16)
    for l in lengths { counts[Int(l)] += 1 }
    counts[0] = 0
    var left = 1
    for len in 1...15 {
      left <<= 1
      left -= counts[len]
      guard left >= 0 else {
        throw FileFormatError.malformed(path: source, format: .deflate, reason: "over-subscribed Huffman code")
      }
    }
    maxLength = (1...15).last { counts[$0] > 0 } ?? 0
    table = [UInt16](repeating: 0, count: 1 << maxLength)
    var next = [Int](repeating: 0, count: 16)
    var code = 0
    for len in 1...15 {
      code = (code + counts[len - 1]) << 1
      next[len] = code
    }
    for (symbol, l) in lengths.enumerated() where l > 0 {
      let len = Int(l)
      let c = next[len]
      next[len] += 1
      var reversed = 0
      for b in 0..<len where c & (1 << b) != 0 { reversed |= 1 << (len - 1 - b) }
      let entry = UInt16(symbol << 4 | len)
      var k = reversed
      while k < table.count {
        table[k] = entry
        k += 1 << len
      }
    }
  }

  static let fixedLiterals: HuffmanTable = try! HuffmanTable(
    lengths: (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 }, source: "")
  static let fixedDistances: HuffmanTable = try! HuffmanTable(lengths: [UInt8](repeating: 5, count: 30), source: "")
}

struct InflateState {
  let input: UnsafeRawBufferPointer
  let output: UnsafeMutableBufferPointer<UInt8>
  let source: String
  var position = 0
  var bitBuffer: UInt64 = 0
  var bitCount = 0
  /// Zero bytes appended past the end of the input; consuming any of their bits means the input is truncated.
  var padding = 0
  var written = 0

  init(input: UnsafeRawBufferPointer, output: UnsafeMutableBufferPointer<UInt8>, source: String) {
    self.input = input
    self.output = output
    self.source = source
  }

  func bad(_ reason: String) -> FileFormatError { .malformed(path: source, format: .deflate, reason: reason) }

  @inline(__always) mutating func fill(_ n: Int) {
    if bitCount >= n { return }
    if position + 8 <= input.count {
      // Top up to at least 56 bits with one unaligned load.
      let word = UInt64(littleEndian: input.loadUnaligned(fromByteOffset: position, as: UInt64.self))
      let take = (63 - bitCount) >> 3
      bitBuffer |= (word & ((1 << UInt64(take * 8)) - 1)) << UInt64(bitCount)
      position += take
      bitCount += take * 8
      return
    }
    while bitCount < n {
      if position < input.count {
        bitBuffer |= UInt64(input[position]) << UInt64(bitCount)
        position += 1
      } else {
        padding += 1
      }
      bitCount += 8
    }
  }

  @inline(__always) mutating func consume(_ n: Int) throws {
    bitBuffer >>= UInt64(n)
    bitCount -= n
    if padding > 0, padding * 8 > bitCount {
      throw FileFormatError.truncated(path: source, format: .deflate, reason: "the compressed stream ends early")
    }
  }

  @inline(__always) mutating func bits(_ n: Int) throws -> Int {
    fill(n)
    let v = Int(bitBuffer & ((1 << UInt64(n)) - 1))
    try consume(n)
    return v
  }

  @inline(__always) mutating func decode(_ h: HuffmanTable) throws -> Int {
    guard h.maxLength > 0 else { throw bad("a symbol from an empty Huffman code") }
    fill(h.maxLength)
    let entry = Int(h.table[Int(bitBuffer & ((1 << UInt64(h.maxLength)) - 1))])
    let len = entry & 15
    guard len > 0 else { throw bad("invalid Huffman code") }
    try consume(len)
    return entry >> 4
  }

  mutating func run() throws {
    var last = false
    while !last {
      last = try bits(1) == 1
      switch try bits(2) {
      case 0: try storedBlock()
      case 1: try huffmanBlock(HuffmanTable.fixedLiterals, HuffmanTable.fixedDistances)
      case 2:
        let (lit, dist) = try dynamicTables()
        try huffmanBlock(lit, dist)
      default: throw bad("reserved block type 3")
      }
    }
  }

  mutating func storedBlock() throws {
    _ = try bits(bitCount % 8)  // skip to a byte boundary
    let buffered = bitCount / 8 - padding
    guard buffered >= 0 else {
      throw FileFormatError.truncated(path: source, format: .deflate, reason: "the compressed stream ends early")
    }
    position -= buffered  // give whole buffered bytes back to the input
    bitBuffer = 0
    bitCount = 0
    padding = 0
    guard input.count - position >= 4 else {
      throw FileFormatError.truncated(path: source, format: .deflate, reason: "stored block header cut off")
    }
    let len = Int(input[position]) | Int(input[position + 1]) << 8
    let nlen = Int(input[position + 2]) | Int(input[position + 3]) << 8
    position += 4
    guard len == (~nlen & 0xFFFF) else { throw bad("stored block length check failed") }
    guard input.count - position >= len else {
      throw FileFormatError.truncated(path: source, format: .deflate, reason: "stored block cut off")
    }
    guard output.count - written >= len else { throw bad("output exceeds the declared size") }
    for k in 0..<len { output[written + k] = input[position + k] }
    written += len
    position += len
  }

  static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

  mutating func dynamicTables() throws -> (HuffmanTable, HuffmanTable) {
    let hlit = try bits(5) + 257
    let hdist = try bits(5) + 1
    let hclen = try bits(4) + 4
    guard hlit <= 286, hdist <= 30 else { throw bad("too many length or distance codes") }
    var clLengths = [UInt8](repeating: 0, count: 19)
    for k in 0..<hclen { clLengths[Self.codeLengthOrder[k]] = UInt8(try bits(3)) }
    let cl = try HuffmanTable(lengths: clLengths, source: source)
    var lengths: [UInt8] = []
    lengths.reserveCapacity(hlit + hdist)
    while lengths.count < hlit + hdist {
      let symbol = try decode(cl)
      var repeatValue: UInt8 = 0
      var repeatCount = 0
      switch symbol {
      case 0..<16: lengths.append(UInt8(symbol)); continue
      case 16:
        guard let previous = lengths.last else { throw bad("length repeat with no previous length") }
        repeatValue = previous
        repeatCount = 3 + (try bits(2))
      case 17: repeatCount = 3 + (try bits(3))
      default: repeatCount = 11 + (try bits(7))
      }
      guard lengths.count + repeatCount <= hlit + hdist else { throw bad("code lengths overflow the table") }
      lengths.append(contentsOf: repeatElement(repeatValue, count: repeatCount))
    }
    guard lengths[256] > 0 else { throw bad("no end-of-block code") }
    return (try HuffmanTable(lengths: Array(lengths[0..<hlit]), source: source),
            try HuffmanTable(lengths: Array(lengths[hlit...]), source: source))
  }

  static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83,
                                  99, 115, 131, 163, 195, 227, 258]
  static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
  static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                                    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
  static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11,
                                     12, 12, 13, 13]

  mutating func huffmanBlock(_ literals: HuffmanTable, _ distances: HuffmanTable) throws {
    while true {
      let symbol = try decode(literals)
      if symbol < 256 {
        guard written < output.count else { throw bad("output exceeds the declared size") }
        output[written] = UInt8(symbol)
        written += 1
        continue
      }
      if symbol == 256 { return }
      let li = symbol - 257
      guard li < 29 else { throw bad("invalid length symbol \(symbol)") }
      let length = Self.lengthBase[li] + (try bits(Self.lengthExtra[li]))
      let di = try decode(distances)
      guard di < 30 else { throw bad("invalid distance symbol \(di)") }
      let distance = Self.distanceBase[di] + (try bits(Self.distanceExtra[di]))
      guard distance <= written else { throw bad("distance \(distance) reaches before the start of the output") }
      guard output.count - written >= length else { throw bad("output exceeds the declared size") }
      let base = output.baseAddress!
      if distance >= length {
        (base + written).update(from: base + written - distance, count: length)
        written += length
      } else {
        var from = written - distance
        for _ in 0..<length {  // byte by byte: source and destination overlap
          base[written] = base[from]
          written += 1
          from += 1
        }
      }
    }
  }
}

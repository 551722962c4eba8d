// Raw DEFLATE (RFC 1951, no zlib or gzip wrapper) through the system zlib: decompression of zip members with
// a known output size, and compression for writing them.

internal import CZlib

/// The zlib version this module was compiled against (checked by zlib against the linked library).
private let zlibHeaderVersion = ZLIB_VERSION

/// zlib's message for the last error of `stream`, or `fallback`.
private func zlibMessage(_ stream: UnsafeMutablePointer<z_stream>, _ fallback: String) -> String {
  stream.pointee.msg.map { String(cString: $0) } ?? fallback
}

/// Decompresses raw DEFLATE data (RFC 1951) with zlib's `inflate` (window bits −15: no header, no trailer).
///
/// The output size must be known in advance (zip records it) and is never trusted: a declared size above
/// `maximumRatio` times the compressed size (one DEFLATE bit can produce at most 258 bytes — a length-258 match
/// coded in 1 + 1 bits — so `258 · 8 / 2 + 1` ≈ 1032 bytes per input byte) or above `maximumOutputSize` is
/// refused up front; the first output buffer holds at most `initialExpansion` times the compressed size (at
/// least 64 KiB) and grows by doubling, capped by the declared size, only while the stream keeps producing
/// bytes (a buffer of c bytes is replaced by one of 2c only once the stream has filled it). So a lying header
/// costs memory proportional to what the stream really expands to — at most three times it, while a full
/// buffer is copied into its successor — and a stream that produces more or fewer bytes than declared is an
/// error.
public enum Inflate {
  /// The largest output one input byte can justify.
  public static let maximumRatio = 1032
  /// The largest output size accepted at all (1 TiB, beyond any memory; keeps the size arithmetic far from
  /// overflow).
  public static let maximumOutputSize = 1 << 40
  /// The first output buffer holds at most this many bytes per compressed byte (float data compresses by far
  /// less, so it is decoded in place without regrowing).
  static let initialExpansion = 4

  /// Decodes `input` into exactly `outputSize` bytes.
  public static func decompress(_ input: UnsafeRawBufferPointer, outputSize: Int, source: String = "<memory>")
    throws -> [UInt8]
  {
    func bad(_ reason: String) -> FileFormatError { .malformed(path: source, format: .deflate, reason: reason) }
    return try withInflater(inputSize: input.count, outputSize: outputSize, source: source) { stream in
      var handed = 0
      var pump = InflatePump(stream: stream, source: source) {
        let piece = min(input.count - handed, Int(UInt32.max))
        defer { handed += piece }
        return UnsafeRawBufferPointer(rebasing: input[handed..<(handed + piece)])
      }
      var capacity = min(outputSize, max(1 << 16, input.count * initialExpansion))
      var output = try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
        count = 0
        try pump.run(into: buffer, written: &count)
      }
      while !pump.ended {
        guard capacity < outputSize else {
          try pump.probe(declaredSize: outputSize)  // throws unless the stream ends without more output
          break
        }
        capacity = min(outputSize, 2 * capacity)
        let previous = output
        output = try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
          count = 0
          previous.withUnsafeBufferPointer { old in
            if let from = old.baseAddress, let to = buffer.baseAddress { to.update(from: from, count: old.count) }
          }
          count = previous.count
          try pump.run(into: buffer, written: &count)
        }
      }
      guard output.count == outputSize else {
        throw bad("stream produced \(output.count) bytes, expected \(outputSize)")
      }
      return output
    }
  }

  /// A raw-DEFLATE zlib stream for `inputSize` compressed bytes that must decode to `outputSize` bytes: refuses
  /// a declared size no DEFLATE stream of that length can produce, then runs `body` with the initialized stream
  /// and releases it.
  static func withInflater<R>(
    inputSize: Int, outputSize: Int, source: String, _ body: (UnsafeMutablePointer<z_stream>) throws -> R
  ) throws -> R {
    guard outputSize >= 0, outputSize <= maximumOutputSize, outputSize <= inputSize * maximumRatio + 1024 else {
      throw FileFormatError.malformed(
        path: source, format: .deflate,
        reason: "declared size \(outputSize) is impossible for \(inputSize) compressed bytes")
    }
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    defer {
      stream.deinitialize(count: 1)
      stream.deallocate()
    }
    let status = inflateInit2_(stream, -15, zlibHeaderVersion, Int32(MemoryLayout<z_stream>.size))
    guard status == Z_OK else {
      throw FileFormatError.io(
        path: source, operation: "inflateInit2", reason: zlibMessage(stream, "zlib error \(status)"))
    }
    defer { inflateEnd(stream) }
    return try body(stream)
  }

  /// Convenience for arrays.
  public static func decompress(_ input: [UInt8], outputSize: Int, source: String = "<memory>") throws -> [UInt8] {
    try input.withUnsafeBytes { try decompress($0, outputSize: outputSize, source: source) }
  }

  /// Streams the decoded bytes of `inputSize` compressed bytes, which `refill` hands over piece by piece
  /// (each piece at most 4 GiB and valid until the next call; an empty piece at the end), into buffers the
  /// caller provides (and has sized from the declared `outputSize`, so it is responsible for bounding them):
  /// `body` gets a function that fills the next `buffer.count` bytes of output and throws when the stream ends
  /// before them. After `body`, exactly `outputSize` bytes must have been delivered and the stream must end
  /// there.
  static func withStream<R>(
    inputSize: Int, refill: @escaping () throws -> UnsafeRawBufferPointer, outputSize: Int, source: String,
    _ body: (_ next: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> R
  ) throws -> R {
    func bad(_ reason: String) -> FileFormatError { .malformed(path: source, format: .deflate, reason: reason) }
    return try withInflater(inputSize: inputSize, outputSize: outputSize, source: source) { stream in
      var pump = InflatePump(stream: stream, source: source, refill: refill)
      var delivered = 0
      let result = try body { buffer in
        guard buffer.count > 0 else { return }
        guard buffer.count <= outputSize - delivered, !pump.ended else {
          throw bad("stream produced \(delivered) bytes, expected \(outputSize)")
        }
        var written = 0
        try pump.run(into: buffer.assumingMemoryBound(to: UInt8.self), written: &written)
        delivered += written
        guard written == buffer.count else { throw bad("stream produced \(delivered) bytes, expected \(outputSize)") }
      }
      guard delivered == outputSize else { throw bad("stream produced \(delivered) bytes, expected \(outputSize)") }
      if !pump.ended { try pump.probe(declaredSize: outputSize) }
      return result
    }
  }
}

/// Feeds the input to an initialized inflate stream in the pieces `refill` returns (at most 4 GiB each: zlib
/// counts in 32 bits; empty at the end).
private struct InflatePump {
  let stream: UnsafeMutablePointer<z_stream>
  let source: String
  let refill: () throws -> UnsafeRawBufferPointer
  /// Whether `refill` has returned its empty last piece.
  var exhausted = false
  /// Whether zlib reported the end of the final block.
  var ended = false

  init(stream: UnsafeMutablePointer<z_stream>, source: String, refill: @escaping () throws -> UnsafeRawBufferPointer) {
    self.stream = stream
    self.source = source
    self.refill = refill
  }

  /// For a stream that filled the declared size without ending: decodes into a scratch byte to tell a stream
  /// that goes on (more output than declared) from one that is cut off, and throws accordingly; returns when
  /// the stream ends there.
  mutating func probe(declaredSize: Int) throws {
    var scratch: UInt8 = 0
    var produced = 0
    try withUnsafeMutablePointer(to: &scratch) { byte in
      try run(into: UnsafeMutableBufferPointer(start: byte, count: 1), written: &produced)
    }
    guard produced == 0 else {
      throw FileFormatError.malformed(
        path: source, format: .deflate, reason: "output exceeds the declared size \(declaredSize)")
    }
  }

  /// Inflates into `buffer[written...]` until the stream ends or the buffer is full; `written` counts the
  /// initialized bytes of `buffer` at every exit, thrown errors included.
  mutating func run(into buffer: UnsafeMutableBufferPointer<UInt8>, written: inout Int) throws {
    var dummy: UInt8 = 0  // zlib wants a non-null output pointer even for an empty buffer
    while true {
      if stream.pointee.avail_in == 0, !exhausted {
        let piece = try refill()
        if let base = piece.baseAddress, piece.count > 0 {
          stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
          stream.pointee.avail_in = UInt32(piece.count)
        } else {
          exhausted = true
        }
      }
      let room = min(buffer.count - written, Int(UInt32.max))
      let status = withUnsafeMutablePointer(to: &dummy) { dummy -> Int32 in
        stream.pointee.next_out = buffer.baseAddress.map { $0 + written } ?? dummy
        stream.pointee.avail_out = UInt32(room)
        return inflate(stream, Z_NO_FLUSH)
      }
      written += room - Int(stream.pointee.avail_out)
      stream.pointee.next_out = nil
      switch status {
      case Z_STREAM_END:
        ended = true
        return
      case Z_OK:
        continue
      case Z_BUF_ERROR:  // no progress possible: the output is full or the input is exhausted
        if written == buffer.count { return }
        throw FileFormatError.truncated(path: source, format: .deflate, reason: "the compressed stream ends early")
      case Z_MEM_ERROR:
        throw FileFormatError.io(path: source, operation: "inflate", reason: "out of memory")
      default:  // Z_DATA_ERROR (invalid stream), Z_NEED_DICT (impossible for raw DEFLATE), Z_STREAM_ERROR
        throw FileFormatError.malformed(
          path: source, format: .deflate, reason: zlibMessage(stream, "zlib error \(status)"))
      }
    }
  }
}

/// Compresses bytes to raw DEFLATE (RFC 1951) with zlib's `deflate` (window bits −15, memory level 8, the
/// default strategy), the encoding of zip's method 8 and of `numpy.savez_compressed`.
public enum Deflate {
  /// zlib's default level, which `numpy.savez_compressed` (Python's zipfile) also uses.
  public static let defaultLevel = 6

  /// The raw DEFLATE stream of `input` at `level` (0 = stored blocks … 9 = smallest).
  public static func compress(_ input: UnsafeRawBufferPointer, level: Int = defaultLevel, source: String = "<memory>")
    throws -> [UInt8]
  {
    guard (0...9).contains(level) else {
      throw FileFormatError.invalidArgument(path: source, reason: "DEFLATE level \(level) is not in 0...9")
    }
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    defer {
      stream.deinitialize(count: 1)
      stream.deallocate()
    }
    let status = deflateInit2_(
      stream, Int32(level), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, zlibHeaderVersion,
      Int32(MemoryLayout<z_stream>.size))
    guard status == Z_OK else {
      throw FileFormatError.io(
        path: source, operation: "deflateInit2", reason: zlibMessage(stream, "zlib error \(status)"))
    }
    defer { deflateEnd(stream) }
    // deflateBound: the worst case of one pass ending in Z_FINISH (stored blocks plus their headers).
    let bound = Int(deflateBound(stream, UInt(input.count)))
    var failure: FileFormatError?
    let output = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
      count = 0
      var handed = 0
      while true {
        if stream.pointee.avail_in == 0, handed < input.count, let base = input.baseAddress {
          let piece = min(input.count - handed, Int(UInt32.max))
          stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self) + handed)
          stream.pointee.avail_in = UInt32(piece)
          handed += piece
        }
        guard let out = buffer.baseAddress else { return }  // unreachable: the bound is at least a few bytes
        let room = min(buffer.count - count, Int(UInt32.max)), pending = stream.pointee.avail_in
        stream.pointee.next_out = out + count
        stream.pointee.avail_out = UInt32(room)
        let result = deflate(stream, handed == input.count ? Z_FINISH : Z_NO_FLUSH)
        let produced = room - Int(stream.pointee.avail_out)
        count += produced
        if result == Z_STREAM_END { return }
        // Z_BUF_ERROR means "no progress"; within deflateBound's room that cannot persist.
        let stalled = result == Z_BUF_ERROR && produced == 0 && stream.pointee.avail_in == pending
          && handed == input.count
        if (result != Z_OK && result != Z_BUF_ERROR) || stalled {
          failure = .io(path: source, operation: "deflate", reason: zlibMessage(stream, "zlib error \(result)"))
          return
        }
      }
    }
    if let failure { throw failure }
    return output
  }

  /// Convenience for arrays.
  public static func compress(_ input: [UInt8], level: Int = defaultLevel, source: String = "<memory>") throws
    -> [UInt8]
  {
    try input.withUnsafeBytes { try compress($0, level: level, source: source) }
  }
}

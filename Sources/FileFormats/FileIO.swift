// Whole-file reads and crash-safe (atomic) writes with POSIX calls.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The text of `errno`.
func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Reading whole files into memory.
public enum FileIO {
  /// The size of the file at `path` in bytes.
  public static func size(of path: String) throws -> Int {
    var st = stat()
    guard stat(path, &st) == 0 else {
      let code = errno
      if code == ENOENT { throw FileFormatError.fileNotFound(path: path) }
      throw FileFormatError.io(path: path, operation: "stat", reason: errnoText(code))
    }
    return Int(st.st_size)
  }

  /// All bytes of the file at `path`. Reads at most the size reported by `fstat` (plus nothing more), so the
  /// allocation is what the file on disk justifies.
  public static func readAll(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
      let code = errno
      if code == ENOENT { throw FileFormatError.fileNotFound(path: path) }
      throw FileFormatError.io(path: path, operation: "open", reason: errnoText(code))
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      throw FileFormatError.io(path: path, operation: "stat", reason: errnoText())
    }
    if (st.st_mode & S_IFMT) == S_IFDIR {
      throw FileFormatError.io(path: path, operation: "read", reason: "is a directory")
    }
    let size = Int(st.st_size)
    var failure: FileFormatError?
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
      var done = 0
      while done < size {
        let n = read(fd, buffer.baseAddress! + done, size - done)
        if n < 0 {
          if errno == EINTR { continue }
          failure = .io(path: path, operation: "read", reason: errnoText())
          break
        }
        if n == 0 { break }  // the file shrank while reading
        done += n
      }
      count = done
    }
    if let failure { throw failure }
    return bytes
  }

  /// Bytes `offset ..< offset + count` of the file at `path` (for reading row ranges of large files).
  public static func readBytes(_ path: String, offset: Int, count: Int) throws -> [UInt8] {
    try [UInt8](unsafeUninitializedCapacity: count) { buffer, got in
      got = 0
      try fill(UnsafeMutableRawBufferPointer(buffer), from: path, offset: offset)
      got = count
    }
  }

  /// Fills `buffer` with the bytes of the file at `path` from `offset` on (throws if the file ends first).
  static func fill(_ buffer: UnsafeMutableRawBufferPointer, from path: String, offset: Int) throws {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
      let code = errno
      if code == ENOENT { throw FileFormatError.fileNotFound(path: path) }
      throw FileFormatError.io(path: path, operation: "open", reason: errnoText(code))
    }
    defer { close(fd) }
    var done = 0
    while done < buffer.count {
      let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
      if n < 0 {
        if errno == EINTR { continue }
        throw FileFormatError.io(path: path, operation: "read", reason: errnoText())
      }
      if n == 0 {
        throw FileFormatError.io(path: path, operation: "read", reason: "file ended at byte \(offset + done)")
      }
      done += n
    }
  }
}

/// A file being written atomically: bytes go to a hidden temporary file in the destination's directory, and
/// `commit()` flushes it to disk (`fsync`), renames it over the destination and syncs the directory. Readers
/// therefore see either the old file or the complete new one, never partial output. A writer that is neither
/// committed nor aborted removes its temporary file when it is deallocated.
///
/// Reference: the write–fsync–rename protocol (POSIX `rename(2)` is atomic within one file system).
public final class AtomicFileWriter {
  public let path: String
  let temporaryPath: String
  private var fd: Int32
  private var finished = false

  /// Creates the temporary file next to `path` (mode 0666 minus the umask).
  public init(path: String) throws {
    self.path = path
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[..<$0]) } ?? "."
    let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
    guard !base.isEmpty else {
      throw FileFormatError.invalidArgument(path: path, reason: "the path names a directory")
    }
    var rng = SystemRandomNumberGenerator()
    var attempt = 0
    while true {
      let suffix = String(rng.next() & 0xFFFF_FFFF_FFFF, radix: 36)
      let candidate = (directory.isEmpty ? "" : directory + "/") + "." + base + ".tmp-" + suffix
      let d = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0o666)
      if d >= 0 {
        fd = d
        temporaryPath = candidate
        return
      }
      let code = errno
      attempt += 1
      if code != EEXIST || attempt > 100 {
        throw FileFormatError.io(path: path, operation: "create temporary file", reason: errnoText(code))
      }
    }
  }

  deinit { abort() }

  /// Appends bytes.
  public func write(_ bytes: UnsafeRawBufferPointer) throws {
    precondition(!finished, "write after commit or abort")
    var done = 0
    while done < bytes.count {
      let n = Glibc_write(fd, bytes.baseAddress! + done, bytes.count - done)
      if n < 0 {
        if errno == EINTR { continue }
        let reason = errnoText()
        abort()
        throw FileFormatError.io(path: path, operation: "write", reason: reason)
      }
      done += n
    }
  }

  /// Appends bytes.
  public func write(_ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try write($0) }
  }

  /// Appends the UTF-8 bytes of `text`.
  public func write(_ text: String) throws {
    var copy = text
    try copy.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
  }

  /// Flushes, renames the temporary file over `path` and syncs the directory.
  public func commit() throws {
    precondition(!finished, "commit after commit or abort")
    if fsync(fd) != 0 {
      let reason = errnoText()
      abort()
      throw FileFormatError.io(path: path, operation: "fsync", reason: reason)
    }
    if close(fd) != 0 {
      let reason = errnoText()
      fd = -1
      abort()
      throw FileFormatError.io(path: path, operation: "close", reason: reason)
    }
    fd = -1
    if rename(temporaryPath, path) != 0 {
      let reason = errnoText()
      abort()
      throw FileFormatError.io(path: path, operation: "rename", reason: reason)
    }
    finished = true
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[..<$0]) } ?? "."
    let dfd = open(directory.isEmpty ? "/" : directory, O_RDONLY)
    if dfd >= 0 {
      _ = fsync(dfd)  // best effort: some file systems refuse fsync on directories
      close(dfd)
    }
  }

  /// Discards the temporary file; the destination is untouched.
  public func abort() {
    if finished { return }
    finished = true
    if fd >= 0 { close(fd); fd = -1 }
    unlink(temporaryPath)
  }
}

/// `write(2)` under a name that does not clash with the method.
@inline(__always)
private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
  #if canImport(Darwin)
  return Darwin.write(fd, p, n)
  #elseif canImport(Glibc)
  return Glibc.write(fd, p, n)
  #else
  return Musl.write(fd, p, n)
  #endif
}

/// One-call atomic writes.
public enum AtomicFile {
  /// Writes `bytes` to `path` atomically (see `AtomicFileWriter`).
  public static func write(_ bytes: [UInt8], to path: String) throws {
    let writer = try AtomicFileWriter(path: path)
    try writer.write(bytes)
    try writer.commit()
  }

  /// Writes the UTF-8 text to `path` atomically.
  public static func write(_ text: String, to path: String) throws {
    let writer = try AtomicFileWriter(path: path)
    try writer.write(text)
    try writer.commit()
  }

  /// Streams content to `path` atomically: `body` receives the writer; if it throws, nothing is written.
  public static func write(to path: String, _ body: (AtomicFileWriter) throws -> Void) throws {
    let writer = try AtomicFileWriter(path: path)
    do {
      try body(writer)
    } catch {
      writer.abort()
      throw error
    }
    try writer.commit()
  }
}

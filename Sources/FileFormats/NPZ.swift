// NumPy .npz archives: a zip of .npy members ("theta.npy", "x.npy", ...), as written by numpy.savez and
// numpy.savez_compressed.

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
      let member = try zip.extract(entry)
      let label = "\(source)[\(entry.name)]"
      do {
        out[name] = try NPY.decode(member, source: label)
      } catch let e as FileFormatError {
        throw e.relabeled(label)
      }
    }
    return out
  }

  /// Reads the `.npz` file at `path`.
  public static func read(_ path: String) throws -> NamedArrays {
    try decode(FileIO.readAll(path), source: path)
  }

  /// Writes arrays as stored (uncompressed) `.npy` members to `path` atomically, in the given order; each
  /// member is encoded and written in turn, so peak memory is one member.
  public static func write(_ arrays: [(String, NDArray)], to path: String, as type: NPYStorageType = .float32) throws {
    try AtomicFile.write(to: path) { writer in
      var zip = ZipStoredWriter(path: path)
      for (name, array) in arrays {
        try zip.add(name: name + ".npy", data: NPY.encode(array, as: type), to: writer)
      }
      try zip.finish(to: writer)
    }
  }

  /// Writes named matrices (e.g. `[("theta", θ), ("x", x)]`) to `path` atomically.
  public static func write(_ matrices: [(String, Matrix)], to path: String, as type: NPYStorageType = .float32) throws {
    try write(matrices.map { ($0.0, NDArray($0.1)) }, to: path, as: type)
  }
}

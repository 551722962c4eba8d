// Reads the reference-posterior .npy files (NumPy format v1/v2, little-endian float32, C order, 2-D).

import Foundation
import NumericCore

/// A 2-D little-endian float32 C-order .npy file as a Matrix.
/// Format: magic "\x93NUMPY", version (2 bytes), header length (2 bytes in v1, 4 in v2), a Python-dict header with
/// 'descr', 'fortran_order' and 'shape', then the raw data.
func readReferenceNPY(_ url: URL) throws(TaskError) -> Matrix {
  guard let data = try? Data(contentsOf: url) else { throw .badDataFile(path: url.path, reason: "cannot read") }
  let bytes = [UInt8](data)
  guard bytes.count > 10, bytes[0] == 0x93, String(bytes: bytes[1..<6], encoding: .ascii) == "NUMPY" else {
    throw .badDataFile(path: url.path, reason: "not a .npy file")
  }
  let major = bytes[6]
  let headerLength: Int
  let headerStart: Int
  if major == 1 {
    headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    headerStart = 10
  } else {
    guard bytes.count > 12 else { throw .badDataFile(path: url.path, reason: "truncated header") }
    headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
    headerStart = 12
  }
  guard bytes.count >= headerStart + headerLength,
        let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .ascii)
  else { throw .badDataFile(path: url.path, reason: "truncated header") }
  guard header.contains("'<f4'"), header.contains("'fortran_order': False") else {
    throw .badDataFile(path: url.path, reason: "expected little-endian float32 in C order, header \(header)")
  }
  guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
    throw .badDataFile(path: url.path, reason: "no shape in header")
  }
  let dims = header[open.upperBound..<close].split(separator: ",").compactMap {
    Int($0.trimmingCharacters(in: .whitespaces))
  }
  guard dims.count == 2 else { throw .badDataFile(path: url.path, reason: "expected a 2-D array") }
  let offset = headerStart + headerLength
  let count = dims[0] * dims[1]
  guard bytes.count >= offset + 4 * count else { throw .badDataFile(path: url.path, reason: "truncated data") }
  var values = [Float](repeating: 0, count: count)
  for i in 0..<count {
    let o = offset + 4 * i
    let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
    values[i] = Float(bitPattern: bits)
  }
  return Matrix(rows: dims[0], cols: dims[1], storage: values)
}

// Reading simulations and observations from .npz / .npy / CSV files, and writing samples.

import CommandLineOptions
import DiffusionSBI
import Foundation

/// The lower-cased extension of a path.
func fileExtension(_ path: String) -> String { (path as NSString).pathExtension.lowercased() }

/// Refuses an output path whose extension is not one of `allowed`, and a missing parent directory, before
/// any work is done.
func checkOutputPath(_ path: String, allowed: [String], option: String) throws {
  guard allowed.contains(fileExtension(path)) else {
    throw InputError("\(path): \(option) must end in \(allowed.map { "." + $0 }.joined(separator: " or "))")
  }
  let parent = (path as NSString).deletingLastPathComponent
  var isDir: ObjCBool = false
  if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent, isDirectory: &isDir) || !isDir.boolValue {
    throw InputError("\(path): the directory \(parent) does not exist")
  }
}

/// A matrix from a .npy (1-D [D] is one row), .npz (its only array, or `member`) or CSV file with a header.
func readMatrix(_ path: String, member: String? = nil, oneDimensionalIsRow: Bool = true) throws -> Matrix {
  switch fileExtension(path) {
  case "npy":
    let a = try NPY.read(path)
    if a.rank == 1 && oneDimensionalIsRow { return Matrix(rows: 1, cols: a.shape[0], storage: a.data) }
    return try a.matrix(source: path)
  case "npz":
    let f = try NPZFile(path: path)
    let name = member ?? f.names.first
    guard let name, member != nil || f.names.count == 1 else {
      throw InputError("\(path): expected one array, found \(f.names.count) (\(f.names.joined(separator: ", ")))")
    }
    return try f.matrix(name)
  case "csv": return try CSV.read(path).matrix
  default: throw InputError("\(path): unsupported file type (use .npy, .npz or .csv)")
  }
}

/// One source of (θ, x) rows named on the command line.
struct SimulationFile {
  enum Kind {
    case npz(String)
    case npyPair(theta: String, x: String)
    case csv(String)
  }
  var kind: Kind
  var name: String {
    switch kind {
    case .npz(let p), .csv(let p): return p
    case .npyPair(let t, let x): return "\(t) + \(x)"
    }
  }

  /// Groups the --data arguments: .npz and .csv files stand alone; .npy files come in (θ, x) pairs.
  static func group(_ paths: [String]) throws -> [SimulationFile] {
    var out: [SimulationFile] = []
    var pending: String?
    for p in paths {
      switch fileExtension(p) {
      case "npz": out.append(SimulationFile(kind: .npz(p)))
      case "csv": out.append(SimulationFile(kind: .csv(p)))
      case "npy":
        if let t = pending {
          out.append(SimulationFile(kind: .npyPair(theta: t, x: p)))
          pending = nil
        } else { pending = p }
      default: throw InputError("\(p): unsupported data file type (use .npz, a pair of .npy files, or .csv)")
      }
    }
    if let p = pending { throw InputError("\(p): .npy data files come in pairs (theta file, then x file)") }
    return out
  }

  /// Row and column counts of θ and x, read from headers where possible; checks that the row counts agree.
  func shapes() throws -> (rows: Int, thetaCols: Int, xCols: Int) {
    func dims(_ shape: [Int], _ label: String) throws -> (Int, Int) {
      switch shape.count {
      case 1: return (shape[0], 1)
      case 2: return (shape[0], shape[1])
      default: throw InputError("\(label): expected a 2-D array [rows, columns], found shape \(shape)")
      }
    }
    switch kind {
    case .npz(let p):
      let f = try NPZFile(path: p)
      let (n, dt) = try dims(f.header("theta").shape, "\(p)[theta]")
      let (m, dx) = try dims(f.header("x").shape, "\(p)[x]")
      guard n == m else { throw InputError("\(p): theta has \(n) rows but x has \(m) rows") }
      return (n, dt, dx)
    case .npyPair(let t, let x):
      let (n, dt) = try dims(NPY.readHeader(t).shape, t)
      let (m, dx) = try dims(NPY.readHeader(x).shape, x)
      guard n == m else { throw InputError("\(t): theta has \(n) rows but \(x) has \(m) rows") }
      return (n, dt, dx)
    case .csv(let p):
      let (theta, x) = try load()
      _ = p
      return (theta.rows, theta.cols, x.cols)
    }
  }

  /// θ and x.
  func load() throws -> (Matrix, Matrix) {
    switch kind {
    case .npz(let p):
      let f = try NPZFile(path: p)
      return (try f.matrix("theta"), try f.matrix("x"))
    case .npyPair(let t, let x):
      let theta = try NPY.readMatrix(t), data = try NPY.readMatrix(x)
      guard theta.rows == data.rows else {
        throw InputError("\(t): theta has \(theta.rows) rows but \(x) has \(data.rows) rows")
      }
      return (theta, data)
    case .csv(let p):
      let table = try CSV.read(p)
      let t = table.names.indices.filter { table.names[$0].lowercased().hasPrefix("theta") }
      let x = table.names.indices.filter { table.names[$0].lowercased().hasPrefix("x") }
      guard !t.isEmpty, !x.isEmpty else {
        throw InputError("\(p): CSV needs columns named theta* and x* (found \(table.names.joined(separator: ", ")))")
      }
      return (table.matrix.columnsGathered(t), table.matrix.columnsGathered(x))
    }
  }
}

extension Matrix {
  /// The columns `indices`, in that order.
  func columnsGathered(_ indices: [Int]) -> Matrix {
    var out = Matrix(rows: rows, cols: indices.count)
    for i in 0..<rows { for (k, j) in indices.enumerated() { out[i, k] = self[i, j] } }
    return out
  }
}

/// Writes samples: one observation → [N, P]; several → [R, N, P] (.npy), or a CSV with an observation column.
func writeSamples(_ samples: [Matrix], to path: String) throws {
  guard let first = samples.first else { throw InputError("\(path): no samples to write") }
  let n = first.rows, p = first.cols
  switch fileExtension(path) {
  case "npy":
    if samples.count == 1 { try NPY.write(first, to: path); return }
    var data: [Float] = []
    data.reserveCapacity(samples.count * n * p)
    for s in samples { data += s.storage }
    try NPY.write(NDArray(shape: [samples.count, n, p], data: data), to: path)
  case "csv":
    if samples.count == 1 { try CSV.write(first, names: parameterNames(p), to: path); return }
    var m = Matrix(rows: samples.count * n, cols: p + 1)
    for (r, s) in samples.enumerated() {
      for i in 0..<n {
        m[r * n + i, 0] = Float(r + 1)
        for j in 0..<p { m[r * n + i, j + 1] = s[i, j] }
      }
    }
    try CSV.write(m, names: ["observation"] + parameterNames(p), to: path)
  default:
    throw InputError("\(path): unsupported output type (use .npy or .csv)")
  }
}

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

  /// Row count, θ columns and the shape of one data set ([d] for flat rows, [N, D] for x of shape [n, N, D],
  /// [H, W, C] for images [n, H, W, C]),
  /// read from headers where possible; checks that the row counts agree and that an `x_mask` fits x.
  func shapes() throws -> (rows: Int, thetaCols: Int, xShape: [Int]) {
    func dims(_ shape: [Int], _ label: String) throws -> (Int, Int) {
      switch shape.count {
      case 1: return (shape[0], 1)
      case 2: return (shape[0], shape[1])
      default: throw InputError("\(label): expected a 2-D array [rows, columns], found shape \(shape)")
      }
    }
    func dataShape(_ shape: [Int], _ label: String) throws -> (Int, [Int]) {
      switch shape.count {
      case 1: return (shape[0], [1])
      case 2: return (shape[0], [shape[1]])
      case 3: return (shape[0], [shape[1], shape[2]])
      case 4: return (shape[0], [shape[1], shape[2], shape[3]])
      default:
        throw InputError(
          "\(label): expected x of shape [n, D], [n, N, D] (sets, series or one-channel images) or [n, H, W, C] "
            + "(images), found shape \(shape)")
      }
    }
    switch kind {
    case .npz(let p):
      let f = try NPZFile(path: p)
      let (n, dt) = try dims(f.header("theta").shape, "\(p)[theta]")
      let (m, xs) = try dataShape(f.header("x").shape, "\(p)[x]")
      guard n == m else { throw InputError("\(p): theta has \(n) rows but x has \(m) rows") }
      if f.names.contains("x_mask") { try Self.checkMaskShape(f.header("x_mask").shape, rows: m, xShape: xs, path: p) }
      return (n, dt, xs)
    case .npyPair(let t, let x):
      let (n, dt) = try dims(NPY.readHeader(t).shape, t)
      let (m, xs) = try dataShape(NPY.readHeader(x).shape, x)
      guard n == m else { throw InputError("\(t): theta has \(n) rows but \(x) has \(m) rows") }
      return (n, dt, xs)
    case .csv:
      let (theta, x) = try load()
      return (theta.rows, theta.cols, [x.cols])
    }
  }

  static func checkMaskShape(_ shape: [Int], rows: Int, xShape: [Int], path: String) throws {
    guard xShape.count == 2 else {
      throw InputError("\(path): x_mask marks the items of x of shape [n, N, D], but x has shape \([rows] + xShape)")
    }
    guard shape == [rows, xShape[0]] else {
      throw InputError("\(path): x_mask has shape \(shape), expected [\(rows), \(xShape[0])] for x of shape [\(rows), \(xShape[0]), \(xShape[1])]")
    }
  }

  /// θ and x (one row per data set: items one after another; items that `x_mask` marks 0 become all-NaN padding).
  /// Without `padding` (no summary network to read it), an `x_mask` that marks padding is refused.
  func load(padding: Bool = true) throws -> (Matrix, Matrix) {
    switch kind {
    case .npz(let p):
      let f = try NPZFile(path: p)
      let theta = try f.matrix("theta"), xArray = try f.array("x")
      var x = try Self.flatRows(xArray, source: "\(p)[x]")
      if f.names.contains("x_mask") {
        let mask = try f.array("x_mask")
        try Self.checkMaskShape(mask.shape, rows: xArray.shape[0], xShape: Array(xArray.shape.dropFirst()), path: p)
        if !padding && mask.data.contains(0) {
          throw InputError("\(p): x_mask marks padded items, which need a summary network (--summary)")
        }
        try applyMask(mask, to: &x, width: xArray.rank == 3 ? xArray.shape[2] : 1, source: "\(p)[x_mask]")
      }
      return (theta, x)
    case .npyPair(let t, let x):
      let theta = try NPY.readMatrix(t), data = try Self.flatRows(NPY.read(x), source: x)
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

  /// An array [n, D], [n, N, D] or [n, H, W, C] as rows of N·D (H·W·C) values ([n] is n rows of one value).
  static func flatRows(_ a: NDArray, source: String) throws -> Matrix {
    switch a.rank {
    case 1: return Matrix(rows: a.shape[0], cols: 1, storage: a.data)
    case 2: return try a.matrix(source: source)
    case 3, 4: return Matrix(rows: a.shape[0], cols: a.shape.dropFirst().reduce(1, *), storage: a.data)
    default: throw InputError("\(source): expected an array of rank 1 to 4, found shape \(a.shape)")
    }
  }
}

/// Marks the items (of `width` values each) of every row of `x` where `mask` [rows, N] is 0 as padding (all
/// NaN). Mask values must be 0 or 1 (NumPy booleans read as 0 and 1).
func applyMask(_ mask: NDArray, to x: inout Matrix, width: Int, source: String) throws {
  let items = x.cols / max(1, width)
  guard mask.shape == [x.rows, items] else {
    throw InputError("\(source): shape \(mask.shape), expected [\(x.rows), \(items)]")
  }
  if let bad = mask.data.firstIndex(where: { $0 != 0 && $0 != 1 }) {
    throw InputError("\(source): value \(mask.data[bad]) at position \(bad); a mask holds 0 or 1 (or booleans)")
  }
  for r in 0..<x.rows {
    for i in 0..<items where mask.data[r * items + i] == 0 {
      for k in 0..<width { x[r, i * width + k] = .nan }
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

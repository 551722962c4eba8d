// The task protocol: a prior, a batched seeded simulator, and optionally an exact posterior and sbibm data.

import NumericCore

/// Errors of the task layer.
public enum TaskError: Error, Equatable, CustomStringConvertible {
  /// No task of this name is registered.
  case unknownTask(String)
  /// The sbibm data directory could not be found.
  case dataNotFound(searched: [String])
  /// A data file is missing or malformed.
  case badDataFile(path: String, reason: String)
  /// The observation number is outside 1…count.
  case observationOutOfRange(Int, available: Int)
  /// The task has no sbibm reference data.
  case noReferenceData(task: String)
  /// A matrix has the wrong number of columns.
  case dimensionMismatch(expected: Int, got: Int)

  public var description: String {
    switch self {
    case .unknownTask(let n):
      return "unknown task '\(n)'; known tasks: \(TaskRegistry.names.joined(separator: ", "))"
    case .dataNotFound(let s):
      return "sbibm data directory not found (set DIFFSBI_SBIBM_DATA); searched: \(s.joined(separator: ", "))"
    case .badDataFile(let p, let r): return "bad data file \(p): \(r)"
    case .observationOutOfRange(let k, let n): return "observation \(k) out of range 1…\(n)"
    case .noReferenceData(let t): return "task '\(t)' has no sbibm reference data"
    case .dimensionMismatch(let e, let g): return "expected \(e) columns, got \(g)"
    }
  }
}

/// How a parameter's support is constrained, so that an estimator can work in an unbounded space
/// (identity, logit for boxes, log for positive parameters).
public enum ParameterConstraint: Sendable, Equatable {
  /// θ ∈ ℝ^d.
  case unbounded
  /// θ_j ∈ (lower_j, upper_j) for every coordinate.
  case box(lower: [Double], upper: [Double])
  /// θ_j > 0 for every coordinate.
  case positive
}

/// A prior distribution over θ ∈ ℝ^d. Matrices hold one θ per row.
public protocol Prior: Sendable {
  /// d.
  var dimension: Int { get }
  /// The support, for constraint transforms.
  var constraint: ParameterConstraint { get }
  /// `count` independent draws, reproducible from `seed` and independent of the thread count.
  func sample(count: Int, seed: UInt64) -> Matrix
  /// log p(θ) per row (−∞ outside the support).
  func logDensity(_ theta: Matrix) -> [Double]
  /// ∇_θ log p(θ) per row, where it exists (zero inside a uniform box); nil when not available.
  func score(_ theta: Matrix) -> Matrix?
  /// Prior mean per coordinate.
  var mean: [Double] { get }
  /// Prior standard deviation per coordinate.
  var standardDeviation: [Double] { get }
}

/// A simulation-based inference task: prior p(θ), simulator x ~ p(x | θ), optional exact posterior and data.
public protocol SimulationTask: Sendable {
  /// Registry name (sbibm's for the benchmark tasks), e.g. `two_moons`.
  var name: String { get }
  /// d_θ.
  var parameterDimension: Int { get }
  /// d_x.
  var dataDimension: Int { get }
  /// The shape of one data set: `[d_x]` for a flat vector, `[N, D]` for a set of N items or a series of N steps
  /// with D features each (rows of x hold the items one after another, so N·D = d_x).
  var dataShape: [Int] { get }
  /// The prior.
  var prior: any Prior { get }
  /// Simulates one data set per row of `parameters` ([n, d_θ] → [n, d_x]); reproducible from `seed` and
  /// independent of the thread count (random streams are derived per fixed block of simulations).
  func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix
  /// Exact posterior draws for an observation, when the task has an analytic (or exact sampling) posterior.
  func samplePosterior(observation: [Float], count: Int, seed: UInt64) -> Matrix?
  /// True when `samplePosterior` returns exact draws.
  var hasExactPosterior: Bool { get }
  /// The folder name under the sbibm data directory, or nil for tasks without sbibm data.
  var sbibmDataName: String? { get }
  /// The element transform an estimator should apply to x before standardizing it (`log1p`), or nil for none.
  var suggestedDataTransform: String? { get }
}

extension SimulationTask {
  public func samplePosterior(observation: [Float], count: Int, seed: UInt64) -> Matrix? { nil }
  public var sbibmDataName: String? { nil }
  public var suggestedDataTransform: String? { nil }
  public var hasExactPosterior: Bool { false }
  public var dataShape: [Int] { [dataDimension] }

  /// `count` draws (θ, x) from the joint p(θ) p(x | θ).
  public func sampleJoint(count: Int, seed: UInt64) -> (parameters: Matrix, data: Matrix) {
    var priorStream = Xoshiro(seed: seed, stream: 0x7072_696F_72)
    var simulatorStream = Xoshiro(seed: seed, stream: 0x7369_6D)
    let theta = prior.sample(count: count, seed: priorStream.next())
    let x = simulate(theta, seed: simulatorStream.next())
    return (theta, x)
  }
}

/// Runs per-row work in fixed blocks of `blockSize` rows on all threads; block b uses `Xoshiro(seed:stream: b)`,
/// so the output depends only on the seed and the block size, never on the thread count.
///
/// `body(rng, row, output)` writes `outputColumns` values for `row` into `output`.
public func blockedRowMap(
  rows: Int, outputColumns: Int, seed: UInt64, blockSize: Int = 64,
  _ body: (inout Xoshiro, Int, UnsafeMutableBufferPointer<Float>) -> Void
) -> Matrix {
  var out = Matrix(rows: rows, cols: outputColumns)
  guard rows > 0 else { return out }
  let blocks = (rows + blockSize - 1) / blockSize
  out.withUnsafeMutableBufferPointer { buffer in
    let ptr = UnsafeSendablePointer(buffer.baseAddress!)
    parallelFor(count: blocks) { _, range in
      for b in range {
        var rng = Xoshiro(seed: seed, stream: UInt64(b))
        for r in (b * blockSize)..<min(rows, (b + 1) * blockSize) {
          body(&rng, r, UnsafeMutableBufferPointer(start: ptr.base + r * outputColumns, count: outputColumns))
        }
      }
    }
  }
  return out
}

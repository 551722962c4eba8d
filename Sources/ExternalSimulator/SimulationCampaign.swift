// A budgeted simulation campaign with an external simulator: θ drawn from a prior batch by batch, simulated by a
// pool of workers, and every batch saved the moment it arrives (DIRECTORY/batch-0000000.npz, atomically), so that
// nothing simulated is lost when the run is killed and a rerun over the same directory continues where it stopped.
//
// Batch j's parameters come from the prior with a seed derived from (seed, j) alone, so a resumed campaign draws
// the same θ as an uninterrupted one; with a simulator that seeds itself from DIFFSBI_SEED and DIFFSBI_WORKER, or
// a deterministic one, it also gets the same data (Documentation/Simulators.md).

import FileFormats
import Foundation
import NumericCore
import Tasks

/// The result of a campaign: the first `budget` valid rows, in batch order.
public struct CampaignResult {
  /// θ [n, P] of the kept rows.
  public var parameters: Matrix
  /// x [n, prod(dataShape)] of the kept rows.
  public var data: Matrix
  /// The shape of one data set: [D] or [N, D].
  public var dataShape: [Int]
  /// Rows dropped because they held NaN or infinity.
  public var invalidRows: Int
  /// Batches simulated in this run, and batches found saved from an earlier one.
  public var simulatedBatches: Int
  public var reusedBatches: Int
}

/// A budget of valid simulations drawn with an external simulator into a directory of batch files.
public struct SimulationCampaign {
  /// Where the batches and the campaign's manifest (`campaign.json`) are kept.
  public var directory: String
  public var prior: any Prior
  /// A text that identifies the prior (its JSON specification, or the task's name), kept in the manifest.
  public var priorIdentity: String
  /// Rows per batch (one request to a worker, one file).
  public var batchSize: Int
  public var seed: UInt64
  /// Valid rows wanted.
  public var budget: Int
  /// Rows with NaN or infinity tolerated before giving up (default: as many as the budget).
  public var maximumInvalidRows: Int

  public init(directory: String, prior: any Prior, priorIdentity: String, batchSize: Int, seed: UInt64, budget: Int,
              maximumInvalidRows: Int? = nil) {
    self.directory = directory
    self.prior = prior
    self.priorIdentity = priorIdentity
    self.batchSize = max(1, batchSize)
    self.seed = seed
    self.budget = budget
    self.maximumInvalidRows = maximumInvalidRows ?? max(budget, 100)
  }

  /// The parameters of batch `batch`: `batchSize` prior draws from a seed derived from (seed, batch).
  public func parameters(batch: Int) -> Matrix {
    var rng = Xoshiro(seed: seed, stream: 0x4341_4D50_0000_0000 | UInt64(batch))
    return prior.sample(count: batchSize, seed: rng.next())
  }

  /// The file of batch `batch`.
  public func path(batch: Int) -> String {
    let digits = String(batch)
    return directory + "/batch-" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits + ".npz"
  }

  /// Number of batch files already in the directory.
  public var savedBatches: Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
      .filter { $0.hasPrefix("batch-") && $0.hasSuffix(".npz") }.count
  }

  /// Creates the directory and its manifest, or checks that an existing manifest describes this campaign.
  /// With `resume` false, a directory that already holds batches is refused.
  func prepare(resume: Bool, command: String) throws {
    let fm = FileManager.default
    do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
      throw SimulatorError.savedSimulationsMismatch(directory: directory, reason: "cannot create the directory")
    }
    let manifest = directory + "/campaign.json"
    let identity: [String: Any] = [
      "protocol": 1, "seed": String(seed), "batch_size": batchSize, "prior": priorIdentity,
    ]
    if let data = fm.contents(atPath: manifest) {
      guard let saved = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw SimulatorError.savedSimulationsMismatch(directory: directory, reason: "campaign.json is not readable")
      }
      for key in ["seed", "batch_size", "prior"] where "\(saved[key] ?? "")" != "\(identity[key]!)" {
        throw SimulatorError.savedSimulationsMismatch(
          directory: directory,
          reason: "the saved simulations were made with another \(key.replacingOccurrences(of: "_", with: " ")) "
            + "(\(saved[key] ?? "none")); use another directory or the same settings")
      }
      if !resume && savedBatches > 0 {
        throw SimulatorError.savedSimulationsMismatch(
          directory: directory, reason: "holds \(savedBatches) saved batches; give --resume to continue them")
      }
    }
    var record = identity
    record["command"] = command
    let json = try JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys])
    try AtomicFile.write(String(decoding: json, as: UTF8.self) + "\n", to: manifest)
  }

  /// Loads a saved batch, or nil when it is missing; a file that does not hold this batch is an error.
  func load(batch: Int, dataShape: [Int]?) throws -> (Matrix, Matrix)? {
    let p = path(batch: batch)
    guard FileManager.default.fileExists(atPath: p) else { return nil }
    let arrays = try NPZ.read(p)
    let theta = try arrays.matrix("theta")
    let x = try arrays.require("x")
    guard theta.rows == batchSize, theta.cols == prior.dimension, x.shape.first == batchSize,
      dataShape == nil || Array(x.shape.dropFirst()) == dataShape!
    else {
      throw SimulatorError.savedSimulationsMismatch(
        directory: directory, reason: "\(p) holds θ \([theta.rows, theta.cols]) and x \(x.shape), not batch \(batch)")
    }
    return (theta, Matrix(rows: batchSize, cols: x.shape.dropFirst().reduce(1, *), storage: x.data))
  }

  /// Runs the campaign with `pool` until `budget` valid rows are saved; `progress(valid, budget)` after every batch.
  /// On a failure, the batches already answered are saved before the error is rethrown.
  public func run(pool: SimulatorPool, resume: Bool, progress: ((Int, Int) -> Void)? = nil) throws -> CampaignResult {
    try prepare(resume: resume, command: pool.settings.command)
    let lookahead = 2 * pool.settings.workers
    var queued: [(batch: Int, job: PendingSimulation?)] = []
    var next = 0
    var thetas: [Matrix] = [], xs: [Matrix] = []
    var valid = 0, invalid = 0, simulated = 0, reused = 0
    var shape = pool.dataShape
    func items(_ s: [Int]?) -> [(count: Int, width: Int)?] { s.map { $0.count == 2 ? [nil, ($0[0], $0[1])] : [] } ?? [] }
    var batch = 0
    /// Every batch must have the width of the first one seen (saved or simulated).
    var width: Int?
    func checkWidth(_ x: Matrix, batch j: Int) throws {
      if let w = width, w != x.cols {
        throw SimulatorError.savedSimulationsMismatch(
          directory: directory,
          reason: "batch \(j) has \(x.cols) values per data set, earlier batches \(w): the saved simulations come "
            + "from a simulator with another output shape")
      }
      width = x.cols
    }
    while valid < budget {
      // Queue ahead (never more batches than the budget still needs), skipping saved ones.
      let needed = (budget - valid + batchSize - 1) / batchSize
      while queued.count < min(lookahead, needed) {
        let saved = FileManager.default.fileExists(atPath: path(batch: next))
        queued.append((next, saved ? nil : pool.submit(parameters(batch: next), batch: next)))
        next += 1
      }
      let (j, job) = queued.removeFirst()
      precondition(j == batch)
      let theta: Matrix, x: Matrix
      if let job {
        do {
          x = try job.wait()
          try checkWidth(x, batch: j)  // before saving: a batch of another shape must not join the campaign
          theta = parameters(batch: j)
          shape = shape ?? pool.dataShape
          try save(batch: j, theta: theta, x: x, shape: shape!)
          simulated += 1
        } catch {
          // Keep what the other workers finish (if it has this campaign's shape), then report the first failure.
          for (k, other) in queued {
            if let other, let xk = try? other.wait(), (try? checkWidth(xk, batch: k)) != nil {
              try? save(batch: k, theta: parameters(batch: k), x: xk, shape: pool.dataShape ?? [xk.cols])
            }
          }
          throw error
        }
      } else {
        guard let loaded = try load(batch: j, dataShape: shape) else { preconditionFailure("batch file vanished") }
        (theta, x) = loaded
        if shape == nil, let a = try NPZ.read(path(batch: j))["x"] { shape = Array(a.shape.dropFirst()) }
        reused += 1
      }
      try checkWidth(x, batch: j)
      let (kept, dropped) = try NonFiniteRows.drop([theta, x], items: items(shape))
      invalid += dropped
      if invalid > maximumInvalidRows {
        throw SimulatorError.tooManyInvalidRows(command: pool.settings.command, valid: valid, invalid: invalid)
      }
      let take = min(kept[0].rows, budget - valid)
      thetas.append(take == kept[0].rows ? kept[0] : kept[0].gatherRows(Array(0..<take)))
      xs.append(take == kept[1].rows ? kept[1] : kept[1].gatherRows(Array(0..<take)))
      valid += take
      batch += 1
      progress?(valid, budget)
    }
    // Batches queued beyond the budget are finished and saved (a larger budget later reuses them).
    for (k, job) in queued {
      if let job, let xk = try? job.wait(), (try? checkWidth(xk, batch: k)) != nil {
        try? save(batch: k, theta: parameters(batch: k), x: xk, shape: shape!)
      }
    }
    return CampaignResult(parameters: Matrix.vstack(thetas), data: Matrix.vstack(xs), dataShape: shape ?? [0],
                          invalidRows: invalid, simulatedBatches: simulated, reusedBatches: reused)
  }

  private func save(batch: Int, theta: Matrix, x: Matrix, shape: [Int]) throws {
    let xa = try NDArray(shape: [x.rows] + shape, data: x.storage)
    try NPZ.write([("theta", NDArray(theta)), ("x", xa)], to: path(batch: batch))
  }
}

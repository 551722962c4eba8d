// Online training with an external simulator: fresh simulations for every batch, simulated ahead by the worker
// pool while the network trains on the current batch.
//
// The training loop asks for batch k with its random stream (TrainingSource.batch in
// Sources/NeuralNet/TrainingSource.swift); the batch's θ come from the prior with the stream's next value as seed.
// The stream is used for nothing else between two requests, so after serving one batch the seeds of the next ones
// are known and their batches are submitted at once (`lookahead` of them). A request whose seed was not predicted
// (a resumed run, a top-up after invalid rows) is simulated on the spot, so results never depend on the
// prefetching.

import FileFormats
import Foundation
import NeuralNet
import NumericCore
import Tasks

/// A `BatchSimulator` backed by a simulator pool, with prefetching and optional keeping of every simulation.
public final class OnlineSimulation: @unchecked Sendable {
  public let pool: SimulatorPool
  public let prior: any Prior
  /// Rows per request to a worker.
  public let batchSize: Int
  /// Batches simulated ahead of the training loop.
  public let lookahead: Int
  /// Where kept simulations go (nil: not kept), in files of `keepRows` rows.
  public let keepDirectory: String?
  public var keepRows = 10_000
  /// Rows drawn and rows dropped (NaN or infinity) so far.
  public private(set) var simulatedRows = 0
  public private(set) var invalidRows = 0
  /// Predicted requests served from the prefetch queue, and requests simulated on the spot.
  public private(set) var prefetchHits = 0
  public private(set) var prefetchMisses = 0
  private var pending: [(seed: UInt64, theta: Matrix, jobs: [PendingSimulation])] = []
  private var kept: (theta: [Matrix], x: [Matrix], rows: Int, files: Int) = ([], [], 0, 0)

  public init(pool: SimulatorPool, prior: any Prior, batchSize: Int, lookahead: Int? = nil,
              keepDirectory: String? = nil) {
    self.pool = pool
    self.prior = prior
    self.batchSize = max(1, batchSize)
    self.lookahead = lookahead ?? 2 * pool.settings.workers
    self.keepDirectory = keepDirectory
  }

  /// The closure for `TrainingData.simulator`.
  public var batchSimulator: BatchSimulator {
    { count, rng in try self.next(count: count, rng: &rng) }
  }

  private func parameters(seed: UInt64, count: Int) -> Matrix { prior.sample(count: count, seed: seed) }

  /// Draws the parameters of a request and queues them on the workers in batches of `batchSize` rows.
  private func submit(seed: UInt64, count: Int) -> (seed: UInt64, theta: Matrix, jobs: [PendingSimulation]) {
    let theta = parameters(seed: seed, count: count)
    if count <= batchSize { return (seed, theta, [pool.submit(theta)]) }
    return (seed, theta, stride(from: 0, to: count, by: batchSize).map { start in
      pool.submit(theta.gatherRows(Array(start..<min(count, start + batchSize))))
    })
  }

  private func collect(_ jobs: [PendingSimulation]) throws -> Matrix {
    let parts = try jobs.map { try $0.wait() }
    return parts.count == 1 ? parts[0] : Matrix.vstack(parts)
  }

  /// `count` valid (θ, x) pairs drawn with `rng`.
  func next(count: Int, rng: inout Xoshiro) throws -> (parameters: Matrix, data: Matrix?) {
    var thetas: [Matrix] = [], xs: [Matrix] = []
    var have = 0
    while have < count {
      let seed = rng.next()
      let request: (seed: UInt64, theta: Matrix, jobs: [PendingSimulation])
      if let first = pending.first, first.seed == seed, first.theta.rows == count - have {
        request = pending.removeFirst()
        prefetchHits += 1
      } else {
        pending.removeAll()  // mispredicted: those answers are dropped
        prefetchMisses += 1
        request = submit(seed: seed, count: count - have)
      }
      let theta = request.theta
      let x = try collect(request.jobs)
      simulatedRows += theta.rows
      try keep(theta, x)
      let shape = pool.dataShape ?? [x.cols]
      let (good, dropped) = try NonFiniteRows.drop(
        [theta, x], items: shape.count == 2 ? [nil, (shape[0], shape[1])] : [])
      invalidRows += dropped
      if invalidRows > max(100, simulatedRows / 2) {
        throw SimulatorError.tooManyInvalidRows(command: pool.settings.command, valid: simulatedRows - invalidRows,
                                                invalid: invalidRows)
      }
      thetas.append(good[0])
      xs.append(good[1])
      have += good[0].rows
    }
    // Predict the next requests: the same count, seeds from the stream as it stands.
    var peek = rng
    for _ in pending { _ = peek.next() }
    while pending.count < lookahead {
      pending.append(submit(seed: peek.next(), count: count))
    }
    return (thetas.count == 1 ? thetas[0] : Matrix.vstack(thetas), xs.count == 1 ? xs[0] : Matrix.vstack(xs))
  }

  private func keep(_ theta: Matrix, _ x: Matrix) throws {
    guard keepDirectory != nil else { return }
    kept.theta.append(theta)
    kept.x.append(x)
    kept.rows += theta.rows
    if kept.rows >= keepRows { try flush() }
  }

  /// Writes the kept simulations not yet on disk (call once training has ended).
  public func flush() throws {
    guard let dir = keepDirectory, kept.rows > 0 else { return }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let digits = String(kept.files)
    let path = dir + "/online-" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits + ".npz"
    let x = Matrix.vstack(kept.x)
    let shape = pool.dataShape ?? [x.cols]
    try NPZ.write([("theta", NDArray(Matrix.vstack(kept.theta))),
                   ("x", try NDArray(shape: [x.rows] + shape, data: x.storage))], to: path)
    kept = ([], [], 0, kept.files + 1)
  }
}

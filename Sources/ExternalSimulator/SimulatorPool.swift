// A pool of simulator workers: K copies of the user's command, each fed batches on its own thread, so that
// simulation runs in parallel and overlaps whatever the caller does meanwhile (training, writing files).
//
// Batch j always goes to worker j mod K, and every worker answers its batches in order, so a run is reproducible
// for a given seed and worker count whenever the simulator seeds itself from DIFFSBI_SEED and DIFFSBI_WORKER
// (Documentation/Simulators.md).

import FileFormats
import Foundation
import NumericCore
import Tasks

/// How to run an external simulator.
public struct SimulatorSettings: Sendable {
  /// The command, run by `/bin/sh -c`.
  public var command: String
  /// Number of worker processes.
  public var workers: Int
  /// The run's seed: worker k gets `DIFFSBI_SEED` derived from it and `DIFFSBI_WORKER = k`.
  public var seed: UInt64
  /// Seconds a worker may take for one batch (nil: no limit).
  public var timeout: Double?
  /// How often one worker may be restarted after it exits, before the run gives up.
  public var maximumRestarts: Int
  /// Largest accepted number of values per simulated data set (a bound on what a header may announce).
  public var maximumRowValues: Int
  /// Where the workers' standard error lines go.
  public var log: @Sendable (String) -> Void

  public init(command: String, workers: Int = ProcessInfo.processInfo.activeProcessorCount, seed: UInt64 = 0,
              timeout: Double? = nil, maximumRestarts: Int = 3, maximumRowValues: Int = 1 << 24,
              log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
    self.command = command
    self.workers = max(1, workers)
    self.seed = seed
    self.timeout = timeout
    self.maximumRestarts = maximumRestarts
    self.maximumRowValues = maximumRowValues
    self.log = log
  }
}

/// A simulation in flight; `wait()` returns its data or rethrows its error.
public final class PendingSimulation: @unchecked Sendable {
  private let condition = NSCondition()
  private var result: Result<Matrix, Error>?

  func fulfil(_ r: Result<Matrix, Error>) {
    condition.lock()
    result = r
    condition.broadcast()
    condition.unlock()
  }

  /// Blocks until the answer is there.
  public func wait() throws -> Matrix {
    condition.lock()
    defer { condition.unlock() }
    while result == nil { condition.wait() }
    return try result!.get()
  }
}

/// K simulator workers behind one interface.
public final class SimulatorPool: @unchecked Sendable {
  public let settings: SimulatorSettings
  private var workers: [WorkerProcess]
  private var restarts: [Int]
  private let queues: [DispatchQueue]
  private let lock = NSLock()
  private var shape: [Int]?
  private var submitted = 0
  /// The first error that ended the run.
  private var fatal: Error?

  /// Starts the workers. `dataShape` is the shape of one simulated data set when it is known in advance ([D] or
  /// [N, D]); otherwise the first answer fixes it and later answers must agree.
  public init(_ settings: SimulatorSettings, dataShape: [Int]? = nil) throws {
    self.settings = settings
    self.shape = dataShape
    var seeder = Xoshiro(seed: settings.seed, stream: 0x5157_4F52_4B00)
    var ws: [WorkerProcess] = []
    for k in 0..<settings.workers {
      ws.append(try WorkerProcess(command: settings.command, index: k, seed: seeder.next() >> 1, log: settings.log))
    }
    workers = ws
    restarts = Array(repeating: 0, count: ws.count)
    queues = (0..<ws.count).map { DispatchQueue(label: "diffsbi.simulator.\($0)") }
  }

  deinit { shutdown() }

  /// The shape of one data set, once known.
  public var dataShape: [Int]? {
    lock.lock()
    defer { lock.unlock() }
    return shape
  }

  /// The workers' process IDs (0 for a worker that is not running).
  public var processIDs: [Int32] { queues.indices.map { k in queues[k].sync { workers[k].processID } } }

  /// The shape of one data set, simulating two prior draws when no answer has fixed it yet (so that an estimator
  /// can be built before training starts).
  public func discoverDataShape(prior: any Prior, seed: UInt64) throws -> [Int] {
    if let s = dataShape { return s }
    var rng = Xoshiro(seed: seed, stream: 0x5348_4150_45)
    _ = try simulate(prior.sample(count: 2, seed: rng.next()), batchSize: 2)
    return dataShape!
  }

  /// Ends every worker (closing its input, then killing what does not exit).
  public func shutdown() {
    // All inputs first, so that the workers wind down together within one grace period.
    for (k, q) in queues.enumerated() { q.sync { workers[k].closeInput() } }
    let deadline = Date().addingTimeInterval(2)
    for (k, q) in queues.enumerated() { q.sync { workers[k].terminate(grace: max(0, deadline.timeIntervalSinceNow)) } }
  }

  /// Queues batch `batch` ([b, P] parameters) on worker `batch mod K`; the answer is [b, prod(dataShape)].
  public func submit(_ parameters: Matrix, batch: Int) -> PendingSimulation {
    let pending = PendingSimulation()
    let k = batch % workers.count
    queues[k].async {
      pending.fulfil(Result { try self.run(parameters, batch: batch, worker: k) })
    }
    return pending
  }

  /// Queues a batch on the next worker in turn (batch numbers counted by the pool).
  public func submit(_ parameters: Matrix) -> PendingSimulation {
    lock.lock()
    let j = submitted
    submitted += 1
    lock.unlock()
    return submit(parameters, batch: j)
  }

  /// Simulates `parameters` at once, split into batches of at most `batchSize` rows spread over the workers.
  public func simulate(_ parameters: Matrix, batchSize: Int) throws -> Matrix {
    let b = max(1, batchSize)
    let jobs = stride(from: 0, to: parameters.rows, by: b).map { start in
      submit(parameters.gatherRows(Array(start..<min(parameters.rows, start + b))))
    }
    var first: Error?
    var parts: [Matrix] = []
    for j in jobs {
      do { parts.append(try j.wait()) } catch { if first == nil { first = error } }
    }
    if let first { throw first }
    return parts.isEmpty ? Matrix(rows: 0, cols: (dataShape ?? [0]).reduce(1, *)) : Matrix.vstack(parts)
  }

  /// One batch on worker k (on that worker's queue); after a failure that ends the run, later batches fail at once.
  private func run(_ parameters: Matrix, batch: Int, worker k: Int) throws -> Matrix {
    lock.lock()
    let earlier = fatal
    lock.unlock()
    if let earlier { throw earlier }
    do {
      return try exchange(parameters, batch: batch, worker: k)
    } catch {
      lock.lock()
      if fatal == nil { fatal = error }
      lock.unlock()
      throw error
    }
  }

  /// One exchange with worker k, restarting the worker when it has exited.
  private func exchange(_ parameters: Matrix, batch: Int, worker k: Int) throws -> Matrix {
    let request = NPY.encode(NDArray(parameters), as: .float64)
    let command = settings.command
    while true {
      let w = workers[k]
      let deadline = settings.timeout.map { Date().addingTimeInterval($0) }
      do {
        let array = try w.exchange(request, deadline: deadline) { header in
          try self.check(header, rows: parameters.rows, batch: batch)
        }
        let values = array.shape.dropFirst().reduce(1, *)
        return Matrix(rows: parameters.rows, cols: values, storage: array.data)
      } catch let failure as WorkerProcess.Failure {
        switch failure {
        case .timedOut:
          w.abort()
          throw SimulatorError.timedOut(command: command, batch: batch, seconds: settings.timeout ?? 0, stderr: w.stderrTail)
        case .ended(let status):
          guard restarts[k] < settings.maximumRestarts else {
            throw SimulatorError.exited(command: command, batch: batch, status: status, restarts: restarts[k],
                                        stderr: w.stderrTail)
          }
          restarts[k] += 1
          settings.log("simulator[\(k)]: \(status) during batch \(batch); restarting it (\(restarts[k]) of \(settings.maximumRestarts))")
          try w.launch()
        }
      } catch let e as FileFormatError {
        w.abort()
        throw SimulatorError.malformedOutput(command: command, batch: batch, reason: Self.reason(e), stderr: w.stderrTail)
      } catch {
        w.abort()
        throw error
      }
    }
  }

  /// The reason of a format error without the "file" wording.
  private static func reason(_ e: FileFormatError) -> String {
    switch e {
    case .malformed(_, _, let r), .truncated(_, _, let r): return r
    case .unsupported(_, _, let f): return "unsupported \(f)"
    default: return e.description
    }
  }

  /// Checks an answer's header before its data are read: the row count, the data-set shape, the size bound.
  private func check(_ header: NPYHeader, rows: Int, batch: Int) throws {
    let s = header.shape
    guard s.count == 2 || s.count == 3 else {
      throw SimulatorError.malformedOutput(
        command: settings.command, batch: batch,
        reason: "an array of shape \(s); expected [rows, D] or [rows, N, D]", stderr: [])
    }
    guard s[0] == rows else {
      throw SimulatorError.wrongRows(command: settings.command, batch: batch, expected: rows, got: s[0])
    }
    let item = Array(s.dropFirst())
    guard item.allSatisfy({ $0 > 0 }), item.reduce(1, *) <= settings.maximumRowValues else {
      throw SimulatorError.malformedOutput(
        command: settings.command, batch: batch,
        reason: "data sets of shape \(item) (at most \(settings.maximumRowValues) values each)", stderr: [])
    }
    lock.lock()
    defer { lock.unlock() }
    if let expected = shape {
      guard expected == item else { throw SimulatorError.wrongShape(command: settings.command, batch: batch, expected: expected, got: item) }
    } else {
      shape = item
    }
  }
}

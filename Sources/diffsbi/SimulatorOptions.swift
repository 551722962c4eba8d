// --simulator and its options, shared by `diffsbi train` and `diffsbi simulate`: a user's program as a pool of
// worker processes speaking the .npy pipe protocol (Documentation/Simulators.md), with θ from a prior file or a
// built-in task's prior.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

struct SimulatorOptions: ParsableArguments {
  @Option(help: """
    A simulator command, run by /bin/sh -c as long-lived worker processes: each reads batches of θ as .npy arrays \
    (float64, [b, P]) on stdin and writes one .npy array of data ([b, D] or [b, N, D]) per batch on stdout \
    (Documentation/Simulators.md). θ come from --prior FILE or from --task's prior.
    """)
  var simulator: String?

  @Option(help: "Simulator worker processes (default: the number of cores).")
  var workers: Int?

  @Option(help: "Seconds a simulator worker may take for one batch before the run ends (default: no limit).")
  var simulatorTimeout: Double?

  @Option(help: "Rows of θ per request to a simulator worker (default: the training batch size, or 128).")
  var simulatorBatch: Int?

  func validate() throws {
    if simulator == nil && (workers != nil || simulatorTimeout != nil || simulatorBatch != nil) {
      throw ValidationError("--workers, --simulator-timeout and --simulator-batch apply to --simulator")
    }
    if let w = workers, w < 1 || w > 64 { throw ValidationError("--workers must be in 1…64") }
    if let t = simulatorTimeout, !(t > 0) { throw ValidationError("--simulator-timeout must be positive") }
    if let b = simulatorBatch, b < 1 || b > 1 << 20 { throw ValidationError("--simulator-batch must be in 1…1048576") }
    if let s = simulator, s.trimmingCharacters(in: .whitespaces).isEmpty {
      throw ValidationError("--simulator needs a command")
    }
  }

  /// Starts the worker pool; worker lines go to the log (stderr) unless `quiet`.
  func pool(seed: UInt64, dataShape: [Int]?, quiet: Bool) throws -> SimulatorPool {
    let settings = SimulatorSettings(
      command: simulator!, workers: workers ?? ProcessInfo.processInfo.activeProcessorCount, seed: seed,
      timeout: simulatorTimeout,
      log: { line in if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) } })
    return try SimulatorPool(settings, dataShape: dataShape)
  }
}

/// The prior θ is drawn from for an external simulator, with a text that identifies it (for saved campaigns)
/// and its JSON when it came from a file.
struct SimulatorPrior {
  var prior: any Prior
  var identity: String
  var json: String?
  /// The task whose prior it is (its data shape is then required of the simulator).
  var task: (any SimulationTask)?

  /// --prior FILE (any dimension its specification states) or --task NAME.
  static func resolve(priorFile: String?, task: String?) throws -> SimulatorPrior {
    if let path = priorFile {
      let data = try readSpecification(path)
      do {
        let p = try PriorSpecification.parse(data)
        let text = String(decoding: data, as: UTF8.self)
        return SimulatorPrior(prior: p, identity: text, json: text, task: nil)
      } catch let e as SpecificationError {
        throw InputError("\(path): \(e)")
      }
    }
    guard let name = task else { throw ValidationError("--simulator needs --prior FILE or --task NAME for θ") }
    let t = try lookupTask(name)
    return SimulatorPrior(prior: t.prior, identity: "task:" + t.name, json: nil, task: t)
  }
}

extension TrainCommand {
  /// Training data from --simulator: a budgeted campaign saved batch by batch under OUT/simulations (then trained
  /// on in memory, as --data), or fresh simulations for every batch (--online), prefetched by the workers while the
  /// network trains. `finish` flushes kept simulations and ends the workers.
  func simulatorData(_ source: SimulatorPrior, configuration config: inout TrainingConfiguration) throws
    -> (data: TrainingData, shape: [Int], dropped: Int, finish: () throws -> Void)
  {
    let batch = external.simulatorBatch ?? config.batchSize
    let command = external.simulator!
    let pool = try external.pool(seed: common.seed, dataShape: source.task?.dataShape, quiet: common.quiet)
    let directory = out + "/simulations"
    if online {
      let shape = try pool.discoverDataShape(prior: source.prior, seed: common.seed)
      applyOnlineBudget(&config)
      let feeder = OnlineSimulation(pool: pool, prior: source.prior, batchSize: batch,
                                    keepDirectory: keepSimulations ? directory : nil)
      common.info("train: online with '\(command)' (\(pool.settings.workers) workers), data sets of shape \(shape)")
      let finish = { [common] in
        defer { pool.shutdown() }
        try feeder.flush()
        common.info("train: \(feeder.simulatedRows) simulations, \(feeder.invalidRows) with NaN/Inf dropped; "
                    + "\(feeder.prefetchHits) batches prefetched, \(feeder.prefetchMisses) simulated on demand")
      }
      return (.simulator(feeder.batchSimulator), shape, 0, finish)
    }
    defer { pool.shutdown() }
    let n = simulations!
    let campaign = SimulationCampaign(directory: directory, prior: source.prior, priorIdentity: source.identity,
                                      batchSize: batch, seed: common.seed, budget: n)
    let reporter = ProgressReporter(label: "simulate", mode: common.progressMode)
    let start = Date()
    let r = try campaign.run(pool: pool, resume: resume) { valid, budget in
      reporter.update(done: valid, total: budget, unit: "simulations", force: valid == budget)
    }
    let seconds = Date().timeIntervalSince(start)
    reporter.finish(
      "\(n) simulations with '\(command)' in \(fmt(seconds, 1)) s (\(pool.settings.workers) workers; "
        + "\(r.simulatedBatches) batches simulated, \(r.reusedBatches) reused from \(directory)"
        + (r.invalidRows > 0 ? "; \(r.invalidRows) rows with NaN/Inf dropped" : "") + ")")
    return (.simulations(parameters: r.parameters, data: r.data), r.dataShape, r.invalidRows, {})
  }
}

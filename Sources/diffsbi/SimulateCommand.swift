// `diffsbi simulate`: draws (θ, x) from a task's joint, optionally as one deterministic shard of a campaign.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

/// "I/N": shard I (1-based) of N.
struct Shard: ExpressibleByArgument, Equatable {
  var index: Int
  var count: Int
  init?(argument: String) {
    let parts = argument.split(separator: "/")
    guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 1, i <= n else { return nil }
    index = i
    count = n
  }
  init(index: Int, count: Int) {
    self.index = index
    self.count = count
  }

  /// Rows of the campaign that this shard draws: ⌊(I−1)·total/N⌋ ..< ⌊I·total/N⌋.
  func rows(of total: Int) -> Range<Int> {
    let lo = (index - 1) * total / count, hi = index * total / count
    return lo..<hi
  }

  /// The shard's seed: stream I of the campaign seed, so shards are independent and reproducible.
  func seed(_ campaign: UInt64) -> UInt64 {
    if count == 1 { return campaign }
    var rng = Xoshiro(seed: campaign, stream: 0x5348_4152_4400_0000 | UInt64(index))
    return rng.next()
  }
}

struct SimulateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "simulate",
    abstract: "Simulate (θ, x) pairs from a built-in task or your own simulator into an .npz file.",
    discussion: """
      Writes arrays "theta" [n, P] and "x" [n, D], or [n, N, D] for tasks whose data sets are sets or series. With --shard I/N (I = 1…N), --count is the size of the whole \
      campaign and this run draws shard I's share (rows ⌊(I−1)·count/N⌋ to ⌊I·count/N⌋) from its own random \
      stream derived from (seed, I): shards are disjoint, reproducible, and can run in any order on any \
      machine. Members are stored uncompressed (as numpy.savez) unless --compress is given (as numpy.savez_compressed). \
      With --simulator CMD, θ come from --prior FILE (or --task's prior, drawn exactly as the built-in task draws \
      them) and x from CMD's worker processes (Documentation/Simulators.md).
      """)

  @Option(help: "Task name (see 'diffsbi tasks'): its simulator, or with --simulator its prior.")
  var task: String?

  @Option(help: "With --simulator: the prior to draw θ from (JSON, as train --prior).")
  var prior: String?

  @OptionGroup(title: "External simulator") var external: SimulatorOptions

  @Option(help: "Number of simulations (of the whole campaign with --shard).")
  var count: Int?

  @Flag(help: """
    Simulate a hierarchical task (hierarchical_gaussian, hierarchical_drift_diffusion): arrays theta_global, \
    theta_local and x; --count N single-group rows (training data, each with its own global parameters) or \
    --groups J (one data set of J groups sharing one theta_global row, an observation file for sample --hierarchical).
    """)
  var hierarchical = false

  @Option(help: "With --hierarchical: one data set of this many groups instead of --count single-group rows.")
  var groups: Int?

  @Option(help: "Run shard I of N (1-based), e.g. --shard 3/100.")
  var shard: Shard?

  @Option(help: "Output .npz file.")
  var out: String

  @Flag(help: """
    Compress the arrays with DEFLATE (zlib level 6, as numpy.savez_compressed): a smaller file, slower to write \
    and to read.
    """)
  var compress = false

  @OptionGroup var common: CommonOptions

  func validate() throws {
    if hierarchical {
      if task == nil || external.simulator != nil || prior != nil || shard != nil {
        throw ValidationError("--hierarchical needs --task NAME (a hierarchical task); --simulator, --prior and --shard do not apply")
      }
      if (count == nil) == (groups == nil) { throw ValidationError("--hierarchical needs --count N or --groups J (one of them)") }
      if let j = groups, j < 1 { throw ValidationError("--groups must be at least 1") }
    } else if groups != nil {
      throw ValidationError("--groups applies to --hierarchical")
    }
    guard let count = count ?? groups else { throw ValidationError("give --count N") }
    if count < 1 { throw ValidationError("--count must be at least 1") }
    if external.simulator == nil && task == nil { throw ValidationError("give --task NAME or --simulator CMD") }
    if external.simulator == nil && prior != nil { throw ValidationError("--prior applies to --simulator") }
    if prior != nil && task != nil { throw ValidationError("give --task or --prior, not both") }
    if external.simulator != nil && prior == nil && task == nil {
      throw ValidationError("--simulator needs --prior FILE or --task NAME for θ")
    }
  }

  func run() throws {
    common.apply()
    if hierarchical { return try simulateHierarchical() }
    try checkOutputPath(out, allowed: ["npz"], option: "--out")
    let s = shard ?? Shard(index: 1, count: 1)
    let rows = s.rows(of: count!)
    let start = Date()
    let theta: Matrix, x: Matrix, shape: [Int]
    if external.simulator != nil {
      let source = try SimulatorPrior.resolve(priorFile: prior, task: task)
      // θ from the same stream as a built-in task's (SimulationTask.sampleJoint, Sources/Tasks/Task.swift), x from the workers.
      var priorStream = Xoshiro(seed: s.seed(common.seed), stream: 0x7072_696F_72)
      theta = source.prior.sample(count: rows.count, seed: priorStream.next())
      let pool = try external.pool(seed: s.seed(common.seed), dataShape: source.task?.dataShape, quiet: common.quiet)
      defer { pool.shutdown() }
      x = try pool.simulate(theta, batchSize: external.simulatorBatch ?? 128)
      shape = pool.dataShape ?? [x.cols]
    } else {
      let t = try lookupTask(task!)
      (theta, x) = t.sampleJoint(count: rows.count, seed: s.seed(common.seed))
      shape = t.dataShape
    }
    let dropped = NonFiniteRows.count(in: x)
    // Structured data (sets, series) are written as [n, N, D].
    let xArray = try NDArray(shape: [x.rows] + (shape.count == 2 ? shape : [x.cols]), data: x.storage)
    try NPZ.write([("theta", NDArray(theta)), ("x", xArray)], to: out, compression: compress ? .deflate : .stored)
    let seconds = Date().timeIntervalSince(start)
    let name = external.simulator.map { "'\($0)'" } ?? task!
    common.info("simulate: \(rows.count) simulations of \(name) → \(out) (\(fmt(seconds, 1)) s"
                + (dropped > 0 ? ", \(dropped) rows with NaN/Inf" : "") + ")")
    try common.emit([
      "task": task ?? NSNull(), "simulator": external.simulator ?? NSNull(), "simulations": rows.count, "shard": "\(s.index)/\(s.count)", "first_row": rows.lowerBound,
      "seconds": seconds, "non_finite_rows": dropped, "out": out,
    ])
  }
}

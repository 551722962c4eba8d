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
    abstract: "Simulate (θ, x) pairs from a built-in task into an .npz file.",
    discussion: """
      Writes arrays "theta" [n, P] and "x" [n, D], or [n, N, D] for tasks whose data sets are sets or series. With --shard I/N (I = 1…N), --count is the size of the whole \
      campaign and this run draws shard I's share (rows ⌊(I−1)·count/N⌋ to ⌊I·count/N⌋) from its own random \
      stream derived from (seed, I): shards are disjoint, reproducible, and can run in any order on any \
      machine. Members are stored uncompressed (as numpy.savez) unless --compress is given (as numpy.savez_compressed).
      """)

  @Option(help: "Task name (see 'diffsbi tasks').")
  var task: String

  @Option(help: "Number of simulations (of the whole campaign with --shard).")
  var count: Int

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
    if count < 1 { throw ValidationError("--count must be at least 1") }
  }

  func run() throws {
    common.apply()
    try checkOutputPath(out, allowed: ["npz"], option: "--out")
    let t = try lookupTask(task)
    let s = shard ?? Shard(index: 1, count: 1)
    let rows = s.rows(of: count)
    let start = Date()
    let (theta, x) = t.sampleJoint(count: rows.count, seed: s.seed(common.seed))
    let dropped = NonFiniteRows.count(in: x)
    // Structured tasks (sets, series) write x as [n, N, D].
    let xArray = try NDArray(shape: [x.rows] + (t.dataShape.count == 2 ? t.dataShape : [x.cols]), data: x.storage)
    try NPZ.write([("theta", NDArray(theta)), ("x", xArray)], to: out, compression: compress ? .deflate : .stored)
    let seconds = Date().timeIntervalSince(start)
    common.info("simulate: \(rows.count) simulations of \(task) → \(out) (\(fmt(seconds, 1)) s"
                + (dropped > 0 ? ", \(dropped) rows with NaN/Inf" : "") + ")")
    try common.emit([
      "task": task, "simulations": rows.count, "shard": "\(s.index)/\(s.count)", "first_row": rows.lowerBound,
      "seconds": seconds, "non_finite_rows": dropped, "out": out,
    ])
  }
}

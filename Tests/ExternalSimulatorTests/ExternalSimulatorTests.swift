// The .npy pipe protocol with real worker processes: round trips through `cat` (no Python needed) and the
// fixture simulator (Tests/Fixtures/simulators/fixture_simulator.py), every fault the protocol names, saved
// campaigns and their resumption, online prefetching.

import ExternalSimulator
import FileFormats
import Foundation
import NeuralNet
import NumericCore
import Tasks
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The fixture simulator's command for `mode`.
func fixture(_ mode: String, _ extra: String = "") -> String {
  let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/simulators/fixture_simulator.py").path
  return "python3 '\(path)' \(mode) \(extra)"
}

/// A settings value that keeps the workers' stderr lines for inspection.
final class LineLog: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: [String] = []
  var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
  func add(_ s: String) { lock.lock(); stored.append(s); lock.unlock() }
}

func settings(_ command: String, workers: Int = 2, timeout: Double? = nil, log: LineLog = LineLog()) -> SimulatorSettings {
  SimulatorSettings(command: command, workers: workers, seed: 7, timeout: timeout, maximumRestarts: 2,
                    log: { log.add($0) })
}

func parameters(_ rows: Int, _ cols: Int, seed: UInt64 = 1) -> Matrix {
  BoxUniformPrior(dimension: cols, bound: 1).sample(count: rows, seed: seed)
}

@Suite struct ProtocolTests {
  @Test func catEchoesEveryBatchInOrder() throws {
    let pool = try SimulatorPool(settings("cat"))
    defer { pool.shutdown() }
    let theta = parameters(1000, 3)
    let x = try pool.simulate(theta, batchSize: 64)
    #expect(x.rows == 1000 && x.cols == 3)
    #expect(maxDifference(x, theta) == 0)
    #expect(pool.dataShape == [3])
  }

  @Test func aLargeBatchDoesNotDeadlockOnFullPipes() throws {
    // 4 MB each way through `cat`, which writes its output while its input is still arriving: without
    // concurrent reading and writing both pipes fill up and the exchange blocks for ever.
    let pool = try SimulatorPool(settings("cat", workers: 1, timeout: 60))
    defer { pool.shutdown() }
    let theta = parameters(20_000, 25)
    #expect(maxDifference(try pool.simulate(theta, batchSize: 20_000), theta) == 0)
  }

  @Test func workersGetSeedAndIndexAndStderrReachesTheLog() throws {
    let log = LineLog()
    let pool = try SimulatorPool(settings("echo \"seed=$DIFFSBI_SEED worker=$DIFFSBI_WORKER v=$DIFFSBI_PROTOCOL\" >&2; exec cat", log: log))
    _ = try pool.simulate(parameters(8, 2), batchSize: 4)
    pool.shutdown()
    let lines = log.lines.filter { $0.contains("seed=") }.sorted()
    #expect(lines.count == 2)
    #expect(lines.first?.hasPrefix("simulator[0]: seed=") == true && lines.first?.hasSuffix("worker=0 v=1") == true)
    #expect(lines.last?.hasSuffix("worker=1 v=1") == true)
    #expect(Set(lines.map { $0.split(separator: " ")[1] }).count == 2, "each worker has its own seed: \(lines)")
  }

  @Test func shutdownLeavesNoProcessBehind() throws {
    // `sleep` ignores its closed input: shutdown must kill it after the grace period and reap it.
    let pool = try SimulatorPool(settings("sleep 600"))
    let pids = pool.processIDs
    #expect(pids.allSatisfy { $0 > 0 })
    pool.shutdown()
    for pid in pids { #expect(kill(pid, 0) != 0, "process \(pid) still exists") }
    #expect(pool.processIDs == [0, 0])
  }

  @Test func aCrashingWorkerIsRestartedThenTheRunGivesUp() throws {
    let log = LineLog()
    let pool = try SimulatorPool(settings("echo dying >&2; exit 3", workers: 1, log: log))
    defer { pool.shutdown() }
    #expect {
      try pool.simulate(parameters(4, 2), batchSize: 4)
    } throws: { e in
      guard case .exited(let c, 0, let status, 2, let stderr) = e as? SimulatorError else { return false }
      return c.contains("exit 3") && status == "exited with status 3" && stderr.last == "dying"
    }
    #expect(log.lines.filter { $0.contains("restarting it") }.count == 2)
  }

  @Test func aHangingWorkerTimesOut() throws {
    let pool = try SimulatorPool(settings("cat > /dev/null", workers: 1, timeout: 0.5))
    defer { pool.shutdown() }
    #expect {
      try pool.simulate(parameters(4, 2), batchSize: 4)
    } throws: { e in
      if case .timedOut(_, 0, 0.5, _) = e as? SimulatorError { return true }
      return false
    }
    #expect(pool.processIDs == [0])
  }

  @Test func garbageIsMalformedOutput() throws {
    let pool = try SimulatorPool(settings("echo not-an-array; cat > /dev/null", workers: 1, timeout: 10))
    defer { pool.shutdown() }
    #expect {
      try pool.simulate(parameters(4, 2), batchSize: 4)
    } throws: { e in
      guard case .malformedOutput(_, 0, let reason, _) = e as? SimulatorError else { return false }
      return reason.contains("magic")
    }
  }

  @Test func aHeaderAnnouncingTooMuchIsRefusedBeforeAnyDataIsRead() throws {
    // A header for 10^12 values per row: refused from the header alone (no allocation, no wait for data).
    let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 1000000000000), }\n"
    let header: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.utf8.count), 0] + Array(dict.utf8)
    let file = temporaryDirectory() + "/huge.npy"
    try Data(header).write(to: URL(fileURLWithPath: file))
    let pool = try SimulatorPool(settings("cat '\(file)'; cat > /dev/null", workers: 1, timeout: 10))
    defer { pool.shutdown() }
    #expect {
      try pool.simulate(parameters(4, 2), batchSize: 4)
    } throws: { e in
      guard case .malformedOutput(_, _, let reason, _) = e as? SimulatorError else { return false }
      return reason.contains("at most")
    }
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func wrongRowsAndWrongShapesAreNamed() throws {
    let rows = try SimulatorPool(settings(fixture("rows"), workers: 1))
    defer { rows.shutdown() }
    #expect {
      try rows.simulate(parameters(5, 2), batchSize: 5)
    } throws: { e in
      if case .wrongRows(_, 0, 5, 4) = e as? SimulatorError { return true }
      return false
    }
    let shape = try SimulatorPool(settings(fixture("shape"), workers: 1), dataShape: [2])
    defer { shape.shutdown() }
    #expect {
      try shape.simulate(parameters(5, 2), batchSize: 5)
    } throws: { e in
      guard let s = e as? SimulatorError, case .wrongShape(_, 0, [2], [4]) = s else { return false }
      return s.isShapeContradiction
    }
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func pythonSetsArriveAsItemsTimesFeatures() throws {
    let pool = try SimulatorPool(settings(fixture("set")))
    defer { pool.shutdown() }
    let theta = parameters(10, 2)
    let x = try pool.simulate(theta, batchSize: 4)
    #expect(pool.dataShape == [3, 2])
    #expect(x.cols == 6)
    for r in 0..<10 { for k in 0..<3 { #expect(x[r, 2 * k + 1] == Float(k + 1) * theta[r, 1]) } }
  }
}

@Suite struct CampaignTests {
  func campaign(_ dir: String, budget: Int) -> SimulationCampaign {
    SimulationCampaign(directory: dir, prior: BoxUniformPrior(dimension: 2, bound: 1), priorIdentity: "box", batchSize: 50,
                       seed: 3, budget: budget)
  }

  @Test func savedBatchesAreReusedAndGiveTheSameResult() throws {
    let dir = temporaryDirectory()
    let pool = try SimulatorPool(settings("cat"))
    defer { pool.shutdown() }
    let full = try campaign(dir, budget: 420).run(pool: pool, resume: false)
    #expect(full.parameters.rows == 420 && full.simulatedBatches == 9 && full.reusedBatches == 0)
    #expect(maxDifference(full.parameters, full.data) == 0)
    // A killed run: some batch files missing. Resuming simulates exactly those.
    for j in [3, 7, 8] { try FileManager.default.removeItem(atPath: campaign(dir, budget: 420).path(batch: j)) }
    let resumed = try campaign(dir, budget: 420).run(pool: pool, resume: true)
    #expect(resumed.simulatedBatches == 3 && resumed.reusedBatches == 6)
    #expect(maxDifference(resumed.parameters, full.parameters) == 0)
    #expect(maxDifference(resumed.data, full.data) == 0)
    // A larger budget continues the same sequence.
    let more = try campaign(dir, budget: 500).run(pool: pool, resume: true)
    #expect(maxDifference(more.parameters.gatherRows(Array(0..<420)), full.parameters) == 0)
  }

  @Test func otherSettingsAndMissingResumeAreRefused() throws {
    let dir = temporaryDirectory()
    let pool = try SimulatorPool(settings("cat"))
    defer { pool.shutdown() }
    _ = try campaign(dir, budget: 100).run(pool: pool, resume: false)
    #expect(throws: SimulatorError.self) { try campaign(dir, budget: 100).run(pool: pool, resume: false) }
    // Saved batches of one output shape, then a simulator with another: refused, not mixed.
    var more = campaign(dir, budget: 100)
    more.budget = 200
    let doubled = try SimulatorPool(settings(ToolProbe.hasNumpy ? fixture("shape") : "cat", workers: 1))
    defer { doubled.shutdown() }
    if ToolProbe.hasNumpy {
      #expect {
        try more.run(pool: doubled, resume: true)
      } throws: { e in
        guard case .savedSimulationsMismatch(_, let r) = e as? SimulatorError else { return false }
        return r.contains("another output shape")
      }
    }
    var other = campaign(dir, budget: 100)
    other.seed = 4
    #expect {
      try other.run(pool: pool, resume: true)
    } throws: { e in
      guard case .savedSimulationsMismatch(_, let r) = e as? SimulatorError else { return false }
      return r.contains("seed")
    }
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func theBudgetCountsValidRowsAndFailuresKeepWhatWasSimulated() throws {
    let dir = temporaryDirectory()
    let pool = try SimulatorPool(settings(fixture("nan")))
    defer { pool.shutdown() }
    let r = try campaign(dir, budget: 300).run(pool: pool, resume: false)
    #expect(r.parameters.rows == 300 && NonFiniteRows.count(in: r.data) == 0)
    #expect(r.invalidRows == 117)  // 13 NaN rows in each batch of 50: 300 valid rows take 9 batches
    let failing = temporaryDirectory()
    let crash = try SimulatorPool(settings(fixture("crash-after", "2"), workers: 1))
    defer { crash.shutdown() }
    #expect(throws: SimulatorError.self) { try campaign(failing, budget: 1000).run(pool: crash, resume: false) }
    // The worker answers two batches per life and is restarted twice: six answered batches, all saved.
    #expect(campaign(failing, budget: 1000).savedBatches == 6)
  }
}

@Suite struct OnlineTests {
  @Test func prefetchedBatchesEqualOnDemandOnes() throws {
    func draw(lookahead: Int) throws -> ([Matrix], OnlineSimulation) {
      let pool = try SimulatorPool(settings("cat"))
      let online = OnlineSimulation(pool: pool, prior: BoxUniformPrior(dimension: 3, bound: 1), batchSize: 32,
                                    lookahead: lookahead)
      var rng = Xoshiro(seed: 11)
      let f = online.batchSimulator
      var out: [Matrix] = []
      for _ in 0..<12 {
        let b = try f(64, &rng)
        #expect(maxDifference(b.parameters, b.data!) == 0)
        out.append(b.parameters)
      }
      pool.shutdown()
      return (out, online)
    }
    let (ahead, a) = try draw(lookahead: 4)
    let (plain, p) = try draw(lookahead: 0)
    for (x, y) in zip(ahead, plain) { #expect(maxDifference(x, y) == 0) }
    #expect(a.prefetchHits == 11 && a.prefetchMisses == 1)
    #expect(p.prefetchHits == 0 && p.prefetchMisses == 12)
  }

  @Test func keptSimulationsAreWritten() throws {
    let dir = temporaryDirectory()
    let pool = try SimulatorPool(settings("cat"))
    defer { pool.shutdown() }
    let online = OnlineSimulation(pool: pool, prior: BoxUniformPrior(dimension: 2, bound: 1), batchSize: 16,
                                  keepDirectory: dir)
    online.keepRows = 100
    var rng = Xoshiro(seed: 2)
    for _ in 0..<10 { _ = try online.batchSimulator(32, &rng) }
    try online.flush()
    let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("online-") }
    let rows = try files.map { try NPZ.read(dir + "/" + $0).matrix("theta").rows }.reduce(0, +)
    #expect(rows == 320 && files.count == 3)  // 128 + 128 rows when 100 are reached, 64 at the end
  }
}

import Foundation
import Testing
import TestSupport
import NumericCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kills a training process (`diffsbi-bench checkpoint-probe`, a sibling of the test bundle in the build
/// directory) with SIGKILL at random steps, resumes it each time, and compares the final weights with an
/// uninterrupted run: they must be identical bit for bit (same seed, same thread count).
@Suite(.serialized) struct CheckpointKillTests {
  static var probe: URL? { builtExecutable("diffsbi-bench") }

  /// Runs the probe; with `killAfter`, sends SIGKILL once it has printed that step. Returns (exited normally
  /// with status 0, last step seen).
  static func run(_ arguments: [String], killAfter: Int?) throws -> (finished: Bool, lastStep: Int) {
    let p = Process()
    p.executableURL = probe!
    p.arguments = ["checkpoint-probe"] + arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    var last = 0
    var pending = ""
    var killed = false
    let reader = out.fileHandleForReading
    while true {
      let data = reader.availableData
      if data.isEmpty { break }
      pending += String(decoding: data, as: UTF8.self)
      while let nl = pending.firstIndex(of: "\n") {
        let line = pending[..<nl]
        pending = String(pending[pending.index(after: nl)...])
        if line.hasPrefix("step "), let k = Int(line.dropFirst(5)) { last = k }
      }
      if let k = killAfter, last >= k, !killed {
        kill(p.processIdentifier, SIGKILL)
        killed = true
      }
    }
    p.waitUntilExit()
    return (p.terminationReason == .exit && p.terminationStatus == 0, last)
  }

  func killAndResume(mode: String, seed: UInt64) throws {
    let root = temporaryDirectory("kill")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let common = ["--mode", mode, "--threads", "2"]
    let reference = try Self.run(common + ["--out", root + "/reference.bin"], killAfter: nil)
    #expect(reference.finished)
    let total = reference.lastStep
    #expect(total >= 200)
    // Kill points: pseudo-random from a fixed seed, increasing, spread over the run (the process runs on past each
    // before dying).
    var rng = Xoshiro(seed: seed)
    let kills = (0..<4).map { _ in 5 + rng.nextInt(below: total - 10) }.sorted()
    var finished = false
    var attempts = 0
    var interrupted = 0
    for k in kills + [Int](repeating: Int.max, count: 2) where !finished {
      let r = try Self.run(common + ["--out", root + "/resumed.bin", "--dir", root + "/ckpt"],
                           killAfter: k == Int.max ? nil : k)
      attempts += 1
      finished = r.finished
      if !r.finished { interrupted += 1 }
    }
    #expect(finished && interrupted >= 1, "attempts \(attempts), interrupted \(interrupted)")
    let a = try Data(contentsOf: URL(fileURLWithPath: root + "/reference.bin"))
    let b = try Data(contentsOf: URL(fileURLWithPath: root + "/resumed.bin"))
    #expect(a.count > 0 && a == b, "final weights differ after \(interrupted) kills at steps \(kills)")
  }

  @Test(.enabled(if: probe != nil, "needs the diffsbi-bench executable"))
  func offlineTrainingSurvivesSIGKILL() throws {
    try killAndResume(mode: "offline", seed: 20_261)
  }

  @Test(.enabled(if: probe != nil, "needs the diffsbi-bench executable"))
  func onlineTrainingSurvivesSIGKILL() throws {
    try killAndResume(mode: "online", seed: 20_262)
  }

  @Test(.enabled(if: probe != nil, "needs the diffsbi-bench executable"))
  func shardedTrainingSurvivesSIGKILL() throws {
    try killAndResume(mode: "shards", seed: 20_263)
  }
}

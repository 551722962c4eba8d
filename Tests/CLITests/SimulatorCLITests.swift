import DiffusionSBI
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `--simulator CMD` from the command line: campaigns (`simulate`), budgeted and online training, faults as one
/// line with exit code 1 (2 when the output contradicts the task), and SIGKILL then `--resume`.
@Suite(.serialized, .enabled(if: CLI.available))
struct SimulatorCLITests {
  static let fixtureScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/simulators/fixture_simulator.py").path

  @Test func campaignsWithATaskPriorDrawTheTasksParameters() throws {
    let dir = makeTemporaryDirectory()
    let ours = Fixture.path(dir, "cat.npz"), builtIn = Fixture.path(dir, "task.npz")
    for (extra, out) in [(["--simulator", "cat", "--workers", "2", "--simulator-batch", "7"], ours), ([], builtIn)] {
      let r = try CLI.run(["simulate", "--task", "two_moons", "--count", "100", "--shard", "2/3", "--out", out, "--quiet"] + extra)
      #expect(r.status == 0, "\(r.stderr)")
    }
    let a = try NPZ.read(ours), b = try NPZ.read(builtIn)
    #expect(maxDifference(try a.matrix("theta"), try b.matrix("theta")) == 0)
    #expect(maxDifference(try a.matrix("x"), try a.matrix("theta")) == 0, "cat returns θ")
  }

  @Test func budgetedAndOnlineTrainingWithCat() throws {
    let dir = makeTemporaryDirectory()
    let prior = Fixture.path(dir, "prior.json")
    try AtomicFile.write(#"{"type": "gaussian", "mean": [0, 0, 0], "std": [1, 1, 1]}"#, to: prior)
    let m = Fixture.path(dir, "m")
    let t = try CLI.run(["train", "--simulator", "cat", "--prior", prior, "--simulations", "500", "--out", m, "--json"]
                        + Fixture.tinyTraining)
    #expect(t.status == 0, "\(t.stderr)")
    #expect(Fixture.listing(URL(fileURLWithPath: m + "/simulations")).filter { $0.hasPrefix("batch-") }.count == 8,
            "500 rows in batches of the training batch size, 64")
    let again = try CLI.run(["train", "--simulator", "cat", "--prior", prior, "--simulations", "500", "--out", m]
                            + Fixture.tinyTraining)
    Fixture.expectBadInput(again, mentioning: "--resume")
    let o = Fixture.path(dir, "online")
    let r = try CLI.run(["train", "--simulator", "cat", "--prior", prior, "--simulations", "1000", "--online",
                         "--keep-simulations", "--out", o] + Fixture.tinyTraining)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(Fixture.listing(URL(fileURLWithPath: o + "/simulations")).contains { $0.hasPrefix("online-") })
    Fixture.expectBadInput(
      try CLI.run(["train", "--simulator", "cat", "--prior", prior, "--simulations", "10", "--keep-simulations",
                   "--out", o]), mentioning: "--keep-simulations")
  }

  @Test func faultsEndTheRunWithOneLine() throws {
    let dir = makeTemporaryDirectory()
    let crash = try CLI.run(["train", "--simulator", "exit 3", "--task", "two_moons", "--simulations", "100",
                             "--out", Fixture.path(dir, "c")] + Fixture.tinyTraining)
    #expect(crash.status == 1)
    let lines = crash.stderr.split(separator: "\n")
    #expect(lines.count == 1 && lines[0].contains("'exit 3' exited with status 3 during batch 0"), "\(crash.stderr)")
    let hang = try CLI.run(["simulate", "--simulator", "cat > /dev/null", "--task", "two_moons", "--count", "10",
                            "--simulator-timeout", "0.5", "--out", Fixture.path(dir, "h.npz"), "--quiet"])
    #expect(hang.status == 1 && hang.stderr.contains("within 0.5 s"), "\(hang.stderr)")
    // slcp has 5 parameters and 8 data values: `cat` answers 5 columns, which contradicts the task.
    let shape = try CLI.run(["train", "--simulator", "cat", "--task", "slcp", "--simulations", "100",
                             "--out", Fixture.path(dir, "s")] + Fixture.tinyTraining)
    Fixture.expectBadInput(shape, mentioning: "expected [8]")
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func sigkillThenResumeGivesTheSameSimulationsAndWeights() throws {
    let dir = makeTemporaryDirectory()
    let command = "python3 '\(Self.fixtureScript)' slow"
    func arguments(_ out: String) -> [String] {
      ["train", "--simulator", command, "--task", "two_moons", "--simulations", "1600", "--simulator-batch", "40",
       "--workers", "2", "--out", out] + Fixture.tinyTraining
    }
    let whole = Fixture.path(dir, "whole")
    let w = try CLI.run(arguments(whole))
    #expect(w.status == 0, "\(w.stderr)")
    // The same run, killed while it simulates (40 batches of 0.2 s on two workers: about 4 s), then resumed.
    let cut = Fixture.path(dir, "cut")
    let p = Process()
    p.executableURL = CLI.executable!
    p.arguments = arguments(cut)
    p.standardError = FileHandle.nullDevice
    try p.run()
    let batches = { Fixture.listing(URL(fileURLWithPath: cut + "/simulations")).filter { $0.hasPrefix("batch-") } }
    let deadline = Date().addingTimeInterval(60)
    while batches().count < 6 && Date() < deadline { usleep(20_000) }
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    let saved = batches().count
    #expect(saved >= 6 && saved < 40, "killed after \(saved) batches")
    let r = try CLI.run(arguments(cut) + ["--resume"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(batches().sorted() == Fixture.listing(URL(fileURLWithPath: whole + "/simulations")).filter { $0.hasPrefix("batch-") }.sorted())
    for name in batches() {
      let a = try FileIO.readAll(cut + "/simulations/" + name), b = try FileIO.readAll(whole + "/simulations/" + name)
      #expect(a == b, "\(name) differs")
    }
    #expect(try FileIO.readAll(cut + "/weights.safetensors") == FileIO.readAll(whole + "/weights.safetensors"))
  }

  // MARK: The examples in Examples/simulators

  static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Examples/simulators").path

  /// `diffsbi simulate` with `command` and a 2-D box prior; returns (θ, x).
  func simulate(_ command: String, task: String? = nil, count: Int = 2000) throws -> (Matrix, Matrix) {
    let dir = makeTemporaryDirectory()
    let prior = Fixture.path(dir, "prior.json"), out = Fixture.path(dir, "s.npz")
    try AtomicFile.write(#"{"type": "uniform", "low": [-1, -1], "high": [1, 1]}"#, to: prior)
    let r = try CLI.run(["simulate", "--simulator", command, "--count", "\(count)", "--out", out, "--quiet"]
                        + (task.map { ["--task", $0] } ?? ["--prior", prior]))
    #expect(r.status == 0, "\(r.stderr)")
    let f = try NPZ.read(out)
    return (try f.matrix("theta"), try f.matrix("x"))
  }

  /// The standard deviation of x − θ over all entries.
  func noiseScale(_ theta: Matrix, _ x: Matrix) -> Double {
    let d = zip(x.storage, theta.storage).map { Double($0 - $1) }
    let m = d.reduce(0, +) / Double(d.count)
    return (d.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(d.count)).squareRoot()
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func pythonTwoMoonsMatchesTheBuiltInSimulator() throws {
    let (theta, x) = try simulate("python3 '\(Self.examples)/two_moons.py'", task: "two_moons", count: 4000)
    let builtIn = TwoMoonsTask().simulate(theta, seed: 5)
    for j in 0..<2 {
      let a = (0..<x.rows).map { Double(x[$0, j]) }, b = (0..<x.rows).map { Double(builtIn[$0, j]) }
      let ma = a.reduce(0, +) / 4000, mb = b.reduce(0, +) / 4000
      #expect(abs(ma - mb) < 0.03, "column \(j): mean \(ma) vs \(mb)")
      let sa = (a.map { ($0 - ma) * ($0 - ma) }.reduce(0, +) / 4000).squareRoot()
      let sb = (b.map { ($0 - mb) * ($0 - mb) }.reduce(0, +) / 4000).squareRoot()
      #expect(abs(sa - sb) < 0.03, "column \(j): sd \(sa) vs \(sb)")
    }
  }

  static let compiler = ToolProbe.executable("cc") ?? ToolProbe.executable("clang")

  @Test(.enabled(if: compiler != nil, "needs a C compiler (cc or clang) on PATH"))
  func theCExampleCompilesAndServes() throws {
    let binary = Fixture.path(makeTemporaryDirectory(), "gaussian_noise")
    let cc = try runProcess(URL(fileURLWithPath: Self.compiler!),
                            ["-O2", "-o", binary, Self.examples + "/gaussian_noise.c", "-lm"])
    #expect(cc.status == 0, "\(cc.stderr)")
    let (theta, x) = try simulate(binary)
    #expect(abs(noiseScale(theta, x) - 0.1) < 0.01)
  }

  @Test(.enabled(if: ToolProbe.executable("Rscript") != nil, "needs Rscript on PATH"))
  func theRExampleServes() throws {
    let (theta, x) = try simulate("Rscript '\(Self.examples)/gaussian_noise.R'", count: 500)
    #expect(abs(noiseScale(theta, x) - 0.1) < 0.015)
  }
}

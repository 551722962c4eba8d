import DiffusionSBI
import Foundation
import TestSupport
import Testing

/// `train --data FILE --prior SPEC`: the stated prior sets the constraint transforms, is stored with the model and
/// is the training prior of prior adaptation; bad priors and θ outside the support are bad input.
@Suite(.serialized, .enabled(if: CLI.available))
struct PriorFileTests {
  @Test func statedPriorIsStoredAndUsedForPriorAdaptation() throws {
    let dir = makeTemporaryDirectory()
    let sims = Fixture.path(dir, "sims.npz")
    let s = try CLI.run(["simulate", "--task", "two_moons", "--count", "400", "--out", sims, "--quiet"])
    #expect(s.status == 0, "\(s.stderr)")
    let box = Fixture.path(dir, "box.json")
    try AtomicFile.write(#"{"type": "uniform", "low": [-1, -1], "high": [1, 1]}"#, to: box)
    let model = Fixture.path(dir, "m")
    let t = try CLI.run(["train", "--data", sims, "--prior", box, "--out", model] + Fixture.tinyTraining)
    #expect(t.status == 0, "\(t.stderr)")
    let config = try String(contentsOfFile: Fixture.path(dir, "m/config.json"), encoding: .utf8)
    #expect(config.contains("trainingPrior") && config.contains("interval"))
    // Prior adaptation needs the training prior: the stored one, without --training-prior.
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.1, 0.2]), names: ["x_1", "x_2"], to: Fixture.path(dir, "o.csv"))
    let narrow = Fixture.path(dir, "narrow.json")
    try AtomicFile.write(#"{"type": "gaussian", "mean": [0, 0], "std": [0.3, 0.3]}"#, to: narrow)
    let r = try CLI.run(["sample", "--model", model, "--observation", Fixture.path(dir, "o.csv"), "--count", "50",
                         "--prior", narrow, "--out", Fixture.path(dir, "s.npy"), "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
  }

  @Test func badPriorsAreRefused() throws {
    let dir = makeTemporaryDirectory()
    let sims = Fixture.path(dir, "sims.npz")
    _ = try CLI.run(["simulate", "--task", "two_moons", "--count", "200", "--out", sims, "--quiet"])
    func train(_ spec: String) throws -> ProcessResult {
      let file = Fixture.path(dir, "prior.json")
      try AtomicFile.write(spec, to: file)
      return try CLI.run(["train", "--data", sims, "--prior", file, "--out", Fixture.path(dir, "m")] + Fixture.tinyTraining)
    }
    Fixture.expectBadInput(try train(#"{"type": "uniform", "low": [-1], "high": [1]}"#), mentioning: "prior.json")
    Fixture.expectBadInput(try train(#"{"type": "uniform", "low": [0, 0], "high": [1, 1]}"#), mentioning: "support")
    Fixture.expectBadInput(try train(#"{"type": "lognormal", "mean": [0, 0], "std": [1, 1]}"#), mentioning: "support")
    Fixture.expectBadInput(try train("not json"), mentioning: "prior.json")
    #expect(!Fixture.exists(Fixture.path(dir, "m")))
    let withTask = try CLI.run(["train", "--task", "two_moons", "--simulations", "100", "--prior",
                                Fixture.path(dir, "prior.json"), "--out", Fixture.path(dir, "m")] + Fixture.tinyTraining)
    Fixture.expectBadInput(withTask, mentioning: "--prior")
  }
}

/// `diagnose --data HELDOUT` runs the calibration checks on the user's own simulations: on the very (θ, x) rows that
/// `diagnose --task` would simulate, it reports the same metrics.
@Suite(.serialized, .enabled(if: CLI.available))
struct DiagnoseOnDataTests {
  @Test func heldOutSimulationsGiveTheTaskPathsMetrics() throws {
    let (dir, model) = try Fixture.model()
    let task = try TaskRegistry.task(named: "two_moons")
    let (theta, x) = task.sampleJoint(count: 30, seed: 0 &+ 0xCA1B)  // the rows `diagnose --seed 0` simulates
    let heldout = Fixture.path(dir, "heldout.npz")
    try NPZ.write([("theta", theta), ("x", x)], to: heldout)
    let common = ["--model", model, "--datasets", "30", "--draws", "20", "--json", "--quiet", "--seed", "0"]
    let a = try CLI.run(["diagnose", "--task", "two_moons", "--out", Fixture.path(dir, "diag-task")] + common)
    let b = try CLI.run(["diagnose", "--data", heldout, "--out", Fixture.path(dir, "diag-data")] + common)
    #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
    let ja = try Fixture.json(a), jb = try Fixture.json(b)
    for key in ["nrmse", "calibration_error", "contraction", "log_gamma"] {
      #expect(ja[key] as? [Double] == jb[key] as? [Double], "\(key)")
    }
    #expect(ja["tarp_atc"] as? Double == jb["tarp_atc"] as? Double)
    #expect(Fixture.exists(Fixture.path(dir, "diag-data/report.html")))
    // Bad input: wrong width, both sources.
    let narrow = Fixture.path(dir, "narrow.npz")
    try NPZ.write([("theta", theta), ("x", x.columns(0..<1))], to: narrow)
    Fixture.expectBadInput(try CLI.run(["diagnose", "--model", model, "--data", narrow, "--quiet"]),
                           mentioning: "narrow.npz")
    Fixture.expectBadInput(try CLI.run(["diagnose", "--model", model, "--data", heldout, "--task", "two_moons"]),
                           mentioning: "--data")
  }
}

/// `diffsbi check`: an observation from the simulator passes, a shifted one is flagged.
@Suite(.serialized, .enabled(if: CLI.available))
struct MisspecificationCheckTests {
  @Test func shiftedObservationIsFlagged() throws {
    let (dir, model) = try Fixture.model()
    let sims = Fixture.path(dir, "check-sims.npz")
    let s = try CLI.run(["simulate", "--task", "two_moons", "--count", "600", "--seed", "11", "--out", sims, "--quiet"])
    #expect(s.status == 0, "\(s.stderr)")
    let task = try TaskRegistry.task(named: "two_moons")
    let x = task.sampleJoint(count: 1, seed: 77).data
    try CSV.write(x, names: ["x_1", "x_2"], to: Fixture.path(dir, "good.csv"))
    var shifted = x
    shifted[0, 0] += 3
    shifted[0, 1] += 3
    try CSV.write(shifted, names: ["x_1", "x_2"], to: Fixture.path(dir, "bad.csv"))
    func check(_ obs: String) throws -> [String: Any] {
      let r = try CLI.run(["check", "--model", model, "--observation", Fixture.path(dir, obs), "--data", sims,
                           "--bootstrap", "300", "--json", "--quiet"])
      #expect(r.status == 0, "\(r.stderr)")
      return try Fixture.json(r)
    }
    let good = try check("good.csv"), bad = try check("bad.csv")
    #expect(good["misspecified"] as? Bool == false, "\(good)")
    #expect(bad["misspecified"] as? Bool == true, "\(bad)")
    #expect((bad["p_value"] as? Double ?? 1) < 0.01 && (bad["mmd"] as? Double ?? 0) > (good["mmd"] as? Double ?? 1))
    Fixture.expectBadInput(
      try CLI.run(["check", "--model", model, "--observation", Fixture.path(dir, "good.csv"), "--data", sims,
                   "--bootstrap", "3"]), mentioning: "--bootstrap")
  }
}

import DiffusionSBI
import Foundation
import Testing
import TestSupport

/// `train` defaults that converge (validation split, early stopping), `--ensemble K` and `--time-budget`.
@Suite(.serialized, .enabled(if: CLI.available))
struct ConvergenceCLITests {
  static let small = ["--widths", "32,32", "--batch-size", "64", "--quiet", "--json"]

  @Test func offlineTrainingHoldsOutValidationByDefault() throws {
    let dir = makeTemporaryDirectory()
    let r = try CLI.run(["train", "--task", "two_moons", "--simulations", "300", "--epochs", "3",
                         "--out", Fixture.path(dir, "m")] + Self.small)
    #expect(r.status == 0, "\(r.stderr)")
    let j = try Fixture.json(r)
    #expect(j["final_validation_loss"] is Double && j["best_epoch"] is Int && j["epochs"] as? Int == 3)
    let off = try CLI.run(["train", "--task", "two_moons", "--simulations", "300", "--epochs", "3",
                           "--validation-fraction", "0", "--out", Fixture.path(dir, "m0")] + Self.small)
    #expect(off.status == 0, "\(off.stderr)")
    #expect(try Fixture.json(off)["final_validation_loss"] == nil)
    let html = try CLI.run(["report", "--model", Fixture.path(dir, "m"), "--observation", "0", "--quiet"])
    #expect(html.status == 0, "\(html.stderr)")
    let page = try String(contentsOfFile: Fixture.path(dir, "m/report.html"), encoding: .utf8)
    #expect(page.contains("validation loss") && page.contains("best validation loss"))
    Fixture.expectBadInput(
      try CLI.run(["train", "--task", "two_moons", "--simulations", "300", "--validation-fraction", "0",
                   "--patience", "3", "--out", Fixture.path(dir, "bad")] + Self.small), mentioning: "--patience")
  }

  /// Small data and a big network: early stopping fires and the best epoch is kept.
  @Test func earlyStoppingFiresOnAnOverfittingRun() throws {
    let dir = makeTemporaryDirectory()
    let r = try CLI.run(["train", "--task", "two_moons", "--simulations", "120", "--epochs", "400", "--patience", "5",
                         "--widths", "128,128,128", "--batch-size", "16", "--learning-rate", "0.003", "--quiet",
                         "--json", "--out", Fixture.path(dir, "m")])
    #expect(r.status == 0, "\(r.stderr)")
    let j = try Fixture.json(r)
    #expect(j["stopped_early"] as? Bool == true, "\(j)")
    let epochs = try #require(j["epochs"] as? Int), best = try #require(j["best_epoch"] as? Int)
    #expect(epochs < 400 && best <= epochs - 5, "\(j)")
  }

  @Test func ensembleTrainsSamplesAndRefusesWhatItCannotDo() throws {
    let dir = makeTemporaryDirectory()
    let model = Fixture.path(dir, "m")
    let t = try CLI.run(["train", "--task", "two_moons", "--simulations", "300", "--epochs", "2", "--ensemble", "2",
                         "--out", model] + Self.small)
    #expect(t.status == 0, "\(t.stderr)")
    #expect(try Fixture.json(t)["ensemble"] as? Int == 2)
    #expect(Fixture.exists(model + "/member-2/config.json"))
    let obs = Fixture.path(dir, "obs.csv")
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.1, -0.2]), names: ["x_1", "x_2"], to: obs)
    let out = Fixture.path(dir, "s.npy")
    let s = try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "11", "--out", out, "--quiet",
                         "--json"])
    #expect(s.status == 0, "\(s.stderr)")
    #expect(try Fixture.json(s)["ensemble"] as? Int == 2)
    #expect(try NPY.read(out).shape == [11, 2])
    let theta = Fixture.path(dir, "theta.npy")
    try NPY.write(Matrix([[0, 0], [0.2, 0.1]]), to: theta)
    let lp = try CLI.run(["log-prob", "--model", model, "--observation", obs, "--theta", theta, "--ode-steps", "10",
                          "--out", Fixture.path(dir, "lp.npy"), "--quiet"])
    #expect(lp.status == 0, "\(lp.stderr)")
    let d = try CLI.run(["diagnose", "--model", model, "--datasets", "4", "--draws", "10", "--out",
                         Fixture.path(dir, "diag"), "--quiet"])
    #expect(d.status == 0, "\(d.stderr)")
    let rep = try CLI.run(["report", "--model", model, "--observation", "0", "--quiet"])
    #expect(rep.status == 0, "\(rep.stderr)")
    #expect(try String(contentsOfFile: model + "/report.html", encoding: .utf8).contains("member 2"))
    Fixture.expectBadInput(
      try CLI.run(["map", "--model", model, "--observation", obs, "--out", Fixture.path(dir, "map.npy")]),
      mentioning: "ensemble")
    // A missing member is bad input naming it.
    try FileManager.default.removeItem(atPath: model + "/member-2/config.json")
    Fixture.expectBadInput(
      try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "5", "--out", out]),
      mentioning: "member 2")
    Fixture.expectBadInput(
      try CLI.run(["train", "--task", "two_moons", "--simulations", "300", "--ensemble", "0", "--out", model]),
      mentioning: "--ensemble")
    Fixture.expectBadInput(
      try CLI.run(["train", "--task", "two_moons", "--simulations", "300", "--ensemble", "2", "--checkpoint",
                   Fixture.path(dir, "ck"), "--out", model]),
      mentioning: "--ensemble")
  }

  /// An ensemble directory whose two members are the same model draws, for a count of two full batches
  /// (2 × 16,384), exactly the rows that model draws alone, in shuffled order.
  @Test func ensembleOfIdenticalMembersDrawsWhatOneMemberDraws() throws {
    let dir = makeTemporaryDirectory()
    let single = Fixture.path(dir, "single"), pair = Fixture.path(dir, "pair")
    let t = try CLI.run(["train", "--task", "two_moons", "--simulations", "300", "--epochs", "2", "--seed", "3",
                         "--out", single] + Self.small)
    #expect(t.status == 0, "\(t.stderr)")
    let fm = FileManager.default
    try fm.copyItem(atPath: single, toPath: pair)
    try fm.copyItem(atPath: single, toPath: pair + "/member-2")
    let configPath = pair + "/config.json"
    var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath)))
                                as? [String: Any])
    var settings = try #require(config["estimator"] as? [String: Any])
    settings["ensembleMembers"] = 2
    config["estimator"] = settings
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
    let obs = Fixture.path(dir, "obs.csv")
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.1, -0.2]), names: ["x_1", "x_2"], to: obs)
    func draw(_ model: String) throws -> [[Float]] {
      let out = Fixture.path(dir, (model as NSString).lastPathComponent + ".npy")
      let r = try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "32768", "--seed", "5",
                           "--sampler", "dpm-solver-2m", "--steps", "8", "--out", out, "--quiet"])
      #expect(r.status == 0, "\(r.stderr)")
      let a = try NPY.read(out)
      return stride(from: 0, to: a.data.count, by: 2).map { [a.data[$0], a.data[$0 + 1]] }
    }
    let one = try draw(single), two = try draw(pair)
    #expect(one.count == 32768 && one != two)
    let order: ([Float], [Float]) -> Bool = { $0.lexicographicallyPrecedes($1) }
    #expect(one.sorted(by: order) == two.sorted(by: order))
  }

  @Test func timeBudgetStopsNearItsLimit() throws {
    let dir = makeTemporaryDirectory()
    let start = Date()
    let r = try CLI.run(["train", "--task", "two_moons", "--online", "--time-budget", "3s", "--out",
                         Fixture.path(dir, "m")] + Self.small)
    let wall = Date().timeIntervalSince(start)
    #expect(r.status == 0, "\(r.stderr)")
    let j = try Fixture.json(r)
    let seconds = try #require(j["train_seconds"] as? Double)
    #expect(seconds >= 3 && seconds < 8, "\(j)")
    #expect(wall < 30, "the command took \(wall) s")
    #expect(try #require(j["simulations"] as? Int) > 0 && j["time_budget_seconds"] as? Double == 3)
    let config = try String(contentsOfFile: Fixture.path(dir, "m/config.json"), encoding: .utf8)
    #expect(config.contains("\"simulations\""))
    for (args, mention) in [
      (["--online", "--time-budget", "5x"], "--time-budget"),
      (["--online", "--time-budget", "0"], "--time-budget"),
      (["--online", "--time-budget", "-3m"], "--time-budget"),
      (["--time-budget", "10", "--simulations", "100"], "--time-budget"),
      (["--online", "--time-budget", "10", "--simulations", "100"], "--simulations"),
      (["--online", "--time-budget", "10", "--epochs", "3"], "--epochs"),
    ] {
      Fixture.expectBadInput(
        try CLI.run(["train", "--task", "two_moons", "--out", Fixture.path(dir, "bad")] + args), mentioning: mention)
    }
  }
}

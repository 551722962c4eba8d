import DiffusionSBI
import Foundation
import TestSupport
import Testing

/// `diffsbi log-prob` and `diffsbi map` on the fixture two_moons model: shapes, support, files, bad input.
@Suite(.serialized, .enabled(if: CLI.available))
struct DensityCLITests {
  @Test func logProbAndMapWriteTheirFiles() throws {
    let (dir, model) = try Fixture.model()
    let obs = Fixture.path(dir, "density-obs.csv"), theta = Fixture.path(dir, "density-theta.npy")
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.1, -0.2]), names: ["x_1", "x_2"], to: obs)
    try NPY.write(Matrix(rows: 3, cols: 2, storage: [0, 0, 0.5, 0.5, 1.5, 0]), to: theta)
    let out = Fixture.path(dir, "lp.npy")
    let r = try CLI.run(["log-prob", "--model", model, "--observation", obs, "--theta", theta, "--out", out,
                         "--ode-steps", "20", "--json", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    let lp = try NPY.read(out)
    #expect(lp.shape == [3])
    #expect(lp.data[0].isFinite && lp.data[1].isFinite && lp.data[2] == -.infinity, "θ₁ = 1.5 is outside U(−1, 1)")
    #expect(try Fixture.json(r)["outside_support"] as? Int == 1)
    let mapOut = Fixture.path(dir, "map.csv")
    let m = try CLI.run(["map", "--model", model, "--observation", obs, "--draws", "50", "--iterations", "20",
                         "--ode-steps", "20", "--out", mapOut, "--json", "--quiet"])
    #expect(m.status == 0, "\(m.stderr)")
    let mode = try CSV.read(mapOut).matrix
    #expect(mode.rows == 1 && mode.cols == 2 && abs(mode[0, 0]) < 1 && abs(mode[0, 1]) < 1)
    let summary = try Fixture.json(m)
    #expect((summary["log_prob"] as? Double)! >= (summary["best_draw_log_prob"] as? Double)!)
  }

  @Test func badInputIsRefused() throws {
    let (dir, model) = try Fixture.model()
    let theta = Fixture.path(dir, "density-bad-theta.npy")
    try NPY.write(Matrix(rows: 2, cols: 3, storage: [0, 0, 0, 0, 0, 0]), to: theta)
    let obs = Fixture.path(dir, "density-obs2.csv")
    try CSV.write(Matrix(rows: 2, cols: 2, storage: [0, 0, 0.1, 0.1]), names: ["x_1", "x_2"], to: obs)
    Fixture.expectBadInput(
      try CLI.run(["log-prob", "--model", model, "--observation", obs, "--theta", theta, "--out",
                   Fixture.path(dir, "x.npy")]), mentioning: "exactly one")
    let one = Fixture.path(dir, "density-obs3.csv")
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0, 0]), names: ["x_1", "x_2"], to: one)
    Fixture.expectBadInput(
      try CLI.run(["log-prob", "--model", model, "--observation", one, "--theta", theta, "--out",
                   Fixture.path(dir, "x.npy")]), mentioning: "3 columns")
  }

  @Test func sequentialTrainingRecordsItsObservation() throws {
    let dir = makeTemporaryDirectory()
    let obs = Fixture.path(dir, "o1.csv"), other = Fixture.path(dir, "o2.csv")
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.1, -0.2]), names: ["x_1", "x_2"], to: obs)
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.3, 0.2]), names: ["x_1", "x_2"], to: other)
    let m = Fixture.path(dir, "seq")
    let r = try CLI.run(["train", "--task", "two_moons", "--observation", obs, "--rounds", "2", "--simulations", "400",
                         "--out", m, "--json"] + Fixture.tinyTraining)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try Fixture.json(r)["round_simulations"] as? [Int] == [200, 200])
    let config = try String(contentsOfFile: m + "/config.json", encoding: .utf8)
    #expect(config.contains("sequential"))
    let same = try CLI.run(["sample", "--model", m, "--observation", obs, "--count", "10", "--out",
                            Fixture.path(dir, "a.npy"), "--quiet"])
    #expect(same.status == 0 && same.stderr.isEmpty, "\(same.stderr)")
    let warned = try CLI.run(["sample", "--model", m, "--observation", other, "--count", "10", "--out",
                              Fixture.path(dir, "b.npy"), "--quiet"])
    #expect(warned.status == 0 && warned.stderr.contains("trained sequentially"), "\(warned.stderr)")
    Fixture.expectBadInput(
      try CLI.run(["train", "--task", "two_moons", "--rounds", "2", "--simulations", "100", "--out", m]),
      mentioning: "--observation")
  }
}

import DiffusionSBI
import Foundation
import Testing
import TestSupport

/// `diffsbi train/sample/simulate --hierarchical`: the round trip on the hierarchical Gaussian against its closed-form
/// posterior, a built-in task with a summary network, and bad files and models (exit 2, one line).
@Suite(.serialized, .enabled(if: CLI.available))
struct HierarchicalCLITests {
  /// A tiny hierarchical model trained once on the hierarchical Gaussian task (for the bad-input cases).
  static let tinyModel: Result<(dir: URL, model: String), FixtureError> = {
    let dir = makeTemporaryDirectory("diffsbi-hier")
    let model = Fixture.path(dir, "hier")
    do {
      let r = try CLI.run(["train", "--hierarchical", "--task", "hierarchical_gaussian", "--simulations", "300",
                           "--out", model] + Fixture.tinyTraining)
      guard r.status == 0 else { return .failure(FixtureError("training exited \(r.status): \(r.stderr)")) }
    } catch { return .failure(FixtureError("training did not run: \(error)")) }
    return .success((dir, model))
  }()

  func write(_ arrays: [(String, [Int], [Float])], _ dir: URL, _ name: String) throws -> String {
    let path = Fixture.path(dir, name)
    try NPZ.write(try arrays.map { ($0.0, try NDArray(shape: $0.1, data: $0.2)) }, to: path)
    return path
  }

  /// Train on a data file with a stated hyperprior, sample 8 groups, and compare with the exact posterior of
  /// (μ, m_1…m_8): the global mean's draws and every group mean's draws must be near their closed-form means.
  @Test func roundTripMatchesTheClosedFormOnTheHierarchicalGaussian() throws {
    let dir = makeTemporaryDirectory()
    let data = Fixture.path(dir, "train.npz"), model = Fixture.path(dir, "model")
    let s = try CLI.run(["simulate", "--hierarchical", "--task", "hierarchical_gaussian", "--count", "6000",
                         "--seed", "1", "--out", data, "--quiet"])
    #expect(s.status == 0, "\(s.stderr)")
    let file = try NPZ.read(data)
    #expect(try file.require("theta_global").shape == [6000, 1])
    #expect(try file.require("theta_local").shape == [6000, 1])
    #expect(try file.require("x").shape == [6000, 10])

    let hyper = Fixture.path(dir, "hyper.json")
    try AtomicFile.write(#"{"type": "gaussian", "mean": [0], "std": [1]}"#, to: hyper)
    let t = try CLI.run(["train", "--hierarchical", "--data", data, "--prior", hyper, "--epochs", "25", "--widths",
                         "64,64", "--dropout", "0", "--learning-rate", "0.002", "--out", model, "--json", "--quiet"])
    #expect(t.status == 0, "\(t.stderr)")
    let summary = try Fixture.json(t)
    #expect(summary["hierarchical"] as? Bool == true && summary["simulations"] as? Int == 6000)
    #expect(Fixture.exists(Fixture.path(URL(fileURLWithPath: model), "hierarchical.json")))

    let groups = 8
    let obs = Fixture.path(dir, "obs.npz")
    let o = try CLI.run(["simulate", "--hierarchical", "--task", "hierarchical_gaussian", "--groups", "\(groups)",
                         "--seed", "5", "--out", obs, "--quiet"])
    #expect(o.status == 0, "\(o.stderr)")
    let out = Fixture.path(dir, "post.npz")
    let count = 400
    let r = try CLI.run(["sample", "--hierarchical", "--model", model, "--observation", obs, "--count", "\(count)",
                         "--out", out, "--json", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try Fixture.json(r)["groups"] as? Int == groups)
    let post = try NPZ.read(out)
    let eta = try post.require("theta_global"), theta = try post.require("theta_local")
    #expect(eta.shape == [count, 1] && theta.shape == [count, groups, 1])
    #expect(eta.nonFiniteCount == 0 && theta.nonFiniteCount == 0)

    // The closed form: J groups observed together are the flat hierarchical_gaussian task with J groups.
    let x = try NPZ.read(obs).require("x")
    let exact = HierarchicalGaussianGroups().jointTask(groups: groups).posterior(observation: x.data)
    func moments(_ v: [Float]) -> (mean: Double, sd: Double) {
      let m = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
      return (m, (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count - 1)).squareRoot())
    }
    let mu = moments(eta.data), muSD = exact.covariance[0, 0].squareRoot()
    // Generous: the posterior sd of μ is about 0.2; prior draws would be off by about 1.
    #expect(abs(mu.mean - exact.mean[0]) < 2.5 * muSD, "μ: mean \(mu.mean), exact \(exact.mean[0]) ± \(muSD)")
    #expect(mu.sd > 0.3 * muSD && mu.sd < 3 * muSD, "μ: sd \(mu.sd), exact \(muSD)")
    for j in 0..<groups {
      let m = moments((0..<count).map { theta.data[$0 * groups + j] })
      let sd = exact.covariance[j + 1, j + 1].squareRoot()
      #expect(abs(m.mean - exact.mean[j + 1]) < 2.5 * sd, "m_\(j): mean \(m.mean), exact \(exact.mean[j + 1]) ± \(sd)")
    }
  }

  /// A built-in hierarchical task whose groups are sets of trials, with a summary network and flattened (`--summary
  /// none`): the stored hyperprior is used, and observations [J, N, D] give draws of the right shapes.
  @Test func builtInDriftDiffusionTaskWithAndWithoutASummaryNetwork() throws {
    let dir = makeTemporaryDirectory()
    let obs = Fixture.path(dir, "subjects.npz")
    let s = try CLI.run(["simulate", "--hierarchical", "--task", "hierarchical_drift_diffusion", "--groups", "3",
                         "--out", obs, "--quiet"])
    #expect(s.status == 0, "\(s.stderr)")
    let file = try NPZ.read(obs)
    #expect(try file.require("x").shape == [3, 30, 2] && file.require("theta_global").shape == [1, 7])
    for summary in [["deepset", "--summary-dim", "8", "--summary-widths", "16"], ["none"]] {
      let model = Fixture.path(dir, "ddm-\(summary[0])")
      let t = try CLI.run(["train", "--hierarchical", "--task", "hierarchical_drift_diffusion", "--simulations", "256",
                           "--summary"] + summary + ["--out", model, "--json"] + Fixture.tinyTraining)
      #expect(t.status == 0, "\(t.stderr)")
      #expect(try Fixture.json(t)["task"] as? String == "hierarchical_drift_diffusion")
      let out = Fixture.path(dir, "post-\(summary[0]).npz")
      let r = try CLI.run(["sample", "--hierarchical", "--model", model, "--observation", obs, "--count", "20",
                           "--sampler", "euler-maruyama", "--steps", "10", "--minibatch", "2", "--out", out, "--quiet"])
      #expect(r.status == 0, "\(summary[0]): \(r.stderr)")
      let post = try NPZ.read(out)
      #expect(try post.require("theta_global").shape == [20, 7] && post.require("theta_local").shape == [20, 3, 3])
    }
  }

  @Test func badTrainingFilesExitTwoWithOneLine() throws {
    let dir = makeTemporaryDirectory()
    let m = Fixture.path(dir, "m")
    func train(_ file: String, _ extra: [String] = []) throws -> ProcessResult {
      try CLI.run(["train", "--hierarchical", "--data", file, "--out", m] + extra + Fixture.tinyTraining)
    }
    let g: (String, [Int], [Float]) = ("theta_global", [4, 1], [0, 1, 2, 3])
    let l: (String, [Int], [Float]) = ("theta_local", [4, 1], [0, 1, 2, 3])
    let x: (String, [Int], [Float]) = ("x", [4, 2], [Float](repeating: 0.5, count: 8))
    Fixture.expectBadInput(try train(try write([g, x], dir, "missing.npz")), mentioning: "theta_local")
    Fixture.expectBadInput(try train(try write([g, l, ("x", [3, 2], [Float](repeating: 0, count: 6))], dir, "rows.npz")),
                           mentioning: "rows")
    Fixture.expectBadInput(try train(try write([("theta_global", [4, 1, 1], [0, 1, 2, 3]), l, x], dir, "rank.npz")),
                           mentioning: "theta_global")
    Fixture.expectBadInput(try train(try write([g, l, ("x", [4], [0, 1, 2, 3])], dir, "xrank.npz")), mentioning: "[x]")
    var bad = x
    bad.2[3] = .nan
    Fixture.expectBadInput(try train(try write([g, l, bad], dir, "nan.npz"), ["--strict"]), mentioning: "NaN")
    let csv = Fixture.path(dir, "data.csv")
    try AtomicFile.write("theta,x\n1,2\n", to: csv)
    Fixture.expectBadInput(try train(csv), mentioning: ".npz")
    Fixture.expectBadInput(try CLI.run(["train", "--hierarchical", "--task", "three_level", "--simulations", "10",
                                        "--out", m]), mentioning: "three_level")
    Fixture.expectBadInput(try CLI.run(["train", "--hierarchical", "--task", "hierarchical_gaussian", "--simulations",
                                        "10", "--online", "--out", m]), mentioning: "--online")
    Fixture.expectBadInput(try train(try write([g, l, x], dir, "ok.npz"), ["--task", "hierarchical_gaussian"]),
                           mentioning: "not both")
    #expect(!Fixture.exists(m))
  }

  @Test func badObservationsAndModelsExitTwoWithOneLine() throws {
    let (dir, model) = try Self.tinyModel.get()
    let out = Fixture.path(dir, "post.npz")
    func sample(_ obs: String, model: String = model, out: String = out, _ extra: [String] = []) throws -> ProcessResult {
      try CLI.run(["sample", "--hierarchical", "--model", model, "--observation", obs, "--count", "5", "--out", out]
                  + extra)
    }
    var values = [Float](repeating: 0.1, count: 30)
    let good = try write([("x", [3, 10], values)], dir, "good.npz")
    values[12] = .nan
    Fixture.expectBadInput(try sample(try write([("x", [3, 10], values)], dir, "nan.npz")), mentioning: "NaN")
    Fixture.expectBadInput(try sample(try write([("x", [3, 7], [Float](repeating: 0, count: 21))], dir, "cols.npz")),
                           mentioning: "columns")
    Fixture.expectBadInput(try sample(good, out: Fixture.path(dir, "post.npy")), mentioning: ".npz")
    Fixture.expectBadInput(try sample(good, ["--compose"]), mentioning: "--compose")
    Fixture.expectBadInput(try sample(good, ["--prior", try write([], dir, "notjson.npz")]), mentioning: "notjson")
    // A hierarchical model where a single estimator is expected, and the reverse.
    let flat = Fixture.path(dir, "flat.npy")
    try NPY.write(Matrix(rows: 1, cols: 10, storage: [Float](repeating: 0, count: 10)), to: flat)
    Fixture.expectBadInput(try CLI.run(["sample", "--model", model, "--observation", flat, "--out",
                                        Fixture.path(dir, "s.npy")]), mentioning: "hierarchical")
    Fixture.expectBadInput(try CLI.run(["diagnose", "--model", model, "--task", "two_moons", "--out",
                                        Fixture.path(dir, "diag")]), mentioning: "wrong kind of model")
    let (_, single) = try Fixture.model()
    Fixture.expectBadInput(try sample(good, model: single), mentioning: "single posterior estimator")
    #expect(!Fixture.exists(out))
    // The good file works.
    let r = try sample(good, ["--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
  }
}

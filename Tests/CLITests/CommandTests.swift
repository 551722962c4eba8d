import DiffusionSBI
import Foundation
import Testing
import TestSupport

/// End-to-end runs of every command on tiny settings.
@Suite(.serialized, .enabled(if: CLI.available))
struct CommandTests {
  @Test(arguments: ["demo", "tasks", "simulate", "train", "sample", "c2st", "diagnose", "benchmark", "report"])
  func helpOfEveryCommand(_ command: String) throws {
    let r = try CLI.run([command, "--help"])
    #expect(r.status == 0)
    #expect(r.stdout.contains("USAGE: diffsbi \(command)"))
    #expect(r.stdout.contains("--help"))
  }

  @Test func rootHelpListsCommands() throws {
    let r = try CLI.run(["--help"])
    #expect(r.status == 0)
    for c in ["demo", "tasks", "simulate", "train", "sample", "c2st", "diagnose", "benchmark", "report"] {
      #expect(r.stdout.contains(c))
    }
  }

  @Test func tasksListsBuiltInTasks() throws {
    let r = try CLI.run(["tasks", "--json"])
    #expect(r.status == 0)
    let tasks = try #require(try Fixture.json(r)["tasks"] as? [[String: Any]])
    let moons = try #require(tasks.first { $0["name"] as? String == "two_moons" })
    #expect(moons["parameters"] as? Int == 2)
    #expect(moons["data"] as? Int == 2)
    let text = try CLI.run(["tasks"])
    #expect(text.stdout.contains("gaussian_linear"))
  }

  @Test func simulateShardsAreDisjointAndReproducible() throws {
    let dir = makeTemporaryDirectory()
    var shards: [NamedArrays] = []
    for i in 1...2 {
      let out = Fixture.path(dir, "s\(i).npz")
      let r = try CLI.run(["simulate", "--task", "two_moons", "--count", "101", "--seed", "7", "--shard", "\(i)/2",
                           "--out", out, "--json", "--quiet"])
      #expect(r.status == 0, "\(r.stderr)")
      shards.append(try NPZ.read(out))
    }
    let t1 = try shards[0].matrix("theta"), t2 = try shards[1].matrix("theta")
    #expect(t1.rows == 50 && t2.rows == 51)
    #expect(try shards[0].matrix("x").rows == 50)
    #expect(t1.rows(0..<10).storage != t2.rows(0..<10).storage)
    let again = Fixture.path(dir, "again.npz")
    _ = try CLI.run(["simulate", "--task", "two_moons", "--count", "101", "--seed", "7", "--shard", "1/2",
                     "--out", again, "--quiet"])
    #expect(try NPZ.read(again).matrix("theta") == t1)
  }

  @Test func trainOnTaskPrintsSummary() throws {
    let dir = makeTemporaryDirectory()
    let out = Fixture.path(dir, "m")
    let r = try CLI.run(["train", "--task", "two_moons", "--simulations", "400", "--out", out, "--json"]
                        + Fixture.tinyTraining)
    #expect(r.status == 0, "\(r.stderr)")
    let j = try Fixture.json(r)
    #expect((j["parameters"] as? Int ?? 0) > 0)
    #expect(j["simulations"] as? Int == 400)
    #expect(j["train_seconds"] is Double)
    #expect(j["final_loss"] is Double)
    #expect(Fixture.exists(Fixture.path(dir, "m/config.json")))
    #expect(Fixture.exists(Fixture.path(dir, "m/weights.safetensors")))
  }

  @Test func trainWritesCheckpointsAndResumes() throws {
    let dir = makeTemporaryDirectory()
    let ckpt = Fixture.path(dir, "ckpt")
    let args = ["train", "--task", "two_moons", "--simulations", "400", "--checkpoint", ckpt, "--seed", "3"]
      + Fixture.tinyTraining
    let first = try CLI.run(args + ["--out", Fixture.path(dir, "a")])
    #expect(first.status == 0, "\(first.stderr)")
    #expect(Fixture.exists(Fixture.path(dir, "ckpt/checkpoint.safetensors")))
    // Resuming a finished run continues from its last checkpoint and reproduces the same weights.
    let second = try CLI.run(args + ["--resume", "--out", Fixture.path(dir, "b")])
    #expect(second.status == 0, "\(second.stderr)")
    let a = try Data(contentsOf: URL(fileURLWithPath: Fixture.path(dir, "a/weights.safetensors")))
    let b = try Data(contentsOf: URL(fileURLWithPath: Fixture.path(dir, "b/weights.safetensors")))
    #expect(a == b)
    // A checkpoint from a different run is refused as bad input.
    let other = try CLI.run(
      ["train", "--task", "gaussian_linear", "--simulations", "400", "--checkpoint", ckpt, "--resume",
       "--out", Fixture.path(dir, "c")] + Fixture.tinyTraining)
    #expect(other.status == 2, "\(other.stderr)")
    #expect(!Fixture.exists(Fixture.path(dir, "c")))
  }

  @Test func trainOnlineAndWithOtherDesignChoices() throws {
    let dir = makeTemporaryDirectory()
    let r = try CLI.run(["train", "--task", "gaussian_linear", "--simulations", "256", "--online", "--schedule", "cosine",
                         "--prediction", "v", "--weighting", "sigmoid", "--out", Fixture.path(dir, "m"), "--json"]
                        + Fixture.tinyTraining)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try Fixture.json(r)["epochs"] as? Int == 2)
  }

  @Test func trainStreamsShardsAndReadsNpyPairsAndCSV() throws {
    let dir = makeTemporaryDirectory()
    var files: [String] = []
    for i in 1...3 {
      let f = Fixture.path(dir, "shard\(i).npz")
      _ = try CLI.run(["simulate", "--task", "two_moons", "--count", "300", "--shard", "\(i)/3", "--out", f, "--quiet"])
      files.append(f)
    }
    let r = try CLI.run(["train", "--data"] + files + ["--out", Fixture.path(dir, "m"), "--json"] + Fixture.tinyTraining)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try Fixture.json(r)["simulations"] as? Int == 300)

    // NaN rows are dropped and counted; --strict refuses them.
    let arrays = try NPZ.read(files[0])
    var theta = try arrays.matrix("theta")
    let x = try arrays.matrix("x")
    theta[3, 1] = .nan
    try NPY.write(theta, to: Fixture.path(dir, "theta.npy"))
    try NPY.write(x, to: Fixture.path(dir, "x.npy"))
    let pair = try CLI.run(["train", "--data", Fixture.path(dir, "theta.npy"), Fixture.path(dir, "x.npy"),
                            "--out", Fixture.path(dir, "m2"), "--json"] + Fixture.tinyTraining)
    #expect(pair.status == 0, "\(pair.stderr)")
    #expect(try Fixture.json(pair)["dropped_rows"] as? Int == 1)
    let strict = try CLI.run(["train", "--data", Fixture.path(dir, "theta.npy"), Fixture.path(dir, "x.npy"), "--strict",
                              "--out", Fixture.path(dir, "m3")] + Fixture.tinyTraining)
    Fixture.expectBadInput(strict, mentioning: "theta.npy")
    #expect(!Fixture.exists(Fixture.path(dir, "m3")))

    let table = Matrix.hstack([try arrays.matrix("theta"), x])
    try CSV.write(table, names: ["theta_1", "theta_2", "x_1", "x_2"], to: Fixture.path(dir, "sims.csv"))
    let csv = try CLI.run(["train", "--data", Fixture.path(dir, "sims.csv"), "--task", "two_moons",
                           "--out", Fixture.path(dir, "m4"), "--json"] + Fixture.tinyTraining)
    #expect(csv.status == 0, "\(csv.stderr)")
    #expect(try Fixture.json(csv)["simulations"] as? Int == 100)
  }

  @Test func stableConsistencyTrainsResumesAndSamples() throws {
    let dir = makeTemporaryDirectory()
    let ckpt = Fixture.path(dir, "ckpt")
    let args = ["train", "--task", "two_moons", "--simulations", "400", "--method", "stable-consistency",
                "--tangent-warmup", "3", "--checkpoint", ckpt, "--seed", "4"] + Fixture.tinyTraining
    let first = try CLI.run(args + ["--out", Fixture.path(dir, "a"), "--json"])
    #expect(first.status == 0, "\(first.stderr)")
    #expect(try Fixture.json(first)["method"] as? String == "stable-consistency")
    // The weight network is saved with the model and restored bit for bit on resume.
    let second = try CLI.run(args + ["--resume", "--out", Fixture.path(dir, "b")])
    #expect(second.status == 0, "\(second.stderr)")
    let a = try Data(contentsOf: URL(fileURLWithPath: Fixture.path(dir, "a/weights.safetensors")))
    let b = try Data(contentsOf: URL(fileURLWithPath: Fixture.path(dir, "b/weights.safetensors")))
    #expect(a == b)
    let tensors = try SafeTensors.read(Fixture.path(dir, "a/weights.safetensors")).tensors
    #expect(tensors.names.contains("auxiliary.weight.head.kernel"))
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.1, -0.2]), names: ["x1", "x2"], to: Fixture.path(dir, "o.csv"))
    let out = Fixture.path(dir, "s.npy")
    let r = try CLI.run(["sample", "--model", Fixture.path(dir, "a"), "--observation", Fixture.path(dir, "o.csv"),
                         "--count", "64", "--out", out, "--json", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    let j = try Fixture.json(r)
    #expect(j["evaluations"] as? Int == 14)
    #expect(j["sampler"] as? String == "stable-consistency-multistep")
    let s = try NPY.read(out)
    #expect(s.shape == [64, 2] && s.nonFiniteCount == 0)
  }

  @Test func sampleOneAndManyObservations() throws {
    let (dir, model) = try Fixture.model()
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.1, -0.2]), names: ["x1", "x2"], to: Fixture.path(dir, "o1.csv"))
    let one = Fixture.path(dir, "one.npy")
    let r = try CLI.run(["sample", "--model", model, "--observation", Fixture.path(dir, "o1.csv"), "--count", "50",
                         "--out", one, "--json", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    let j = try Fixture.json(r)
    #expect(j["sample_seconds"] is Double)
    #expect(j["steps"] is Int)
    #expect(try NPY.read(one).shape == [50, 2])

    try NPY.write(Matrix(rows: 3, cols: 2, storage: [0.1, -0.2, 0.3, 0.0, -0.1, 0.2]), to: Fixture.path(dir, "o3.npy"))
    let many = Fixture.path(dir, "many.npy")
    let r3 = try CLI.run(["sample", "--model", model, "--observation", Fixture.path(dir, "o3.npy"), "--count", "40",
                          "--sampler", "heun", "--steps", "20", "--out", many, "--quiet"])
    #expect(r3.status == 0, "\(r3.stderr)")
    let a = try NPY.read(many)
    #expect(a.shape == [3, 40, 2])
    #expect(a.nonFiniteCount == 0)

    let csv = Fixture.path(dir, "many.csv")
    let rc = try CLI.run(["sample", "--model", model, "--observation", Fixture.path(dir, "o3.npy"), "--count", "10",
                          "--out", csv, "--quiet"])
    #expect(rc.status == 0)
    let table = try CSV.read(csv)
    #expect(table.names == ["observation", "theta_1", "theta_2"])
    #expect(table.matrix.rows == 30)
  }

  @Test func c2stOfTwoFiles() throws {
    let dir = makeTemporaryDirectory()
    var rng = Xoshiro(seed: 3)
    try NPY.write(rng.normalMatrix(rows: 300, cols: 2), to: Fixture.path(dir, "a.npy"))
    var shifted = rng.normalMatrix(rows: 300, cols: 2)
    for i in 0..<300 { shifted[i, 0] += 3 }
    try NPY.write(shifted, to: Fixture.path(dir, "b.npy"))
    let r = try CLI.run(["c2st", Fixture.path(dir, "a.npy"), Fixture.path(dir, "b.npy"), "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let acc = try #require(try Fixture.json(r)["c2st"] as? Double)
    #expect(acc > 0.85)
    let plain = try CLI.run(["c2st", Fixture.path(dir, "a.npy"), Fixture.path(dir, "a.npy")])
    #expect(Double(plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) != nil)
  }

  @Test func diagnoseAndReport() throws {
    let (dir, model) = try Fixture.model()
    let out = Fixture.path(dir, "diag")
    let r = try CLI.run(["diagnose", "--model", model, "--datasets", "20", "--draws", "20", "--out", out, "--json",
                         "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    let j = try Fixture.json(r)
    #expect((j["nrmse"] as? [Any])?.count == 2)
    #expect(j["tarp_atc"] != nil)
    for f in ["report.html", "metrics.json", "sbc_ecdf.svg", "coverage.svg", "recovery.svg", "z_contraction.svg"] {
      #expect(Fixture.exists(Fixture.path(dir, "diag/\(f)")), "\(f)")
    }
    let rep = try CLI.run(["report", "--model", model, "--samples", "200", "--quiet", "--json"])
    #expect(rep.status == 0, "\(rep.stderr)")
    let html = try String(contentsOfFile: Fixture.path(dir, "model/report.html"), encoding: .utf8)
    #expect(html.contains("<svg"))
    #expect(html.contains("Training loss"))
  }

  @Test func benchmarkWritesTables() throws {
    let dir = makeTemporaryDirectory()
    let out = Fixture.path(dir, "bench")
    let r = try CLI.run(["benchmark", "--tasks", "two_moons", "--simulations", "300", "--observations", "1",
                         "--samplers", "two-step-adaptive,ode-euler:20,tsit5:rms:4", "--samples", "200", "--out", out,
                         "--json"]
                        + Fixture.tinyTraining)
    #expect(r.status == 0, "\(r.stderr)")
    let csv = try String(contentsOfFile: Fixture.path(dir, "bench/results.csv"), encoding: .utf8)
    #expect(csv.hasPrefix("task,method,simulations,sampler,c2st_obs1,c2st_mean,train_seconds,sample_seconds"))
    let lines = csv.split(separator: "\n")
    #expect(lines.count == 4)
    #expect(lines.count == 4 && lines[2].hasPrefix("two_moons,diffusion,300,ode-euler:20,") && lines[2].hasSuffix(",20,,"))
    let md = try String(contentsOfFile: Fixture.path(dir, "bench/results.md"), encoding: .utf8)
    #expect(md.contains("| two_moons | diffusion | 300 | ode-euler:20 |"))
    #expect(md.contains("| two_moons | diffusion | 300 | tsit5:rms:4 |"))
    for bad in ["heun:0", "heun:rms", "nope", "tsit5:rms:x"] {
      let b = try CLI.run(["benchmark", "--tasks", "two_moons", "--simulations", "300", "--samplers", bad,
                           "--out", Fixture.path(dir, "bad")])
      #expect(b.status == 2, "\(bad): \(b.stderr)")
      #expect(b.stderr.contains("--samplers"), "\(b.stderr)")
    }
  }

  /// `--calibration N` measures each model's calibration error as `diagnose --datasets N` does on the model that
  /// `--keep-models` saves.
  @Test func benchmarkMeasuresCalibrationAndKeepsModels() throws {
    let dir = makeTemporaryDirectory()
    let out = Fixture.path(dir, "bench")
    let r = try CLI.run(["benchmark", "--tasks", "two_moons", "--simulations", "300", "--observations", "1",
                         "--samples", "200", "--calibration", "20", "--calibration-draws", "50", "--keep-models",
                         "--out", out, "--json"] + Fixture.tinyTraining)
    #expect(r.status == 0, "\(r.stderr)")
    let rows = try #require(try Fixture.json(r)["rows"] as? [[String: Any]])
    let calibration = try #require(rows.first?["calibration_error"] as? [Double])
    #expect(calibration.count == 2 && calibration.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(calibration)")
    let csv = try String(contentsOfFile: Fixture.path(dir, "bench/results.csv"), encoding: .utf8)
    #expect(csv.split(separator: "\n").first?.hasSuffix("calibration_error_mean,calibration_error_max") == true)
    let d = try CLI.run(["diagnose", "--model", Fixture.path(dir, "bench/models/two_moons-300"), "--datasets", "20",
                         "--draws", "50", "--out", Fixture.path(dir, "diag"), "--json", "--quiet"])
    #expect(d.status == 0, "\(d.stderr)")
    #expect(try Fixture.json(d)["calibration_error"] as? [Double] == calibration)
    Fixture.expectBadInput(
      try CLI.run(["benchmark", "--tasks", "two_moons", "--simulations", "300", "--calibration", "1",
                   "--out", Fixture.path(dir, "bad")]), mentioning: "--calibration")
  }

  /// `--network transformer` trains, saves and samples the token transformer; options of the other network, or
  /// transformer options without it, are refused, and so is composition (a TimeMLP path).
  @Test func transformerNetworkFromTheCommandLine() throws {
    let dir = makeTemporaryDirectory()
    let model = Fixture.path(dir, "m")
    let tiny = ["--epochs", "2", "--batch-size", "64", "--quiet"]
    let net = ["--network", "transformer", "--transformer-width", "16", "--transformer-heads", "2",
               "--transformer-blocks", "1"]
    let r = try CLI.run(["train", "--task", "two_moons", "--simulations", "300", "--out", model, "--json"] + net + tiny)
    #expect(r.status == 0, "\(r.stderr)")
    let config = try String(contentsOfFile: model + "/config.json", encoding: .utf8)
    #expect(config.contains("\"transformer\"") && !config.contains("\"network\""))
    try CSV.write(Matrix(rows: 2, cols: 2, storage: [0.1, -0.2, 0.3, 0.0]), names: ["x1", "x2"],
                  to: Fixture.path(dir, "o.csv"))
    let s = try CLI.run(["sample", "--model", model, "--observation", Fixture.path(dir, "o.csv"), "--count", "100",
                         "--out", Fixture.path(dir, "s.npy"), "--quiet"])
    #expect(s.status == 0, "\(s.stderr)")
    let draws = try NPY.read(Fixture.path(dir, "s.npy"))
    #expect(draws.shape == [2, 100, 2] && draws.nonFiniteCount == 0)
    Fixture.expectBadInput(
      try CLI.run(["sample", "--model", model, "--observation", Fixture.path(dir, "o.csv"), "--compose", "--count", "10",
                   "--out", Fixture.path(dir, "c.npy"), "--quiet"]), mentioning: "TimeMLP")
    let base = ["train", "--task", "two_moons", "--simulations", "300", "--out", Fixture.path(dir, "bad")] + tiny
    for (bad, mention) in [(["--network", "transformer", "--widths", "32"], "--widths"),
                           (["--transformer-width", "32"], "--network transformer"),
                           (["--network", "transformer", "--transformer-width", "16", "--transformer-heads", "3"], "--transformer-heads"),
                           (["--network", "transformer", "--method", "stable-consistency"], "stable-consistency")] {
      Fixture.expectBadInput(try CLI.run(base + bad), mentioning: mention)
    }
  }

  @Test func sampleWithAdaptiveStepOptions() throws {
    let (dir, model) = try Fixture.model()
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.1, -0.2]), names: ["x1", "x2"], to: Fixture.path(dir, "o1.csv"))
    let base = ["sample", "--model", model, "--observation", Fixture.path(dir, "o1.csv"), "--count", "200",
                "--out", Fixture.path(dir, "s.npy"), "--json", "--quiet"]
    // BayesFlow's rule (batch maximum, at least 50 steps of 6 evaluations) against the default (RMS, at least 10).
    let plain = try CLI.run(base + ["--sampler", "tsit5", "--error-norm", "max", "--min-steps", "50"])
    #expect(plain.status == 0, "\(plain.stderr)")
    let rms = try CLI.run(base + ["--sampler", "tsit5"])
    #expect(rms.status == 0, "\(rms.stderr)")
    let (ep, er) = (try Fixture.json(plain)["evaluations"] as? Int ?? 0, try Fixture.json(rms)["evaluations"] as? Int ?? 0)
    #expect(ep >= 300 && er > 0 && er < ep, "evaluations \(ep) and \(er)")
    #expect(try NPY.read(Fixture.path(dir, "s.npy")).nonFiniteCount == 0)
    for bad in [["--steps", "10", "--error-norm", "rms"], ["--sampler", "heun", "--min-steps", "3"],
                ["--error-norm", "l1"], ["--min-steps", "0"]] {
      let r = try CLI.run(base + bad)
      #expect(r.status == 2, "\(bad): \(r.stderr)")
    }
  }

  @Test func demoOnTinySettings() throws {
    let dir = makeTemporaryDirectory()
    let out = Fixture.path(dir, "demo")
    let r = try CLI.run(["demo", "--out", out, "--simulations", "300", "--epochs", "1", "--widths", "16",
                         "--samples", "200", "--datasets", "10", "--draws", "20", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("C2ST"))
    let html = try String(contentsOfFile: Fixture.path(dir, "demo/report.html"), encoding: .utf8)
    #expect(html.components(separatedBy: "<svg").count - 1 >= 6)
    #expect(Fixture.exists(Fixture.path(dir, "demo/model/weights.safetensors")))
  }

  @Test(.enabled(if: ToolProbe.hasNumpy, ToolProbe.numpyMissing))
  func interopScriptReadsSamplesAndWeights() throws {
    let (dir, model) = try Fixture.model()
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.0, 0.1]), names: ["x1", "x2"], to: Fixture.path(dir, "oi.csv"))
    let samples = Fixture.path(dir, "interop.npy")
    _ = try CLI.run(["sample", "--model", model, "--observation", Fixture.path(dir, "oi.csv"), "--count", "64",
                     "--out", samples, "--quiet"])
    let sims = Fixture.path(dir, "interop.npz")
    _ = try CLI.run(["simulate", "--task", "two_moons", "--count", "20", "--out", sims, "--quiet"])
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("scripts/interop_check.py").path
    let r = try runProcess(
      URL(fileURLWithPath: "/usr/bin/env"),
      ["python3", script, "--samples", samples, "--shape", "64,2", "--model", model, "--simulations", sims])
    #expect(r.status == 0, "\(r.stderr)")
  }
}

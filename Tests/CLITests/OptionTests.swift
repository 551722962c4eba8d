import DiffusionSBI
import Foundation
import TestSupport
import Testing

/// Options mean something: one that does not apply is refused with exit code 2 and one line saying why; every
/// kind of training data gets validation, early stopping and checkpoints; `diffsbi-bench` parses with the same
/// option groups.
@Suite(.serialized, .enabled(if: CLI.available))
struct OptionTests {
  static let task = ["train", "--task", "two_moons", "--simulations", "200", "--out", "unused"]

  @Test(arguments: [
    (["--time-power", "-0.6"], "--time-power"),
    (["--coupling", "conditional"], "--coupling"),
    (["--method", "flow-matching", "--schedule", "cosine"], "--schedule"),
    (["--method", "consistency", "--prediction", "v"], "--prediction"),
    (["--schedule", "linear", "--variance", "exploding"], "--variance"),
    (["--tangent-warmup", "10"], "--tangent-warmup"),
    (["--method", "flow-matching", "--condition-ratio", "0.1"], "--condition-ratio"),
    (["--method", "consistency", "--condition-dropout", "0.2"], "--condition-dropout"),
    (["--optimizer", "adam", "--weight-decay", "0.01"], "--weight-decay"),
    (["--validation-fraction", "0", "--patience", "3"], "--patience"),
    (["--online", "--patience", "3"], "--patience"),
    (["--checkpoint-every", "5"], "--checkpoint-every"),
    (["--strict"], "--strict"),
    (["--online", "--weight-decay", "0.01"], "--weight-decay"),
  ])
  func inapplicableOptionIsRefused(extra: [String], option: String) throws {
    let r = try CLI.run(Self.task + extra + Fixture.tinyTraining)
    Fixture.expectBadInput(r, mentioning: option)
  }

  @Test func samplerWithConsistencyModelIsRefused() throws {
    let dir = makeTemporaryDirectory()
    let model = Fixture.path(dir, "m")
    let t = try CLI.run(["train", "--task", "two_moons", "--simulations", "200", "--method", "consistency",
                         "--out", model] + Fixture.tinyTraining)
    #expect(t.status == 0, "\(t.stderr)")
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0.1, 0.2]), names: ["x_1", "x_2"], to: Fixture.path(dir, "o.csv"))
    let r = try CLI.run(["sample", "--model", model, "--observation", Fixture.path(dir, "o.csv"), "--count", "10",
                         "--sampler", "heun", "--out", Fixture.path(dir, "s.npy")])
    Fixture.expectBadInput(r, mentioning: "--sampler")
    #expect(!Fixture.exists(Fixture.path(dir, "s.npy")))
  }

  /// Sharded data get a validation split, early stopping and checkpoints like a single file, and a resumed
  /// sharded run ends with the same weights.
  @Test func shardsValidateStopEarlyAndResume() throws {
    let dir = makeTemporaryDirectory()
    var files: [String] = []
    for i in 1...3 {
      let f = Fixture.path(dir, "shard\(i).npz")
      let s = try CLI.run(["simulate", "--task", "two_moons", "--count", "300", "--shard", "\(i)/3", "--out", f, "--quiet"])
      #expect(s.status == 0, "\(s.stderr)")
      files.append(f)
    }
    let ckpt = Fixture.path(dir, "ckpt")
    let args = ["train", "--data"] + files + ["--validation-fraction", "0.2", "--patience", "5", "--checkpoint", ckpt,
                                              "--json", "--seed", "4"] + Fixture.tinyTraining
    let first = try CLI.run(args + ["--out", Fixture.path(dir, "a")])
    #expect(first.status == 0, "\(first.stderr)")
    let j = try Fixture.json(first)
    #expect(j["final_validation_loss"] is Double)
    #expect(j["simulations"] as? Int == 300)
    #expect(Fixture.exists(Fixture.path(dir, "ckpt/checkpoint.safetensors")))
    let second = try CLI.run(args + ["--resume", "--out", Fixture.path(dir, "b")])
    #expect(second.status == 0, "\(second.stderr)")
    let a = try Data(contentsOf: URL(fileURLWithPath: Fixture.path(dir, "a/weights.safetensors")))
    let b = try Data(contentsOf: URL(fileURLWithPath: Fixture.path(dir, "b/weights.safetensors")))
    #expect(a == b)
    // The checkpoint of sharded data is refused for a single file.
    let single = try CLI.run(["train", "--data", files[0], "--validation-fraction", "0.2", "--patience", "5",
                              "--checkpoint", ckpt, "--resume", "--seed", "4", "--out", Fixture.path(dir, "c")]
                             + Fixture.tinyTraining)
    #expect(single.status == 2, "\(single.stderr)")
  }

  /// `diffsbi-bench` refuses a bad value instead of falling back to a default.
  @Test func benchRefusesBadValues() throws {
    let bench = try #require(builtExecutable("diffsbi-bench"), "diffsbi-bench is not built next to the tests")
    for extra in [["--epochs", "many"], ["--method", "flow-matching", "--schedule", "edm"], ["--frobnicate"]] {
      let r = try runProcess(bench, ["sbibm"] + extra)
      #expect(r.status == 2, "\(extra): \(r.stderr)")
      #expect(r.stderr.split(separator: "\n").count == 1, "\(extra): \(r.stderr)")
    }
  }
}

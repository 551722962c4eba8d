import DiffusionSBI
import Foundation
import Testing
import TestSupport

/// Every bad-input case: exit code 2, one line on stderr naming the problem (and the file), no output left behind.
@Suite(.serialized, .enabled(if: CLI.available))
struct BadInputTests {
  @Test func unknownTask() throws {
    let dir = makeTemporaryDirectory()
    let r = try CLI.run(["simulate", "--task", "three_moons", "--count", "10", "--out", Fixture.path(dir, "s.npz")])
    Fixture.expectBadInput(r, mentioning: "three_moons")
    #expect(Fixture.listing(dir).isEmpty)
  }

  @Test func unknownOptionAndBadEnumValue() throws {
    Fixture.expectBadInput(try CLI.run(["train", "--task", "two_moons", "--simulations", "10", "--frobnicate", "--out", "m"]), mentioning: "--frobnicate")
    Fixture.expectBadInput(try CLI.run(["train", "--task", "two_moons", "--simulations", "10", "--schedule", "zigzag",
                                        "--out", "m"]), mentioning: "zigzag")
    Fixture.expectBadInput(try CLI.run(["nonsense"]), mentioning: "nonsense")
  }

  @Test func negativeTangentWarmup() throws {
    let dir = makeTemporaryDirectory()
    let r = try CLI.run(["train", "--task", "two_moons", "--simulations", "100", "--method", "stable-consistency",
                         "--tangent-warmup", "-5", "--out", Fixture.path(dir, "m")] + Fixture.tinyTraining)
    Fixture.expectBadInput(r, mentioning: "--tangent-warmup")
    #expect(Fixture.listing(dir).isEmpty)
  }

  @Test func missingAndUnreadableFiles() throws {
    let dir = makeTemporaryDirectory()
    let missing = Fixture.path(dir, "nope.npz")
    Fixture.expectBadInput(try CLI.run(["train", "--data", missing, "--out", Fixture.path(dir, "m")] + Fixture.tinyTraining),
                           mentioning: "nope.npz")
    Fixture.expectBadInput(try CLI.run(["c2st", missing, missing]), mentioning: "nope.npz")
    let garbage = Fixture.path(dir, "garbage.npz")
    try AtomicFile.write("this is not a zip archive", to: garbage)
    Fixture.expectBadInput(try CLI.run(["train", "--data", garbage, "--out", Fixture.path(dir, "m")] + Fixture.tinyTraining),
                           mentioning: "garbage.npz")
    // A file without read permission (unless running as root, which can read it anyway).
    let locked = Fixture.path(dir, "locked.npy")
    try NPY.write(Matrix(rows: 2, cols: 2), to: locked)
    try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: locked)
    if FileManager.default.isReadableFile(atPath: locked) == false {
      Fixture.expectBadInput(try CLI.run(["c2st", locked, locked]), mentioning: "locked.npy")
    }
    // A directory where a file is expected cannot be read, even by root.
    let folder = Fixture.path(dir, "folder.npy")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    Fixture.expectBadInput(try CLI.run(["c2st", folder, folder]), mentioning: "folder.npy")
    #expect(!Fixture.exists(Fixture.path(dir, "m")))
  }

  @Test func mismatchedRowsAndWrongShapes() throws {
    let dir = makeTemporaryDirectory()
    try NPY.write(Matrix(rows: 10, cols: 2), to: Fixture.path(dir, "theta.npy"))
    try NPY.write(Matrix(rows: 9, cols: 2), to: Fixture.path(dir, "x.npy"))
    let out = Fixture.path(dir, "m")
    Fixture.expectBadInput(
      try CLI.run(["train", "--data", Fixture.path(dir, "theta.npy"), Fixture.path(dir, "x.npy"), "--out", out]
                  + Fixture.tinyTraining), mentioning: "rows")
    try NPZ.write([("theta", Matrix(rows: 5, cols: 2)), ("x", Matrix(rows: 6, cols: 3))], to: Fixture.path(dir, "bad.npz"))
    Fixture.expectBadInput(try CLI.run(["train", "--data", Fixture.path(dir, "bad.npz"), "--out", out]
                                       + Fixture.tinyTraining), mentioning: "bad.npz")
    try NPY.write(NDArray(shape: [2, 3, 4], data: [Float](repeating: 0, count: 24)), to: Fixture.path(dir, "t3.npy"))
    try NPY.write(Matrix(rows: 2, cols: 2), to: Fixture.path(dir, "x2.npy"))
    Fixture.expectBadInput(try CLI.run(["train", "--data", Fixture.path(dir, "t3.npy"), Fixture.path(dir, "x2.npy"),
                                        "--out", out] + Fixture.tinyTraining), mentioning: "t3.npy")
    // Shards of different widths.
    try NPZ.write([("theta", Matrix(rows: 5, cols: 2)), ("x", Matrix(rows: 5, cols: 2))], to: Fixture.path(dir, "a.npz"))
    try NPZ.write([("theta", Matrix(rows: 5, cols: 3)), ("x", Matrix(rows: 5, cols: 2))], to: Fixture.path(dir, "b.npz"))
    Fixture.expectBadInput(try CLI.run(["train", "--data", Fixture.path(dir, "a.npz"), Fixture.path(dir, "b.npz"),
                                        "--out", out] + Fixture.tinyTraining), mentioning: "b.npz")
    #expect(!Fixture.exists(out))
    // An observation of the wrong width for the model.
    let (mdir, model) = try Fixture.model()
    try NPY.write(Matrix(rows: 1, cols: 3), to: Fixture.path(mdir, "wide.npy"))
    let samples = Fixture.path(mdir, "wide_out.npy")
    Fixture.expectBadInput(try CLI.run(["sample", "--model", model, "--observation", Fixture.path(mdir, "wide.npy"),
                                        "--count", "5", "--out", samples]), mentioning: "wide.npy")
    #expect(!Fixture.exists(samples))
  }

  @Test func nanObservation() throws {
    let (dir, model) = try Fixture.model()
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [.nan, 0.1]), names: ["x1", "x2"], to: Fixture.path(dir, "nan.csv"))
    let out = Fixture.path(dir, "nan_out.npy")
    Fixture.expectBadInput(try CLI.run(["sample", "--model", model, "--observation", Fixture.path(dir, "nan.csv"),
                                        "--count", "5", "--out", out]), mentioning: "nan.csv")
    #expect(!Fixture.exists(out))
  }

  @Test func corruptAndTruncatedModel() throws {
    let (dir, model) = try Fixture.model()
    let obs = Fixture.path(dir, "ok.csv")
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0, 0.1]), names: ["x1", "x2"], to: obs)
    let copy = Fixture.path(dir, "truncated_model")
    try? FileManager.default.removeItem(atPath: copy)
    try FileManager.default.copyItem(atPath: model, toPath: copy)
    let weights = Fixture.path(dir, "truncated_model/weights.safetensors")
    let bytes = try FileIO.readAll(weights)
    try AtomicFile.write(Array(bytes.prefix(bytes.count / 2)), to: weights)
    let out = Fixture.path(dir, "t_out.npy")
    Fixture.expectBadInput(try CLI.run(["sample", "--model", copy, "--observation", obs, "--count", "5", "--out", out]),
                           mentioning: "truncated_model")
    #expect(!Fixture.exists(out))

    let corrupt = Fixture.path(dir, "corrupt_model")
    try? FileManager.default.removeItem(atPath: corrupt)
    try FileManager.default.copyItem(atPath: model, toPath: corrupt)
    try AtomicFile.write("{ not json", to: Fixture.path(dir, "corrupt_model/config.json"))
    Fixture.expectBadInput(try CLI.run(["sample", "--model", corrupt, "--observation", obs, "--count", "5", "--out", out]),
                           mentioning: "corrupt_model")
    Fixture.expectBadInput(try CLI.run(["sample", "--model", Fixture.path(dir, "no_model"), "--observation", obs,
                                        "--count", "5", "--out", out]), mentioning: "no_model")
    #expect(!Fixture.exists(out))
  }

  @Test func badOutputPathIsRefusedBeforeWork() throws {
    let (dir, model) = try Fixture.model()
    let obs = Fixture.path(dir, "ok2.csv")
    try CSV.write(Matrix(rows: 1, cols: 2, storage: [0, 0.1]), names: ["x1", "x2"], to: obs)
    Fixture.expectBadInput(try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "5",
                                        "--out", Fixture.path(dir, "samples.txt")]), mentioning: "samples.txt")
    Fixture.expectBadInput(try CLI.run(["simulate", "--task", "two_moons", "--count", "5", "--out",
                                        Fixture.path(dir, "missing_dir/s.npz")]), mentioning: "missing_dir")
    Fixture.expectBadInput(try CLI.run(["simulate", "--task", "two_moons", "--count", "5", "--shard", "3/2",
                                        "--out", Fixture.path(dir, "s.npz")]), mentioning: "3/2")
  }
}

import DiffusionSBI
import Foundation
import TestSupport
import Testing

/// Images from the command line: `simulate --task grf_8` writes x [n, 8, 8]; `train --summary conv2d` takes it
/// and [n, H, W, C] files; `sample` reads one image [H, W], several [k, H, W] or [k, H, W, C]; `diagnose` runs on
/// the model's task; image data without `--summary` and images of the wrong shape are bad input.
@Suite(.serialized, .enabled(if: CLI.available))
struct ImageDataTests {
  @Test func gaussianRandomFieldsSimulateTrainSampleAndDiagnose() throws {
    let dir = makeTemporaryDirectory()
    let sims = Fixture.path(dir, "sims.npz")
    let s = try CLI.run(["simulate", "--task", "grf_8", "--count", "300", "--out", sims, "--quiet"])
    #expect(s.status == 0, "\(s.stderr)")
    let x = try NPZFile(path: sims).array("x")
    #expect(x.shape == [300, 8, 8])
    let model = Fixture.path(dir, "m")
    let t = try CLI.run(["train", "--task", "grf_8", "--simulations", "300", "--summary", "conv2d", "--out", model,
                         "--json"] + Fixture.tinyTraining)
    #expect(t.status == 0, "\(t.stderr)")
    let config = try String(contentsOfFile: Fixture.path(dir, "m/config.json"), encoding: .utf8)
    #expect(config.contains("convolutional"))
    let one = Fixture.path(dir, "one.npy"), many = Fixture.path(dir, "many.npy"), channels = Fixture.path(dir, "c.npy")
    try NPY.write(try NDArray(shape: [8, 8], data: Array(x.data[0..<64])), to: one)
    try NPY.write(try NDArray(shape: [3, 8, 8], data: Array(x.data[0..<192])), to: many)
    try NPY.write(try NDArray(shape: [2, 8, 8, 1], data: Array(x.data[0..<128])), to: channels)
    try expectSamples(model: model, observations: [(one, 1), (many, 3), (channels, 2)], count: 10, in: dir)
    let wrong = Fixture.path(dir, "wrong.npy")
    try NPY.write(try NDArray(shape: [4, 16], data: Array(x.data[0..<64])), to: wrong)
    let w = try CLI.run(["sample", "--model", model, "--observation", wrong, "--count", "10",
                         "--out", Fixture.path(dir, "w.npy"), "--quiet"])
    #expect(w.status == 2 && w.stderr.contains("images of shape [8, 8, 1]"), "\(w.stderr)")
    let d = try CLI.run(["diagnose", "--model", model, "--datasets", "10", "--draws", "20",
                         "--out", Fixture.path(dir, "diag"), "--json", "--quiet"])
    #expect(d.status == 0, "\(d.stderr)")
    #expect(try Fixture.json(d)["nrmse_range"] as? [Double] != nil)
  }

  @Test func imagesWithChannelsAndRefusals() throws {
    let dir = makeTemporaryDirectory()
    var rng = Xoshiro(seed: 3)
    let theta = rng.normalMatrix(rows: 200, cols: 2)
    let x = (0..<(200 * 8 * 4 * 2)).map { _ in Float(rng.nextNormal()) }
    let sims = Fixture.path(dir, "sims.npz")
    try NPZ.write([("theta", NDArray(theta)), ("x", try NDArray(shape: [200, 8, 4, 2], data: x))], to: sims)
    let model = Fixture.path(dir, "m")
    let t = try CLI.run(["train", "--data", sims, "--summary", "conv2d", "--summary-widths", "4,4", "--out", model]
                        + Fixture.tinyTraining)
    #expect(t.status == 0, "\(t.stderr)")
    // Images need a summary network (or --summary none); set networks refuse them; three blocks halve 4 px below 1.
    for (extra, message) in [
      ([String](), "choose --summary"), (["--summary", "deepset"], "use --summary conv2d"),
      (["--summary", "conv2d", "--summary-widths", "4,4,4"], "below one pixel"),
    ] {
      let r = try CLI.run(["train", "--data", sims, "--out", Fixture.path(dir, "bad")] + extra + Fixture.tinyTraining)
      #expect(r.status == 2 && r.stderr.contains(message), "\(extra): \(r.stderr)")
    }
  }
}

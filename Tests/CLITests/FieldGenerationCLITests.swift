import DiffusionSBI
import Foundation
import TestSupport
import Testing

/// Field generation from the command line: `train --target field` on grf_8 (task and data file), `generate` writes
/// [rows, H, W] or [rows, count, H, W], `diagnose` runs the classifier test and writes its report; `sample` on a
/// field generator, `generate` on a posterior estimator and options that do not apply are bad input.
@Suite(.serialized, .enabled(if: CLI.available))
struct FieldGenerationCLITests {
  static let tiny = ["--epochs", "2", "--batch-size", "32", "--unet-widths", "8,8", "--unet-blocks", "1", "--quiet"]

  @Test func trainGenerateAndDiagnose() throws {
    let dir = makeTemporaryDirectory()
    let model = Fixture.path(dir, "field")
    let t = try CLI.run(["train", "--task", "grf_8", "--target", "field", "--simulations", "300", "--out", model,
                         "--json"] + Self.tiny)
    #expect(t.status == 0, "\(t.stderr)")
    let summary = try Fixture.json(t)
    #expect(summary["target"] as? String == "field" && summary["image_shape"] as? [Int] == [8, 8, 1])
    let config = try String(contentsOfFile: Fixture.path(dir, "field/config.json"), encoding: .utf8)
    #expect(config.contains("\"unet\""))
    let theta = Fixture.path(dir, "theta.npy")
    try NPY.write(try NDArray(shape: [3, 2], data: [0, 3, 0.2, 2.5, -0.3, 3.5]), to: theta)
    for (count, shape) in [(1, [3, 8, 8]), (4, [3, 4, 8, 8])] {
      let out = Fixture.path(dir, "fields-\(count).npy")
      let g = try CLI.run(["generate", "--model", model, "--theta", theta, "--count", "\(count)", "--out", out, "--quiet"])
      #expect(g.status == 0, "\(g.stderr)")
      let fields = try NPY.read(out)
      #expect(fields.shape == shape)
      #expect(fields.data.allSatisfy { $0.isFinite })
    }
    let d = try CLI.run(["diagnose", "--model", model, "--datasets", "40", "--classifier-epochs", "2",
                         "--out", Fixture.path(dir, "diag"), "--json", "--quiet"])
    #expect(d.status == 0, "\(d.stderr)")
    let metrics = try Fixture.json(d)
    let c2st = try #require(metrics["c2st"] as? Double)
    #expect(c2st >= 0 && c2st <= 1)
    #expect(metrics["validation_images"] as? Int == 8 && metrics["training_images"] as? Int == 80)
    let report = try String(contentsOfFile: Fixture.path(dir, "diag/report.html"), encoding: .utf8)
    #expect(report.contains("Fields for the same θ"))
    // A field generator is not a posterior estimator, and the reverse.
    let s = try CLI.run(["sample", "--model", model, "--observation", theta, "--out", Fixture.path(dir, "s.npy"), "--quiet"])
    #expect(s.status == 2 && s.stderr.contains("diffsbi generate"), "\(s.stderr)")
    let posterior = try Fixture.model().model
    let g = try CLI.run(["generate", "--model", posterior, "--theta", theta, "--out", Fixture.path(dir, "g.npy"), "--quiet"])
    #expect(g.status == 2 && g.stderr.contains("not a field generator"), "\(g.stderr)")
    let wrong = Fixture.path(dir, "wrong.npy")
    try NPY.write(try NDArray(shape: [2, 3], data: [0, 3, 1, 0, 3, 1]), to: wrong)
    let w = try CLI.run(["generate", "--model", model, "--theta", wrong, "--out", Fixture.path(dir, "w.npy"), "--quiet"])
    #expect(w.status == 2 && w.stderr.contains("expects 2"), "\(w.stderr)")
  }

  @Test func dataFilesAndRefusals() throws {
    let dir = makeTemporaryDirectory()
    let sims = Fixture.path(dir, "sims.npz")
    let s = try CLI.run(["simulate", "--task", "grf_8", "--count", "200", "--out", sims, "--quiet"])
    #expect(s.status == 0, "\(s.stderr)")
    let t = try CLI.run(["train", "--data", sims, "--target", "field", "--out", Fixture.path(dir, "m")] + Self.tiny)
    #expect(t.status == 0, "\(t.stderr)")
    for (extra, message) in [
      (["--task", "two_moons", "--simulations", "100", "--target", "field"], "needs images"),
      (["--task", "grf_8", "--simulations", "100", "--target", "field", "--summary", "conv2d"], "does not take --summary"),
      (["--task", "grf_8", "--simulations", "100", "--unet-widths", "8"], "need --target field"),
      (["--task", "grf_8", "--simulations", "100", "--target", "field", "--unet-widths", "8,8,8,8,8"], "divisible by 16"),
    ] {
      let r = try CLI.run(["train", "--out", Fixture.path(dir, "bad"), "--epochs", "1", "--quiet"] + extra)
      #expect(r.status == 2 && r.stderr.contains(message), "\(extra): \(r.stderr)")
    }
  }
}

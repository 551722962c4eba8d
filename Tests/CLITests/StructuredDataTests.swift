import DiffusionSBI
import Foundation
import TestSupport
import Testing

/// Runs `sample` on each observation file (with its number of observation rows) and checks the shape of the
/// samples of the model's two parameters: [count, 2] for one row, [rows, count, 2] for several.
func expectSamples(model: String, observations: [(file: String, rows: Int)], count: Int, in dir: URL) throws {
  for (file, rows) in observations {
    let out = Fixture.path(dir, "s.npy")
    let r = try CLI.run(["sample", "--model", model, "--observation", file, "--count", "\(count)", "--out", out,
                         "--json", "--quiet"])
    #expect(r.status == 0, "\(file): \(r.stderr)")
    #expect(try Fixture.json(r)["observations"] as? Int == rows)
    #expect(try NPY.read(out).shape == (rows == 1 ? [count, 2] : [rows, count, 2]))
  }
}

/// Structured data from the command line: x of shape [n, N, D] with an `x_mask`, `train --summary`, and
/// observations as [N, D], [k, N, D] or an .npz with a mask in `sample`, `check` and `diagnose`; every malformed
/// shape is bad input with one line.
@Suite(.serialized, .enabled(if: CLI.available))
struct StructuredDataTests {
  /// Sets of 3–6 draws x_i ~ N(θ, I₂), θ ~ N(0, I₂), padded to 6 items (mask 0).
  static func sets(_ n: Int, seed: UInt64) throws -> (theta: NDArray, x: NDArray, mask: NDArray) {
    var rng = Xoshiro(seed: seed)
    let theta = rng.normalMatrix(rows: n, cols: 2)
    var x = [Float](repeating: 0, count: n * 12), mask = [Float](repeating: 0, count: n * 6)
    for r in 0..<n {
      let size = 3 + rng.nextInt(below: 4)
      for i in 0..<size {
        mask[r * 6 + i] = 1
        for k in 0..<2 { x[r * 12 + 2 * i + k] = theta[r, k] + Float(rng.nextNormal()) }
      }
    }
    return (NDArray(theta), try NDArray(shape: [n, 6, 2], data: x), try NDArray(shape: [n, 6], data: mask))
  }

  @Test func setDataTrainSampleCheckAndDiagnose() throws {
    let dir = makeTemporaryDirectory()
    let (theta, x, mask) = try Self.sets(600, seed: 1)
    let sims = Fixture.path(dir, "sims.npz")
    try NPZ.write([("theta", theta), ("x", x), ("x_mask", mask)], to: sims)
    let model = Fixture.path(dir, "m")
    let t = try CLI.run(["train", "--data", sims, "--summary", "set-transformer", "--summary-dim", "6",
                         "--summary-widths", "16", "--out", model, "--json"] + Fixture.tinyTraining)
    #expect(t.status == 0, "\(t.stderr)")
    #expect(try Fixture.json(t)["dropped_rows"] as? Int == 0)  // padding is not bad data
    let config = try String(contentsOfFile: Fixture.path(dir, "m/config.json"), encoding: .utf8)
    #expect(config.contains("setTransformer") && config.contains("channels"))
    // One observation [N, D] with fewer items than the model's 6, several [k, N, D], and an .npz with a mask.
    let one = Fixture.path(dir, "one.npy"), many = Fixture.path(dir, "many.npy"), masked = Fixture.path(dir, "m.npz")
    try NPY.write(try NDArray(shape: [4, 2], data: Array(x.data[0..<8])), to: one)
    try NPY.write(try NDArray(shape: [3, 6, 2], data: Array(x.data[0..<36])), to: many)
    try NPZ.write([("x", try NDArray(shape: [2, 6, 2], data: Array(x.data[0..<24]))),
                   ("x_mask", try NDArray(shape: [2, 6], data: Array(mask.data[0..<12])))], to: masked)
    try expectSamples(model: model, observations: [(one, 1), (many, 3), (masked, 2)], count: 20, in: dir)
    let c = try CLI.run(["check", "--model", model, "--observation", one, "--data", sims, "--bootstrap", "100",
                         "--out", Fixture.path(dir, "check"), "--json", "--quiet"])
    #expect(c.status == 0, "\(c.stderr)")
    let svg = try String(contentsOfFile: Fixture.path(dir, "check/null_distribution.svg"), encoding: .utf8)
    #expect(svg.contains("class=\"bar\"") && svg.contains("class=\"observed\""))
    #expect(Fixture.exists(Fixture.path(dir, "check/report.html")))
    // Composition takes structured observations too: three sets of one θ give one posterior.
    let composed = Fixture.path(dir, "composed.npy"), prior = Fixture.path(dir, "prior.json")
    try AtomicFile.write(#"{"type": "gaussian", "mean": [0, 0], "std": [1, 1]}"#, to: prior)
    let k = try CLI.run(["sample", "--model", model, "--observation", many, "--compose", "--training-prior", prior,
                         "--count", "20", "--out", composed, "--quiet"])
    #expect(k.status == 0, "\(k.stderr)")
    #expect(try NPY.read(composed).shape == [20, 2])
    let p = try #require(try Fixture.json(c)["p_value"] as? Double)
    #expect(p > 0 && p <= 1)
    let d = try CLI.run(["diagnose", "--model", model, "--data", sims, "--datasets", "12", "--draws", "20",
                         "--out", Fixture.path(dir, "diag"), "--json", "--quiet"])
    #expect(d.status == 0, "\(d.stderr)")
    #expect(try Fixture.json(d)["datasets"] as? Int == 12)  // padded data sets are used, not dropped
  }

  @Test func malformedStructuredInputIsBadInput() throws {
    let dir = makeTemporaryDirectory()
    let (theta, x, mask) = try Self.sets(200, seed: 2)
    let sims = Fixture.path(dir, "sims.npz")
    try NPZ.write([("theta", theta), ("x", x), ("x_mask", mask)], to: sims)
    func train(_ file: String, _ extra: [String]) throws -> ProcessResult {
      try CLI.run(["train", "--data", file, "--out", Fixture.path(dir, "bad")] + extra + Fixture.tinyTraining)
    }
    Fixture.expectBadInput(try train(sims, []), mentioning: "--summary")
    Fixture.expectBadInput(try train(sims, ["--summary", "none"]), mentioning: "x_mask")
    let wrongMask = Fixture.path(dir, "wrong.npz")
    try NPZ.write([("theta", theta), ("x", x), ("x_mask", try NDArray(shape: [200, 5], data: Array(mask.data[0..<1000])))],
                  to: wrongMask)
    Fixture.expectBadInput(try train(wrongMask, ["--summary", "deepset"]), mentioning: "x_mask")
    let notBinary = Fixture.path(dir, "two.npz")
    try NPZ.write([("theta", theta), ("x", x), ("x_mask", try NDArray(shape: [200, 6], data: mask.data.map { $0 * 2 }))],
                  to: notBinary)
    Fixture.expectBadInput(try train(notBinary, ["--summary", "deepset"]), mentioning: "x_mask")
    let flat = Fixture.path(dir, "flat.npz")
    try NPZ.write([("theta", theta), ("x", try NDArray(shape: [200, 12], data: x.data))], to: flat)
    Fixture.expectBadInput(try train(flat, ["--summary", "deepset"]), mentioning: "[n, N, D]")
    Fixture.expectBadInput(try train(sims, ["--summary-dim", "4"]), mentioning: "--summary")
    Fixture.expectBadInput(try train(sims, ["--summary", "deepset", "--summary-stride", "2"]),
                           mentioning: "--summary-stride")
    // Normal draws go below −1, outside log1p's domain.
    Fixture.expectBadInput(try train(sims, ["--summary", "deepset", "--data-transform", "log1p"]), mentioning: "log1p")
    Fixture.expectBadInput(try train(sims, ["--summary", "set-transformer", "--summary-widths", "10"]),
                           mentioning: "heads")
    #expect(!Fixture.exists(Fixture.path(dir, "bad")))

    let model = Fixture.path(dir, "m")
    let t = try CLI.run(["train", "--data", sims, "--summary", "deepset", "--out", model] + Fixture.tinyTraining)
    #expect(t.status == 0, "\(t.stderr)")
    func sample(_ array: NDArray) throws -> ProcessResult {
      let file = Fixture.path(dir, "obs.npy")
      try NPY.write(array, to: file)
      return try CLI.run(["sample", "--model", model, "--observation", file, "--count", "5",
                          "--out", Fixture.path(dir, "s.npy")])
    }
    Fixture.expectBadInput(try sample(try NDArray(shape: [4, 3], data: [Float](repeating: 0, count: 12))),
                           mentioning: "obs.npy")
    Fixture.expectBadInput(try sample(try NDArray(shape: [7, 2], data: [Float](repeating: 0, count: 14))),
                           mentioning: "items")
    Fixture.expectBadInput(try sample(try NDArray(shape: [2, 2], data: [0, .nan, 1, 1])), mentioning: "obs.npy")
    Fixture.expectBadInput(try sample(try NDArray(shape: [2, 2], data: [0, .infinity, 1, 1])), mentioning: "obs.npy")
  }
}

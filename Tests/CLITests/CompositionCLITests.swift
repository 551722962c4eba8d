import DiffusionSBI
import Foundation
import Testing
import TestSupport

/// `diffsbi sample --compose / --prior / --constraints / --cfg-scale` and `diffsbi train --condition-dropout`.
@Suite(.serialized, .enabled(if: CLI.available))
struct CompositionCLITests {
  /// Three observations of the shared two_moons model in a fresh .npy file.
  func observations(_ dir: URL, _ name: String) throws -> String {
    let path = Fixture.path(dir, name)
    try NPY.write(Matrix(rows: 3, cols: 2, storage: [0.1, -0.2, 0.12, -0.15, 0.08, -0.22]), to: path)
    return path
  }

  func write(_ text: String, _ dir: URL, _ name: String) throws -> String {
    let path = Fixture.path(dir, name)
    try AtomicFile.write(text, to: path)
    return path
  }

  @Test func composeEveryRule() throws {
    let (dir, model) = try Fixture.model()
    let obs = try observations(dir, "compose_obs.npy")
    for rule in ["direct", "gauss", "auto-gauss", "jac"] {
      let out = Fixture.path(dir, "composed_\(rule).npy")
      let r = try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "30", "--compose",
                           "--composition", rule, "--minibatch", "2", "--damping", "0.5,1", "--sampler",
                           "euler-maruyama", "--steps", "20", "--out", out, "--json", "--quiet"])
      #expect(r.status == 0, "\(rule): \(r.stderr)")
      let j = try Fixture.json(r)
      #expect(j["composed"] as? Bool == true && j["observations"] as? Int == 3)
      let a = try NPY.read(out)
      #expect(a.shape == [30, 2] && a.nonFiniteCount == 0, "\(rule)")
    }
    // Refinement and a time-weighted prior score.
    let out = Fixture.path(dir, "composed_refined.npy")
    let r = try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "20", "--compose",
                         "--prior-diffusion", "time-weighted", "--refine", "10", "--sampler", "euler-maruyama",
                         "--steps", "20", "--out", out, "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try NPY.read(out).shape == [20, 2])
  }

  @Test func priorAdaptationAndConstraints() throws {
    let (dir, model) = try Fixture.model()
    let obs = Fixture.path(dir, "adapt_obs.npy")
    try NPY.write(Matrix(rows: 1, cols: 2, storage: [0.1, -0.2]), to: obs)
    let prior = try write(#"{"type": "gaussian", "mean": [0, 0], "std": [0.3, 0.3]}"#, dir, "new_prior.json")
    let out = Fixture.path(dir, "adapted.npy")
    let r = try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "50", "--prior", prior,
                         "--sampler", "euler-maruyama", "--steps", "30", "--out", out, "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try NPY.read(out).shape == [50, 2])

    let spec = try write(#"{"intervals": [{"index": 0, "low": 0.0, "high": 0.5}], "strength": 1}"#, dir, "c.json")
    let guided = Fixture.path(dir, "guided.npy")
    let g = try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "200", "--constraints", spec,
                         "--sampler", "euler-maruyama", "--steps", "50", "--out", guided, "--quiet"])
    #expect(g.status == 0, "\(g.stderr)")
    let s = try NPY.read(guided)
    let inside = (0..<200).filter { s.data[2 * $0] >= 0 && s.data[2 * $0] <= 0.5 }.count
    #expect(inside >= 190, "\(inside) of 200 samples in [0, 0.5]")
  }

  @Test func conditionDropoutAndGuidanceScale() throws {
    let dir = makeTemporaryDirectory()
    let model = Fixture.path(dir, "cfg_model")
    let t = try CLI.run(["train", "--task", "two_moons", "--simulations", "600", "--condition-dropout", "0.2",
                         "--out", model] + Fixture.tinyTraining)
    #expect(t.status == 0, "\(t.stderr)")
    let config = try String(contentsOfFile: Fixture.path(URL(fileURLWithPath: model), "config.json"), encoding: .utf8)
    #expect(config.contains("conditionDropout"))
    let obs = Fixture.path(dir, "o.npy")
    try NPY.write(Matrix(rows: 1, cols: 2, storage: [0.1, -0.2]), to: obs)
    let out = Fixture.path(dir, "cfg.npy")
    let r = try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "20", "--cfg-scale", "1.5",
                         "--sampler", "heun", "--steps", "10", "--out", out, "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try NPY.read(out).shape == [20, 2])
    Fixture.expectBadInput(try CLI.run(["train", "--task", "two_moons", "--simulations", "10", "--condition-dropout",
                                        "1.5", "--out", Fixture.path(dir, "m2")]), mentioning: "--condition-dropout")
  }

  /// Bad specifications and option combinations: exit 2, one line naming the problem, no output file.
  @Test func badSpecificationsAndOptions() throws {
    let (dir, model) = try Fixture.model()
    let obs = try observations(dir, "bad_obs.npy")
    let out = Fixture.path(dir, "bad_out.npy")
    let base = ["sample", "--model", model, "--observation", obs, "--count", "5", "--out", out]
    let notJSON = try write("{ gaussian", dir, "broken_prior.json")
    Fixture.expectBadInput(try CLI.run(base + ["--prior", notJSON]), mentioning: "broken_prior.json")
    let wide = try write(#"{"type": "gaussian", "mean": [0, 0, 0], "std": [1, 1, 1]}"#, dir, "wide_prior.json")
    Fixture.expectBadInput(try CLI.run(base + ["--prior", wide]), mentioning: "wide_prior.json")
    let notPD = try write(#"{"type": "gaussian", "mean": [0, 0], "cov": [[1, 2], [2, 1]]}"#, dir, "npd_prior.json")
    Fixture.expectBadInput(try CLI.run(base + ["--prior", notPD]), mentioning: "positive definite")
    Fixture.expectBadInput(try CLI.run(base + ["--prior", Fixture.path(dir, "absent.json")]), mentioning: "absent.json")
    let badIndex = try write(#"{"intervals": [{"index": 5, "low": 0}]}"#, dir, "bad_constraints.json")
    Fixture.expectBadInput(try CLI.run(base + ["--constraints", badIndex]), mentioning: "bad_constraints.json")
    Fixture.expectBadInput(try CLI.run(base + ["--minibatch", "2"]), mentioning: "--compose")
    Fixture.expectBadInput(try CLI.run(base + ["--compose", "--minibatch", "7"]), mentioning: "--minibatch")
    Fixture.expectBadInput(try CLI.run(base + ["--compose", "--damping", "0,1"]), mentioning: "--damping")
    Fixture.expectBadInput(try CLI.run(base + ["--compose", "--composition", "sum"]), mentioning: "sum")
    Fixture.expectBadInput(try CLI.run(base + ["--composition", "gauss"]), mentioning: "--compose")
    Fixture.expectBadInput(try CLI.run(base + ["--cfg-scale", "2"]), mentioning: "condition dropout")
    #expect(!Fixture.exists(out))
  }

  @Test func diagnoseComposeChecksComposedPosteriors() throws {
    let (dir, model) = try Fixture.model()
    let out = Fixture.path(dir, "compose-check")
    let r = try CLI.run(["diagnose", "--model", model, "--compose", "3", "--datasets", "6", "--draws", "20",
                         "--sampler", "dpm-solver-2m", "--steps", "10", "--composition", "gauss", "--out", out,
                         "--json", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    let summary = try Fixture.json(r)
    #expect(summary["composed_observations"] as? Int == 3 && summary["composition"] as? String == "gauss")
    #expect(summary["datasets"] as? Int == 6 && (summary["calibration_error"] as? [Double])?.count == 2)
    #expect(Fixture.exists(Fixture.path(dir, "compose-check/report.html")))
    Fixture.expectBadInput(
      try CLI.run(["diagnose", "--model", model, "--composition", "gauss", "--out", out]), mentioning: "--compose J")
  }

  /// Without options, composition uses auto-gauss and DPM-Solver++(2M); an ensemble composes (sample and the
  /// composition check) with its members' averaged scores, at K network evaluations per step.
  @Test func composeDefaultsAndEnsembles() throws {
    let (dir, model) = try Fixture.model()
    let obs = try observations(dir, "default_obs.npy")
    let out = Fixture.path(dir, "composed_default.npy")
    let r = try CLI.run(["sample", "--model", model, "--observation", obs, "--count", "40", "--compose", "--out", out,
                         "--json", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    let j = try Fixture.json(r)
    #expect(j["sampler"] as? String == "dpm-solver-2m" && j["composed"] as? Bool == true)
    let single = try #require(j["evaluations"] as? Int)
    #expect(try NPY.read(out).shape == [40, 2])

    let ensemble = Fixture.path(dir, "compose_ensemble")
    let t = try CLI.run(["train", "--task", "two_moons", "--simulations", "600", "--ensemble", "2", "--out", ensemble]
                        + Fixture.tinyTraining)
    #expect(t.status == 0, "\(t.stderr)")
    let e = try CLI.run(["sample", "--model", ensemble, "--observation", obs, "--count", "40", "--compose", "--out",
                         Fixture.path(dir, "composed_ensemble.npy"), "--json", "--quiet"])
    #expect(e.status == 0, "\(e.stderr)")
    let ej = try Fixture.json(e)
    #expect(ej["ensemble"] as? Int == 2 && ej["evaluations"] as? Int == 2 * single)
    let check = try CLI.run(["diagnose", "--model", ensemble, "--compose", "3", "--datasets", "4", "--draws", "10",
                             "--out", Fixture.path(dir, "ensemble-check"), "--json", "--quiet"])
    #expect(check.status == 0, "\(check.stderr)")
    #expect(try Fixture.json(check)["composition"] as? String == "auto-gauss")
  }
}


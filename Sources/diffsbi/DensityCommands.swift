// `diffsbi log-prob` and `diffsbi map`: the density of a trained posterior and its mode
// (Sources/Estimation/PosteriorDensity.swift).

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

/// One observation row of a model's condition (none for an unconditional model).
func singleObservation(_ path: String?, for estimator: PosteriorEstimator) throws -> Matrix? {
  guard estimator.conditionDimension > 0 else { return nil }
  guard let path else { throw ValidationError("--observation is required for a conditional model") }
  let obs = try readObservations(path, for: estimator)
  guard obs.rows == 1 else { throw InputError("\(path): holds \(obs.rows) observations; give exactly one") }
  if estimator.isOtherObservation(obs) {
    log("warning: the model was trained sequentially for another observation; its posterior is valid for that one only")
  }
  return obs
}

struct LogProbCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "log-prob",
    abstract: "log q(θ | x) of a diffusion or flow-matching posterior for given θ rows.",
    discussion: """
      Writes one value per row of --theta (nats, on the original parameter scale, including the constraint \
      transform's Jacobian; −inf outside the prior's support) as .npy [n] or CSV. The density comes from the \
      probability-flow ODE (RK4, --ode-steps intervals) with the exact divergence up to 10 parameters and \
      Hutchinson's estimator (8 probes) above. Consistency models have no density.
      """)

  @Option(help: "Model directory.")
  var model: String
  @Option(help: "One observation (.npy, .csv, .npz).")
  var observation: String?
  @Option(help: "Parameter rows [n, P] (.npy, .csv, .npz member theta).")
  var theta: String
  @Option(help: "Output file (.npy or .csv).")
  var out: String
  @Option(help: "RK4 intervals of the probability-flow ODE.")
  var odeSteps = 100
  @Option(help: "Hutchinson probes instead of the exact divergence (0: exact).")
  var probes: Int?
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if odeSteps < 1 || odeSteps > 100_000 { throw ValidationError("--ode-steps must be in 1…100000") }
    if let p = probes, p < 0 || p > 1000 { throw ValidationError("--probes must be in 0…1000") }
  }

  func run() throws {
    common.apply()
    try checkOutputPath(out, allowed: ["npy", "csv"], option: "--out")
    let ensemble = try loadEnsemble(model)
    let obs = try singleObservation(observation, for: ensemble.first)
    let parameters = try readMatrix(theta, member: "theta")
    let start = Date()
    let divergence: DivergenceMethod? = probes.map { $0 == 0 ? .exact : .hutchinson(probes: $0) }
    // An ensemble's density is that of its equal mixture.
    let lp = try ensemble.logProbability(parameters, observation: obs, steps: odeSteps, divergence: divergence,
                                          seed: common.seed)
    let seconds = Date().timeIntervalSince(start)
    let values = Matrix(rows: lp.count, cols: 1, storage: lp.map(Float.init))
    if out.hasSuffix(".csv") {
      try CSV.write(values, names: ["log_prob"], to: out)
    } else {
      try NPY.write(NDArray(shape: [lp.count], data: values.storage), to: out, as: .float64)
    }
    common.info("log-prob: \(lp.count) rows in \(fmt(seconds, 2)) s → \(out)")
    let finite = lp.filter(\.isFinite)
    try common.emit([
      "rows": lp.count, "seconds": seconds, "out": out, "outside_support": lp.count - finite.count,
      "mean_log_prob": finite.isEmpty ? Double.nan : finite.reduce(0, +) / Double(finite.count),
    ])
  }
}

struct MapCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "map",
    abstract: "The posterior mode (MAP) of a diffusion or flow-matching posterior for one observation.",
    discussion: """
      Draws --draws posterior samples, takes the one with the highest log-density, and climbs from it by \
      gradient ascent with the score at the smallest noise level (--iterations steps); the climbed point is kept \
      only if its log-density beats the best draw. Writes θ [1, P] (.npy or CSV) and prints its log-density.
      """)

  @Option(help: "Model directory.")
  var model: String
  @Option(help: "One observation (.npy, .csv, .npz).")
  var observation: String?
  @Option(help: "Output file for θ at the mode (.npy or .csv).")
  var out: String
  @Option(help: "Posterior draws to start from.")
  var draws = 1000
  @Option(help: "Gradient-ascent steps.")
  var iterations = 200
  @Option(help: "RK4 intervals of the probability-flow ODE for the log-densities.")
  var odeSteps = 100
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if draws < 1 || draws > 1_000_000 { throw ValidationError("--draws must be in 1…1000000") }
    if iterations < 0 || iterations > 100_000 { throw ValidationError("--iterations must be in 0…100000") }
    if odeSteps < 1 || odeSteps > 100_000 { throw ValidationError("--ode-steps must be in 1…100000") }
  }

  func run() throws {
    common.apply()
    try checkOutputPath(out, allowed: ["npy", "csv"], option: "--out")
    let estimator = try loadModel(model)
    let obs = try singleObservation(observation, for: estimator)
    let start = Date()
    let mode = try estimator.maximumAPosteriori(observation: obs, draws: draws, iterations: iterations,
                                                steps: odeSteps, seed: common.seed)
    let seconds = Date().timeIntervalSince(start)
    let theta = Matrix(rows: 1, cols: mode.parameters.count, storage: mode.parameters)
    try writeSamples([theta], to: out)
    let text = mode.parameters.map { fmt(Double($0), 4) }.joined(separator: ", ")
    common.info("map: θ = [\(text)], log q = \(fmt(mode.logProbability, 3)) (best draw \(fmt(mode.bestDrawLogProbability, 3))"
                + (mode.improved ? ", improved by gradient ascent" : "") + ") in \(fmt(seconds, 1)) s → \(out)")
    try common.emit([
      "theta": mode.parameters.map(Double.init), "log_prob": mode.logProbability,
      "best_draw_log_prob": mode.bestDrawLogProbability, "improved": mode.improved, "seconds": seconds, "out": out,
    ])
  }
}

// `diffsbi train --observation OBS --rounds R`: multi-round training with truncated proposals for one observation
// (Sources/Estimation/SequentialInference.swift), with a built-in task's simulator or an external one.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

struct SequentialOptions: ParsableArguments {
  @Option(help: """
    Train for this one observation (.npy, .csv, .npz) in --rounds rounds: later rounds simulate from the prior \
    truncated to the current posterior's high-density box. The model records the observation.
    """)
  var observation: String?

  @Option(help: "Rounds of sequential training (with --observation; the --simulations budget is split evenly).")
  var rounds: Int?

  @Option(help: "Posterior mass the truncation box may leave out (HPR level 1 − ε).")
  var hprEpsilon = 1e-3

  @Option(help: "Widening of the truncation box on each side, as a fraction of its width.")
  var truncationMargin = 0.25

  var isSequential: Bool { observation != nil || rounds != nil }

  func validate() throws {
    guard isSequential else { return }
    if observation == nil { throw ValidationError("--rounds needs --observation FILE") }
    if let r = rounds, r < 1 || r > 100 { throw ValidationError("--rounds must be in 1…100") }
    if !(hprEpsilon > 0 && hprEpsilon < 1) { throw ValidationError("--hpr-epsilon must be in (0, 1)") }
    if !(truncationMargin >= 0 && truncationMargin <= 10) { throw ValidationError("--truncation-margin must be in 0…10") }
  }
}

extension TrainCommand {
  func trainSequentially(task t: (any SimulationTask)?) throws -> [String: Any] {
    var config = try training.configuration(seed: common.seed, online: false)
    applySuggestedTransform(&config, task: t)
    let n = simulations!
    let rounds = sequential.rounds ?? 2
    let drawPrior: any Prior, priorJSON: String?, transforms: [Constraint], dataShape: [Int]
    var pool: SimulatorPool?
    defer { pool?.shutdown() }
    if external.simulator != nil {
      let source = try SimulatorPrior.resolve(priorFile: prior, task: task)
      let p = try external.pool(seed: common.seed, dataShape: source.task?.dataShape, quiet: common.quiet)
      pool = p
      (drawPrior, priorJSON, dataShape) =
        (source.prior, source.json, try p.discoverDataShape(prior: source.prior, seed: common.seed))
      transforms = source.task.map(constraints(for:)) ?? coordinateConstraints(of: source.prior)
    } else {
      (drawPrior, priorJSON, dataShape, transforms) = (t!.prior, nil, t!.dataShape, constraints(for: t!))
    }
    let estimator = try model.makeEstimator(
      parameters: drawPrior.dimension, dataShape: dataShape, constraints: transforms, seed: common.seed,
      source: external.simulator.map { "the output of '\($0)'" } ?? t!.name)
    if let priorJSON { try estimator.setTrainingPrior(specification: priorJSON) }
    let obs = try readObservations(sequential.observation!, for: estimator)
    guard obs.rows == 1 else { throw InputError("\(sequential.observation!): holds \(obs.rows) observations; give exactly one") }
    let batch = external.simulatorBatch ?? config.batchSize
    let seed = common.seed
    let simulate: (Matrix, Int) throws -> Matrix = { theta, round in
      if let pool { return try pool.simulate(theta, batchSize: batch) }
      var rng = Xoshiro(seed: seed, stream: 0x5345_5153_0000 | UInt64(round))
      return t!.simulate(theta, seed: rng.next())
    }
    let settings = SequentialSettings(rounds: rounds, epsilon: sequential.hprEpsilon, margin: sequential.truncationMargin)
    let start = Date()
    let reports = try estimator.trainSequentially(
      observation: obs, prior: drawPrior, simulations: n, settings: settings, configuration: config, simulate: simulate
    ) { r in
      var line = "train: round \(r.round)/\(rounds): \(r.simulations) simulations"
      if let b = r.box {
        let sides = zip(b.lower, b.upper).map { "[\(fmt($0, 3)), \(fmt($1, 3))]" }.joined(separator: "×")
        line += " in the box \(sides) (acceptance \(fmt(r.acceptance, 4)))"
      }
      line += ", simulated in \(fmt(r.simulationSeconds, 1)) s, trained in \(fmt(r.trainSeconds, 1)) s"
      if r.droppedRows > 0 { line += ", \(r.droppedRows) rows with NaN/Inf dropped" }
      common.info(line)
    }
    try saveModel(estimator, task: t?.name, to: out)
    let seconds = Date().timeIntervalSince(start)
    common.info("train: \(rounds) rounds, \(estimator.settings.simulations) simulations in \(fmt(seconds, 1)) s → \(out)")
    return [
      "rounds": rounds, "simulations": estimator.settings.simulations, "seconds": seconds, "out": out,
      "train_seconds": estimator.settings.trainSeconds, "method": model.method.rawValue,
      "final_loss": estimator.settings.lossHistory.last ?? .nan,
      "acceptance": reports.map(\.acceptance), "round_simulations": reports.map(\.simulations),
    ]
  }
}

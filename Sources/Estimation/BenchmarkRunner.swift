// The benchmark runner: train an estimator on a task's simulations, sample for reference observations, score the
// draws. `diffsbi benchmark` and `diffsbi-bench sbibm`/`highdim` both call it, so every table in BENCHMARKS.md
// comes from this one loop.

import Diagnostics
import Diffusion
import FileFormats
import Foundation
import NeuralNet
import NumericCore
import Tasks

/// What a benchmark row trains and how it samples.
public struct BenchmarkSpecification: Sendable {
  /// Method and design choices of the estimator.
  public var settings: EstimatorSettings
  /// Hidden widths of the TimeMLP (nil: the default 5 × 256).
  public var widths: [Int]?
  /// Dropout of the TimeMLP (nil: the default 0.05).
  public var dropout: Float?
  /// A transformer instead of the TimeMLP (its dimensions are set per task).
  public var transformer: TransformerConfiguration?
  /// The training loop; its seed also seeds the simulations, the network and the sampler.
  public var training: TrainingConfiguration
  /// Samplers and their step controls to score the trained model with (a choice without a kind: the model's
  /// default sampler).
  public var samplers: [SamplerChoice]
  /// sbibm observation numbers (1-based).
  public var observations: [Int]
  /// Posterior draws per observation.
  public var samples: Int
  /// A summary network for tasks with structured data (nil: the flattened data go to the network).
  public var summary: SummaryChoice?
  /// Simulated data sets on which each trained model's calibration error is measured (0: not measured), as
  /// `diffsbi diagnose --datasets N --draws D --seed S` measures it on a saved model.
  public var calibrationDataSets: Int
  /// Posterior draws per calibration data set.
  public var calibrationDraws: Int

  public init(
    settings: EstimatorSettings = EstimatorSettings(), widths: [Int]? = nil, dropout: Float? = nil,
    transformer: TransformerConfiguration? = nil,
    training: TrainingConfiguration = TrainingConfiguration(), samplers: [SamplerChoice]? = nil,
    observations: [Int] = [1, 2, 3, 4, 5], samples: Int = 10_000, summary: SummaryChoice? = nil,
    calibrationDataSets: Int = 0, calibrationDraws: Int = 200
  ) {
    self.summary = summary
    self.calibrationDataSets = calibrationDataSets
    self.calibrationDraws = calibrationDraws
    self.settings = settings
    self.widths = widths
    self.dropout = dropout
    self.transformer = transformer
    self.training = training
    self.samplers = samplers ?? [SamplerChoice()]
    self.observations = observations
    self.samples = samples
  }

  var seed: UInt64 { training.seed }

  /// A new estimator for `task` with these settings.
  func makeEstimator(for task: any SimulationTask) throws -> PosteriorEstimator {
    let parameters = task.parameterDimension, data = task.dataDimension
    var network = TimeMLPConfiguration(inputDimension: parameters, conditionDimension: data)
    if let widths { network.widths = widths }
    if let dropout { network.dropout = dropout }
    return try PosteriorEstimator(
      parameterDimension: parameters, conditionDimension: data, settings: settings,
      network: transformer == nil ? network : nil, transformer: transformer,
      summary: try summary?.architecture(dataShape: task.dataShape),
      constraints: task.prior.constraint.constraints(dimension: parameters), seed: seed)
  }

  /// The training configuration for `task`: `training`, with the task's suggested data transform
  /// (`SimulationTask.suggestedDataTransform`) where `training` names none, as `diffsbi train --task` does.
  public func training(for task: any SimulationTask) -> TrainingConfiguration {
    var c = training
    if c.conditionTransform == nil, let name = task.suggestedDataTransform { c.conditionTransform = ElementTransform(rawValue: name) }
    return c
  }
}

/// One row of an sbibm benchmark: a task, a training budget, a sampler, and the scores per observation.
public struct SBIBMResult: Sendable {
  public var task: String
  public var method: String
  public var simulations: Int
  public var sampler: String
  public var c2st: [Double]
  public var trainSeconds: Double
  /// Sampling seconds and network evaluations per observation.
  public var sampleSeconds: [Double]
  public var evaluations: [Int]
  public var finalLoss: Double
  /// Epochs trained (fewer than configured when early stopping triggered).
  public var epochs: Int
  /// Calibration error per parameter on `BenchmarkSpecification.calibrationDataSets` simulated data sets (empty
  /// when not measured).
  public var calibrationError: [Double] = []

  /// Mean over the finite scores.
  public var meanC2ST: Double {
    let f = c2st.filter(\.isFinite)
    return f.isEmpty ? .nan : f.reduce(0, +) / Double(f.count)
  }

  /// Mean and largest calibration error over the parameters (NaN when not measured).
  public var meanCalibrationError: Double { average(calibrationError) }
  public var maxCalibrationError: Double { calibrationError.max() ?? .nan }
}

/// The name of the sampler an estimator actually uses when asked for `sampler` (nil: its default): consistency
/// models always use their own multistep samplers.
public func samplerLabel(method: EstimatorMethod, requested sampler: SamplerKind?) -> String {
  samplerLabel(method: method, requested: SamplerChoice(sampler))
}

/// `samplerLabel(method:requested:)` for a sampler with its step control (`SamplerChoice.label(default:)`).
public func samplerLabel(method: EstimatorMethod, requested choice: SamplerChoice) -> String {
  switch method {
  case .consistency: return "consistency-multistep"
  case .stableConsistency: return "stable-consistency-multistep"
  case .flowMatching: return choice.label(default: .tsit5)
  case .diffusion: return choice.label(default: DiffusionConfiguration().sampler)
  }
}

/// Trains an estimator on `simulations` offline simulations of an sbibm task (rows with NaN or infinity
/// dropped) and scores `samples` posterior draws per observation against the sbibm reference posterior with
/// C2ST (classifier seed 1), once per sampler. Simulations, network and sampling are seeded by
/// `specification.training.seed`; observation k is sampled with seed + k. With
/// `specification.calibrationDataSets` > 0 each sampler's calibration error is measured too
/// (`benchmarkCalibrationError`). `trained` receives the trained estimator before it is scored (to save it).
public func runSBIBMBenchmark(
  task: any SimulationTask, simulations: Int, specification spec: BenchmarkSpecification,
  progress: ((TrainingProgress) -> Void)? = nil, log: (String) -> Void = { _ in },
  trained: ((PosteriorEstimator) throws -> Void)? = nil
) throws -> [SBIBMResult] {
  guard task.observationCount > 0 else {
    throw EstimatorError.unsupported("task \(task.name) has no sbibm reference posteriors")
  }
  for k in spec.observations where k < 1 || k > task.observationCount {
    throw EstimatorError.unsupported("observation \(k) of \(task.name) is outside 1…\(task.observationCount)")
  }
  let (estimator, history) = try trainOnTask(task, simulations: simulations, spec: spec, progress: progress, log: log)
  try trained?(estimator)
  let references = try spec.observations.map { try task.referencePosteriorSamples($0) }
  var results: [SBIBMResult] = []
  for sampler in spec.samplers {
    var r = SBIBMResult(
      task: task.name, method: spec.settings.method.rawValue, simulations: simulations,
      sampler: samplerLabel(method: spec.settings.method, requested: sampler), c2st: [],
      trainSeconds: history.seconds, sampleSeconds: [], evaluations: [], finalLoss: history.loss.last ?? .nan,
      epochs: history.loss.count)
    for (k, reference) in zip(spec.observations, references) {
      let obs = try task.observation(k)
      let draws = try estimator.sample(
        observations: Matrix(rows: 1, cols: obs.count, storage: obs), count: spec.samples, sampler: sampler.kind,
        options: sampler.options, seed: spec.seed &+ UInt64(k))
      let finite = finiteRows(draws.samples[0])
      let score = finite.rows >= 10 ? try c2st(reference: reference, samples: finite, seed: 1) : 1
      r.c2st.append(score)
      r.sampleSeconds.append(draws.seconds)
      r.evaluations.append(draws.evaluations)
      log("\(task.name) observation \(k) \(r.sampler): C2ST \(String(format: "%.3f", score)), sampling "
          + "\(String(format: "%.1f", draws.seconds)) s, \(draws.evaluations) evaluations")
    }
    if spec.calibrationDataSets > 0 {
      r.calibrationError = try benchmarkCalibrationError(
        estimator: estimator, task: task, dataSets: spec.calibrationDataSets, draws: spec.calibrationDraws,
        sampler: sampler, seed: spec.seed)
      log("\(task.name) \(r.sampler): calibration error \(String(format: "%.3f", r.meanCalibrationError)) (largest "
          + "\(String(format: "%.3f", r.maxCalibrationError)))")
    }
    results.append(r)
  }
  return results
}

/// The calibration error per parameter of `estimator` on `dataSets` (θ, x) pairs simulated from `task`, with
/// `draws` posterior draws each: the seeds of `diffsbi diagnose --seed S` (data sets seed + 0xCA1B, draws
/// seed + 0x5A3B), so a saved model gives the same figure there. Pairs with NaN or infinity are left out.
public func benchmarkCalibrationError(
  estimator: PosteriorEstimator, task: any SimulationTask, dataSets: Int, draws: Int, sampler: SamplerChoice,
  seed: UInt64
) throws -> [Double] {
  let (theta, x) = task.sampleJoint(count: dataSets, seed: seed &+ 0xCA1B)
  let items = estimator.conditionChannels.map { (count: $0.items, width: $0.width) }
  let (kept, _) = try NonFiniteRows.drop([theta, x], items: [nil, items])
  guard kept[0].rows >= 2 else { throw EstimatorError.unsupported("calibration: fewer than 2 finite data sets") }
  let post = try estimator.sample(observations: kept[1], count: draws, sampler: sampler.kind,
                                  options: sampler.options, seed: seed &+ 0x5A3B)
  let estimates = post.samples.map { m -> Matrix in
    let f = finiteRows(m)
    return f.rows >= 2 ? f : m
  }
  return try calibrationError(estimates: estimates, targets: kept[0])
}

/// One row of the analytic-posterior benchmark (`runAnalyticPosteriorBenchmark`).
public struct AnalyticPosteriorResult: Sendable {
  public var task: String
  public var method: String
  /// NRMSE and calibration error of the posterior draws, averaged over parameters (BayesFlow's definitions).
  public var nrmse: Double
  public var calibrationError: Double
  /// Mean C2ST against exact posterior draws over the scored data sets.
  public var c2st: Double
  public var trainSeconds: Double
  /// Seconds and network evaluations to draw `samples` posterior samples for one data set (mean).
  public var sampleSeconds: Double
  public var evaluations: Int
}

/// The data sets of the analytic-posterior benchmark: `datasets` fresh (θ, x) pairs and exact posterior draws.
struct AnalyticPosteriorData {
  var testTheta: Matrix
  var testX: Matrix
  /// Exact draws for the first `observations` data sets (the C2ST references).
  var exact: [Matrix]

  init(task: any SimulationTask, datasets: Int, observations: Int, samples: Int, seed: UInt64) throws {
    let (theta, x) = task.sampleJoint(count: datasets, seed: seed &+ 1000)
    testTheta = theta
    testX = x
    exact = try (0..<min(observations, datasets)).map { k in
      guard let d = task.samplePosterior(observation: x.row(k), count: samples, seed: seed &+ 77 &+ UInt64(k))
      else { throw EstimatorError.unsupported("task \(task.name) has no analytic posterior") }
      return d
    }
  }
}

/// Scores the exact posterior itself with the metrics of `runAnalyticPosteriorBenchmark`: the floor of each
/// metric at these sizes.
public func analyticPosteriorFloor(
  task: any SimulationTask, datasets: Int = 100, draws: Int = 500, observations: Int = 1, samples: Int = 10_000,
  seed: UInt64
) throws -> AnalyticPosteriorResult {
  let data = try AnalyticPosteriorData(task: task, datasets: datasets, observations: observations, samples: samples,
                                       seed: seed)
  let draws = (0..<datasets).map {
    task.samplePosterior(observation: data.testX.row($0), count: draws, seed: seed &+ 5000 &+ UInt64($0))!
  }
  let scores = try data.exact.indices.map { k in
    try c2st(reference: data.exact[k], samples: task.samplePosterior(
      observation: data.testX.row(k), count: samples, seed: seed &+ 9000 &+ UInt64(k))!, seed: 1)
  }
  return AnalyticPosteriorResult(
    task: task.name, method: "analytic", nrmse: average(try normalizedRMSE(estimates: draws, targets: data.testTheta)),
    calibrationError: average(try calibrationError(estimates: draws, targets: data.testTheta)),
    c2st: average(scores), trainSeconds: 0, sampleSeconds: 0, evaluations: 0)
}

/// Trains an estimator on `simulations` offline simulations of a task with an analytic posterior (such as
/// gaussian_linear_50) and scores it against the exact posterior: NRMSE and calibration error of `draws`
/// posterior draws on each of `datasets` fresh (θ, x) pairs, and the C2ST of `samples` draws against as many exact
/// draws for the first `observations` of those data sets, with the time to draw them. Seeds as
/// `runSBIBMBenchmark`; the sampler is the first of `specification.samplers`.
public func runAnalyticPosteriorBenchmark(
  task: any SimulationTask, simulations: Int, specification spec: BenchmarkSpecification, datasets: Int = 100,
  draws: Int = 500, observations: Int = 1, label: String? = nil,
  progress: ((TrainingProgress) -> Void)? = nil, log: (String) -> Void = { _ in }
) throws -> AnalyticPosteriorResult {
  let data = try AnalyticPosteriorData(task: task, datasets: datasets, observations: observations,
                                       samples: spec.samples, seed: spec.seed)
  let (estimator, history) = try trainOnTask(task, simulations: simulations, spec: spec, progress: progress, log: log)
  let sampler = spec.samplers.first ?? SamplerChoice()
  let post = try estimator.sample(observations: data.testX, count: draws, sampler: sampler.kind,
                                  options: sampler.options, seed: spec.seed &+ 3)
  var scores: [Double] = [], seconds: [Double] = [], evaluations = 0
  for (k, exact) in data.exact.enumerated() {
    let r = try estimator.sample(observations: data.testX.rows(k..<(k + 1)), count: spec.samples,
                                 sampler: sampler.kind, options: sampler.options, seed: spec.seed &+ 11 &+ UInt64(k))
    seconds.append(r.seconds)
    evaluations = r.evaluations
    scores.append(try c2st(reference: exact, samples: finiteRows(r.samples[0]), seed: 1))
  }
  return AnalyticPosteriorResult(
    task: task.name, method: label ?? spec.settings.method.rawValue,
    nrmse: average(try normalizedRMSE(estimates: post.samples, targets: data.testTheta)),
    calibrationError: average(try calibrationError(estimates: post.samples, targets: data.testTheta)),
    c2st: average(scores), trainSeconds: history.seconds, sampleSeconds: average(seconds), evaluations: evaluations)
}

/// Simulates `simulations` pairs of `task` (seeded by the specification; rows with NaN or infinity dropped) and
/// trains a new estimator of the specification on them, with the constraint transforms of the task's prior.
private func trainOnTask(
  _ task: any SimulationTask, simulations: Int, spec: BenchmarkSpecification,
  progress: ((TrainingProgress) -> Void)?, log: (String) -> Void
) throws -> (PosteriorEstimator, TrainingHistory) {
  let estimator = try spec.makeEstimator(for: task)
  let (theta, x) = task.sampleJoint(count: simulations, seed: spec.seed)
  let items = estimator.conditionChannels.map { (count: $0.items, width: $0.width) }
  let (kept, dropped) = try NonFiniteRows.drop([theta, x], items: [nil, items])
  if dropped > 0 { log("\(task.name): dropped \(dropped) simulations with NaN or infinity") }
  let history = try estimator.train(.simulations(parameters: kept[0], data: kept[1]),
                                    configuration: spec.training(for: task), progress: progress)
  log("\(task.name): trained \(history.loss.count) epochs in \(String(format: "%.1f", history.seconds)) s")
  return (estimator, history)
}

private func average(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }

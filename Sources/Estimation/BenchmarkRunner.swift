// The sbibm benchmark runner: trains an estimator on an sbibm task and scores its posterior draws against the
// reference posteriors with C2ST.

import Diagnostics
import Diffusion
import Foundation
import NeuralNet
import NumericCore
import Tasks

/// One row of an sbibm benchmark: a task, a training budget, a sampler, and the scores per observation.
public struct SBIBMResult: Sendable {
  public var task: String
  public var method: String
  public var simulations: Int
  public var sampler: String
  public var c2st: [Double]
  public var trainSeconds: Double
  public var sampleSeconds: [Double]
  public var evaluations: [Int]
  public var finalLoss: Double

  public var meanC2ST: Double { c2st.reduce(0, +) / Double(max(c2st.count, 1)) }
}

/// The name of the sampler an estimator actually uses when asked for `sampler`: consistency models always use
/// their own multistep samplers.
public func samplerLabel(method: EstimatorMethod, requested sampler: SamplerKind) -> String {
  switch method {
  case .consistency: return "consistency-multistep"
  case .stableConsistency: return "stable-consistency-multistep"
  default: return sampler.rawValue
  }
}

/// Trains an estimator (the default diffusion one unless `settings` says otherwise; `widths` overrides the hidden
/// widths of the default TimeMLP, `learningRate` and `dropout` the benchmark's 5e-4 and the network's 0.05) on
/// `simulations` offline simulations of an sbibm task and scores `samples` posterior draws per observation against
/// the sbibm reference posterior with C2ST.
public func runSBIBMBenchmark(
  task name: String, simulations: Int, epochs: Int, batchSize: Int = 128, observations: [Int] = [1, 2, 3, 4, 5],
  samples: Int = 10_000, sampler: SamplerKind = .twoStepAdaptive, settings: EstimatorSettings = EstimatorSettings(),
  widths: [Int]? = nil, learningRate: Float? = nil, dropout: Float? = nil, seed: UInt64 = 1,
  log: @escaping (String) -> Void = { _ in }
) throws -> SBIBMResult {
  let task = try TaskRegistry.task(named: name)
  let (theta, x) = task.sampleJoint(count: simulations, seed: seed)
  var network = TimeMLPConfiguration(inputDimension: task.parameterDimension, conditionDimension: task.dataDimension)
  if let widths { network.widths = widths }
  if let dropout { network.dropout = dropout }
  let estimator = try PosteriorEstimator(
    parameterDimension: task.parameterDimension, conditionDimension: task.dataDimension, settings: settings,
    network: network, constraints: task.prior.constraint.constraints(dimension: task.parameterDimension), seed: seed)
  let config = TrainingConfiguration.benchmark(
    epochs: epochs, batchSize: batchSize, seed: seed, learningRate: learningRate)
  let history = try estimator.train(parameters: theta, data: x, configuration: config) { p in
    if p.step % 2000 == 0 { log("  step \(p.step)/\(p.totalSteps) loss \(String(format: "%.4f", p.loss))") }
  }
  log("\(name): trained \(epochs) epochs in \(String(format: "%.1f", history.seconds)) s")
  var result = SBIBMResult(
    task: name, method: settings.method.rawValue, simulations: simulations,
    sampler: samplerLabel(method: settings.method, requested: sampler), c2st: [],
    trainSeconds: history.seconds, sampleSeconds: [], evaluations: [], finalLoss: history.loss.last ?? .nan)
  for k in observations {
    let obs = try task.observation(k)
    let draws = try estimator.sample(
      observations: Matrix(rows: 1, cols: obs.count, storage: obs), count: samples, sampler: sampler,
      seed: seed &+ UInt64(k))
    let reference = try task.referencePosteriorSamples(k)
    let score = try c2st(reference: reference, samples: finiteRows(draws.samples[0]), seed: 1)
    result.c2st.append(score)
    result.sampleSeconds.append(draws.seconds)
    result.evaluations.append(draws.evaluations)
    log("\(name) observation \(k): C2ST \(String(format: "%.3f", score)), sampling \(String(format: "%.1f", draws.seconds)) s, \(draws.evaluations) evaluations")
  }
  return result
}

extension TrainingConfiguration {
  /// The offline training configuration of the benchmarks: AdamW with the default learning-rate schedule (peak
  /// `learningRate`, 5e-4 when nil).
  public static func benchmark(
    epochs: Int, batchSize: Int, seed: UInt64, learningRate: Float? = nil
  ) -> TrainingConfiguration {
    var config = TrainingConfiguration()
    if let learningRate { config.learningRate = learningRate }
    config.epochs = epochs
    config.batchSize = batchSize
    config.optimizer = .adamW
    config.seed = seed
    return config
  }
}

import Foundation
import Tasks
import Testing
import TestSupport
import Estimation
import NeuralNet
import NumericCore

/// Summary networks inside the estimator: gradients through summary and inference network for every objective,
/// invariance to item order and padding (with standardization per feature channel), model files, and a trained
/// set model against the closed-form posterior of a Gaussian mean.
@Suite(.serialized) struct SummaryEstimatorTests {
  static let architectures: [SummaryArchitecture] = [
    .deepSet({
      var c = DeepSetConfiguration(elementDimension: 2, setSize: 4, summaryDimension: 3)
      c.innerWidths = [8]
      c.outerWidths = [8]
      return c
    }()),
    .setTransformer({
      var c = SetTransformerConfiguration(elementDimension: 2, setSize: 4, summaryDimension: 3)
      c.width = 8
      c.heads = 2
      c.blocks = 1
      return c
    }()),
    .timeSeries(TimeSeriesConfiguration(featureDimension: 2, steps: 4, summaryDimension: 3, filters: 4, kernelSize: 2,
                                        recurrentDimension: 6)),
    // Attention heads 8 and 16 wide (the SIMD head kernels' full-width paths; the default heads are 16 wide).
    .setTransformer({
      var c = SetTransformerConfiguration(elementDimension: 2, setSize: 4, summaryDimension: 3)
      c.width = 16
      c.heads = 2
      c.blocks = 1
      return c
    }()),
    .setTransformer({
      var c = SetTransformerConfiguration(elementDimension: 2, setSize: 4, summaryDimension: 3)
      c.width = 32
      c.heads = 2
      c.blocks = 1
      return c
    }()),
    // The eight values as a 4 × 2 one-channel image (the padding NaNs of row 0 are read as zeros).
    .convolutional(ConvolutionalConfiguration(height: 4, width: 2, channels: 1, summaryDimension: 3, widths: [3])),
  ]

  static func smallNetwork() -> TimeMLPConfiguration {
    var c = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 1)
    c.widths = [16, 16]
    c.timeEmbeddingDimension = 4
    c.dropout = 0
    return c
  }

  /// Raw conditions [rows, 8 + extra]: four items of two features, the last item of row 0 padding (all NaN).
  static func conditions(rows: Int, extra: Int, rng: inout Xoshiro) -> Matrix {
    var x = rng.normalMatrix(rows: rows, cols: 8 + extra)
    x[0, 6] = .nan
    x[0, 7] = .nan
    return x
  }

  /// Central differences of the diffusion and flow-matching losses (fixed noise draws) against the analytic
  /// gradients of the summary network's and the TimeMLP's parameters, with two passed-through condition columns.
  @Test(arguments: [EstimatorMethod.diffusion, .flowMatching], [0, 1, 2, 3, 4, 5])
  func objectiveGradientReachesTheSummaryNetwork(method: EstimatorMethod, architecture: Int) throws {
    let arch = Self.architectures[architecture]
    let estimator = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 10, settings: EstimatorSettings(method: method),
      network: Self.smallNetwork(), summary: arch, seed: 3)
    let model = estimator.model
    #expect(model.passthrough == 2 && estimator.conditionDimension == 10)
    #expect(model.network.conditionDimension == 5)
    let objective = try estimator.objective(batchSize: 6, totalSteps: 1)
    var rng = Xoshiro(seed: 11)
    let batch = TrainingBatch(parameters: rng.normalMatrix(rows: 6, cols: 2),
                              conditions: Self.conditions(rows: 6, extra: 2, rng: &rng))
    func loss() -> Double {
      var r = Xoshiro(seed: 5)
      return Double(objective.validationLoss(model: model, batch: batch, rng: &r))
    }
    model.zeroGradients()
    var r = Xoshiro(seed: 5)
    let value = objective.lossAndGradient(model: model, batch: batch, rng: &r)
    #expect(abs(Double(value) - loss()) < 1e-5 * max(1, abs(Double(value))))
    // Max pooling (the convolutional summary) has kinks where a window's two largest values tie: a smaller step
    // keeps the windows' maxima in place.
    var check = GradientCheck()
    if case .convolutional = arch { check.step = 1e-3 }
    for buffer in [model.summary!.parameters, model.network.parameters] {
      var pick = Xoshiro(seed: 9)
      let indices = (0..<24).map { _ in pick.nextInt(below: buffer.count) }
      let analytic = buffer.gradientArray
      let res = check.worstError(indices: indices, values: buffer.values, analytic: analytic, loss: loss)
      #expect(res.error <= 1, "\(method) \(arch): \(res)")
    }
    let summaryNorm = model.summary!.parameters.gradientArray.reduce(0) { $0 + Double($1 * $1) }
    #expect(summaryNorm > 0)
  }

  /// Consistency objectives train the summary network too: its weights move in training, and the model samples.
  @Test(arguments: [EstimatorMethod.consistency, .stableConsistency])
  func consistencyModelsTrainTheSummaryNetwork(method: EstimatorMethod) throws {
    let estimator = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 8, settings: EstimatorSettings(method: method),
      network: Self.smallNetwork(), summary: Self.architectures[1], seed: 3)
    let before = estimator.model.summary!.parameters.valueArray
    var rng = Xoshiro(seed: 1)
    let theta = rng.normalMatrix(rows: 256, cols: 2)
    var config = TrainingConfiguration()
    config.epochs = 2
    config.batchSize = 64
    try estimator.train(.simulations(parameters: theta, data: Self.conditions(rows: 256, extra: 0, rng: &rng)),
                        configuration: config)
    let after = estimator.model.summary!.parameters.valueArray
    #expect(zip(before, after).contains { $0 != $1 })
    let draws = try estimator.sample(observations: Self.conditions(rows: 2, extra: 0, rng: &rng), count: 10)
    #expect(draws.samples.count == 2 && draws.samples.allSatisfy { $0.allFinite })
  }

  /// After training (standardizer fitted per feature channel), a set's summary does not depend on the order of
  /// its items or on where the padding sits; the standardizer's statistics are equal across items.
  @Test(arguments: [0, 1, 3, 4]) func setSummariesIgnoreOrderAndPadding(architecture: Int) throws {
    let estimator = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 8, network: Self.smallNetwork(),
      summary: Self.architectures[architecture], seed: 4)
    var rng = Xoshiro(seed: 2)
    var x = rng.normalMatrix(rows: 300, cols: 8)
    for r in 0..<300 { for j in 0..<8 { x[r, j] = x[r, j] * Float(1 + j % 2) + Float(j % 2) * 3 } }
    var config = TrainingConfiguration()
    config.epochs = 1
    config.batchSize = 100
    try estimator.train(.simulations(parameters: rng.normalMatrix(rows: 300, cols: 2), data: x), configuration: config)
    let s = try #require(estimator.conditionStandardizer)
    #expect(s.channels == ChannelGroups(items: 4, width: 2))
    for j in 2..<8 { #expect(s.mean[j] == s.mean[j % 2] && s.std[j] == s.std[j % 2]) }
    #expect(abs(s.mean[1] - 3) < 0.3 && abs(s.std[1] - 2) < 0.2)
    let items: [[Float]] = [[0.5, 2.0], [-1.0, 4.5], [1.5, 3.0]]
    func row(_ slots: [[Float]?]) -> [Float] { slots.flatMap { $0 ?? [.nan, .nan] } }
    let rows = [
      row([items[0], items[1], items[2], nil]), row([items[2], items[0], items[1], nil]),
      row([nil, items[1], items[2], items[0]]), row([items[1], nil, items[0], items[2]]),
    ]
    let e = try estimator.conditionEmbedding(Matrix(rows: 4, cols: 8, storage: rows.flatMap { $0 }))
    for r in 1..<4 { for j in 0..<e.cols { #expect(abs(e[r, j] - e[0, j]) < 1e-4, "row \(r) column \(j)") } }
    // A present item changes the summary (the check above could not pass by ignoring the data).
    let other = try estimator.conditionEmbedding(Matrix(rows: 1, cols: 8, storage: row([items[0], items[1], nil, nil])))
    #expect((0..<e.cols).contains { abs(other[0, $0] - e[0, $0]) > 1e-3 })
  }

  /// Model directories keep the summary network, its weights and the channel standardizer: the loaded model
  /// embeds and samples exactly as the saved one; sets with a partly missing item are refused.
  @Test func summaryModelsRoundTripThroughModelFiles() throws {
    let estimator = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 8, network: Self.smallNetwork(), summary: Self.architectures[2], seed: 6)
    var rng = Xoshiro(seed: 3)
    var config = TrainingConfiguration()
    config.epochs = 1
    config.batchSize = 64
    config.useEMA = true
    try estimator.train(.simulations(parameters: rng.normalMatrix(rows: 128, cols: 2),
                                     data: Self.conditions(rows: 128, extra: 0, rng: &rng)), configuration: config)
    let dir = temporaryDirectory("summary-model")
    try estimator.save(to: dir)
    let loaded = try PosteriorEstimator.load(from: dir)
    #expect(loaded.model.summary?.architecture == estimator.model.summary?.architecture)
    #expect(loaded.conditionStandardizer == estimator.conditionStandardizer)
    let obs = Self.conditions(rows: 2, extra: 0, rng: &rng)
    #expect(try loaded.conditionEmbedding(obs).storage == estimator.conditionEmbedding(obs).storage)
    let a = try estimator.sample(observations: obs, count: 20, seed: 8)
    let b = try loaded.sample(observations: obs, count: 20, seed: 8)
    #expect(a.samples.map(\.storage) == b.samples.map(\.storage))
    var partial = obs
    partial[1, 2] = .nan
    #expect(throws: EstimatorError.self) { try loaded.sample(observations: partial, count: 5) }
    // The model-file reader bounds the summary network's and the channel groups' sizes.
    let configPath = dir + "/config.json"
    let json = try String(contentsOfFile: configPath, encoding: .utf8)
    for (from, to) in [("\"items\" : 4", "\"items\" : 50"), ("\"steps\" : 4", "\"steps\" : 70000")] {
      #expect(json.contains(from), "config.json lacks \(from)")
      try json.replacingOccurrences(of: from, with: to).write(toFile: configPath, atomically: true, encoding: .utf8)
      #expect(throws: (any Error).self) { try PosteriorEstimator.load(from: dir) }
    }
    try json.write(toFile: configPath, atomically: true, encoding: .utf8)
    _ = try PosteriorEstimator.load(from: dir)
  }

  /// Classifier-free guidance with a summary network: trained with condition dropout, sampled with a guidance
  /// scale; the unconditional branch is the null token, not a summary of padding.
  @Test func classifierFreeGuidanceWithASummaryNetwork() throws {
    let estimator = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 8, settings: EstimatorSettings(conditionDropout: 0.3),
      network: Self.smallNetwork(), summary: Self.architectures[0], seed: 7)
    var rng = Xoshiro(seed: 4)
    var config = TrainingConfiguration()
    config.epochs = 2
    config.batchSize = 64
    try estimator.train(.simulations(parameters: rng.normalMatrix(rows: 256, cols: 2),
                                     data: Self.conditions(rows: 256, extra: 0, rng: &rng)), configuration: config)
    let obs = Self.conditions(rows: 1, extra: 0, rng: &rng)
    let guided = try estimator.sample(observations: obs, count: 50, inference: InferenceOptions(guidanceScale: 2),
                                      seed: 1)
    let plain = try estimator.sample(observations: obs, count: 50, seed: 1)
    #expect(guided.samples[0].allFinite && guided.evaluations > 0)
    #expect(guided.samples[0].storage != plain.samples[0].storage)
  }

  /// A hierarchical estimator with a set summary on each level: the local network passes η through beside the
  /// summary, both parts sample and survive a save/load round trip.
  @Test func hierarchicalEstimatorTakesSummariesOnBothLevels() throws {
    let h = try HierarchicalEstimator(
      globalDimension: 1, localDimension: 2, groupDimension: 8, globalNetwork: Self.smallNetwork(),
      localNetwork: Self.smallNetwork(), globalSummary: Self.architectures[0], localSummary: Self.architectures[1])
    #expect(h.local.model.passthrough == 1 && h.local.conditionDimension == 9)
    var rng = Xoshiro(seed: 1)
    let y = Self.conditions(rows: 200, extra: 0, rng: &rng)
    var config = TrainingConfiguration()
    config.epochs = 1
    config.batchSize = 50
    try h.train(global: rng.normalMatrix(rows: 200, cols: 1), local: rng.normalMatrix(rows: 200, cols: 2),
                groupData: y, configuration: config)
    let dir = temporaryDirectory("summary-hier")
    try h.save(to: dir)
    let loaded = try HierarchicalEstimator.load(from: dir)
    let groups = y.rows(0..<3)
    let draws = try loaded.sample(groupData: groups, count: 8, hyperprior: GaussianPrior(mean: [0], standardDeviation: [1]))
    #expect(draws.global.rows == 8 && draws.local.rows == 24 && draws.local.allFinite)
  }

  /// Trained end to end on sets of 3–8 i.i.d. draws x_i ~ N(θ, I₂) with θ ~ N(0, I₂) (padded to 8 items): the
  /// posterior is N(Σx_i/(n+1), I/(n+1)); the DeepSet estimator's means and spreads match it.
  @Test func trainedSetEstimatorMatchesTheGaussianMeanPosterior() throws {
    let items = 8, n = 12_000
    var rng = Xoshiro(seed: 21)
    func simulate(_ count: Int) -> (Matrix, Matrix) {
      let theta = rng.normalMatrix(rows: count, cols: 2)
      var x = Matrix(rows: count, cols: 2 * items)
      for r in 0..<count {
        let size = 3 + rng.nextInt(below: items - 2)
        for i in 0..<items {
          for k in 0..<2 { x[r, 2 * i + k] = i < size ? theta[r, k] + Float(rng.nextNormal()) : .nan }
        }
      }
      return (theta, x)
    }
    var set = DeepSetConfiguration(elementDimension: 2, setSize: items, summaryDimension: 8)
    set.innerWidths = [32, 32]
    set.outerWidths = [32]
    var net = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 1)
    net.widths = [64, 64, 64]
    let estimator = try PosteriorEstimator(parameterDimension: 2, conditionDimension: 2 * items, network: net,
                                           summary: .deepSet(set), seed: 2)
    let (theta, x) = simulate(n)
    var config = TrainingConfiguration()
    config.epochs = 25
    config.batchSize = 128
    config.learningRate = 1e-3
    try estimator.train(.simulations(parameters: theta, data: x), configuration: config)
    let (_, test) = simulate(6)
    let draws = try estimator.sample(observations: test, count: 2000, seed: 4)
    var worstMean = 0.0, worstSpread = 0.0
    for r in 0..<test.rows {
      var sum = [0.0, 0.0], present = 0.0
      for i in 0..<items where !test[r, 2 * i].isNaN {
        present += 1
        for k in 0..<2 { sum[k] += Double(test[r, 2 * i + k]) }
      }
      let sd = 1 / (present + 1).squareRoot()
      for k in 0..<2 {
        let column = (0..<2000).map { Double(draws.samples[r][$0, k]) }
        let mean = column.reduce(0, +) / 2000
        let spread = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 1999).squareRoot()
        worstMean = max(worstMean, abs(mean - sum[k] / (present + 1)) / sd)
        worstSpread = max(worstSpread, abs(spread / sd - 1))
      }
    }
    #expect(worstMean < 0.35, "worst mean error \(worstMean) posterior sd")
    #expect(worstSpread < 0.3, "worst relative sd error \(worstSpread)")
  }
}

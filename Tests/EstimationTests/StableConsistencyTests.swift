import Foundation
import Testing
import TestSupport
import Estimation
import NeuralNet
import NumericCore
import Consistency

/// The stable consistency model (sCM) in the estimator: the objective's gradients (network and adaptive weight
/// network), model files, and a short training run on a Gaussian target.
@Suite(.serialized) struct StableConsistencyEstimatorTests {
  static func settings(width: Int = 8) -> StableConsistencySettings {
    var w = AdaptiveWeightConfiguration()
    w.width = width
    w.embedDimension = 8
    return StableConsistencySettings(weightNetwork: w)
  }

  /// The objective's gradient against central finite differences of the same loss with the teacher F⁻ and the
  /// tangent g held fixed (they are stop-gradient quantities), for network parameters and all parameters of the
  /// weight network (its head is randomized first so that every layer gets a gradient).
  @Test func objectiveGradientMatchesFiniteDifferences() throws {
    let (b, d, dc) = (12, 2, 3)
    var net = TimeMLPConfiguration(inputDimension: d, conditionDimension: dc)
    net.widths = [16, 16]
    net.dropout = 0
    let s = Self.settings()
    let est = try PosteriorEstimator(
      parameterDimension: d, conditionDimension: dc, settings: EstimatorSettings(method: .stableConsistency, stableConsistency: s),
      network: net, seed: 4)
    let model = est.model
    let aux = try #require(model.auxiliary)
    var rng = Xoshiro(seed: 99)
    aux.valueArray = (0..<aux.count).map { _ in Float(rng.nextNormal() * 0.3) }
    let theta = rng.normalMatrix(rows: b, cols: d)
    let cond = rng.normalMatrix(rows: b, cols: dc)
    let batch = TrainingBatch(parameters: theta, conditions: cond)
    let objective = try StableConsistencyObjective(settings: s, batchSize: b)
    model.zeroGradients()
    var r1 = Xoshiro(seed: 7)
    let loss = objective.lossAndGradient(model: model, batch: batch, rng: &r1)

    // The same inputs, drawn in the objective's order; teacher and tangent frozen at the current weights.
    var r2 = Xoshiro(seed: 7)
    let cfg = s.configuration
    let times = cfg.trainingTimes(count: b, rng: &r2)
    let noise = r2.normalMatrix(rows: b, cols: d)
    let sb = try stableConsistencyInputs(theta: theta, noise: noise, times: times, configuration: cfg)
    let teacher = stableConsistencyTeacher(network: model.timeMLP!, batch: sb, condition: cond)
    let g = try stableConsistencyTangent(
      sb, teacherOutput: teacher.output, teacherDerivative: teacher.derivative, configuration: cfg)
    let weights = try AdaptiveWeightNetwork.attach(configuration: s.weightNetwork, to: aux)
    func frozenLoss() throws -> Double {
      let out = model.network.predict(sb.networkInput, time: sb.timeInput, condition: cond)
      let w = weights.forward(sb.timeInput, parameters: aux).logWeight
      return try stableConsistencyLoss(output: out, teacherOutput: teacher.output, tangent: g, logWeight: w).loss
    }
    #expect(abs(try frozenLoss() - Double(loss)) < 1e-5 * max(1, abs(Double(loss))))

    func check(_ buffer: ParameterBuffer, indices: [Int], h: Float) throws -> Int {
      var failures = 0
      for i in indices {
        let v = buffer.values[i]
        func central(_ h: Float) throws -> Double {
          buffer.values[i] = v + h
          let lp = try frozenLoss()
          buffer.values[i] = v - h
          let lm = try frozenLoss()
          buffer.values[i] = v
          return (lp - lm) / (2 * Double(h))
        }
        // Richardson extrapolation: the network's Fourier features (scale 30) make the O(h²) term visible.
        let fd = (4 * (try central(h / 2)) - (try central(h))) / 3
        let an = Double(buffer.gradients[i])
        if abs(fd - an) > 0.03 * max(abs(fd), abs(an)) + 2e-4 {
          failures += 1
          Issue.record("parameter \(i): finite difference \(fd), gradient \(an)")
        }
      }
      return failures
    }
    // Network: the 20 largest gradients and 20 random parameters.
    let p = model.network.parameters
    let largest = (0..<p.count).sorted { abs(p.gradients[$0]) > abs(p.gradients[$1]) }.prefix(20)
    let random = (0..<20).map { _ in rng.nextInt(below: p.count) }
    #expect(try check(p, indices: Array(largest) + random, h: 2e-3) == 0)
    #expect(abs(p.gradients[largest.first!]) > 1e-3)
    // Weight network: every parameter.
    #expect(try check(aux, indices: Array(0..<aux.count), h: 2e-3) == 0)
    #expect((0..<aux.count).contains { abs(aux.gradients[$0]) > 1e-3 })
  }

  @Test func saveLoadRoundTripIsBitForBit() throws {
    let (theta, x) = PosteriorEstimatorTests.conjugateData(1000, seed: 5)
    let settings = EstimatorSettings(method: .stableConsistency, stableConsistency: Self.settings(width: 32))
    let est = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 2, settings: settings,
      network: PosteriorEstimatorTests.smallNetwork(2, 2), seed: 6)
    var cfg = TrainingConfiguration()
    cfg.epochs = 2
    cfg.useEMA = true
    let initialWeights = try #require(est.model.auxiliary).valueArray
    try est.train(.simulations(parameters: theta, data: x), configuration: cfg)
    let trainedWeights = try #require(est.model.auxiliary).valueArray
    #expect(trainedWeights != initialWeights, "the weight network is trained")
    let dir = temporaryDirectory("scm")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try est.save(to: dir)
    let loaded = try PosteriorEstimator.load(from: dir)
    #expect(loaded.settings == est.settings)
    #expect(loaded.model.auxiliary?.valueArray == trainedWeights)
    #expect(loaded.emaWeights == est.emaWeights && loaded.emaWeights?.count == 2)
    let obs = Matrix([[0.3, 0.1], [-1, 2]])
    let a = try est.sample(observations: obs, count: 300, seed: 5)
    let b = try loaded.sample(observations: obs, count: 300, seed: 5)
    #expect(a.samples.map(\.storage) == b.samples.map(\.storage))
    #expect(a.evaluations == 14)

    // A model file whose weight network does not match its settings is refused with a typed error.
    let bad = temporaryDirectory("scm-bad")
    defer { try? FileManager.default.removeItem(atPath: bad) }
    let mismatched = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 2, settings: settings,
      network: PosteriorEstimatorTests.smallNetwork(2, 2), seed: 6)
    try mismatched.save(to: bad)
    var config = try String(contentsOfFile: bad + "/config.json", encoding: .utf8)
    config = config.replacingOccurrences(of: "\"width\" : 32", with: "\"width\" : 16")
    try config.write(toFile: bad + "/config.json", atomically: true, encoding: .utf8)
    #expect(throws: EstimatorError.self) { try PosteriorEstimator.load(from: bad) }
  }

  /// θ ~ N(0, I₂), x = θ + ½ε, posterior N(0.8 x, 0.2 I): a short sCM run recovers mean and variance loosely.
  @Test func learnsTheConjugatePosterior() throws {
    let (theta, x) = PosteriorEstimatorTests.conjugateData(8000, seed: 21)
    let est = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 2,
      settings: EstimatorSettings(method: .stableConsistency, stableConsistency: StableConsistencySettings()),
      network: PosteriorEstimatorTests.smallNetwork(2, 2), seed: 21)
    var cfg = TrainingConfiguration()
    cfg.epochs = 30
    cfg.learningRate = 1e-3
    try est.train(.simulations(parameters: theta, data: x), configuration: cfg)
    let obs = Matrix([[1.0, -0.5], [0, 2]])
    let r = try est.sample(observations: obs, count: 3000, seed: 9)
    #expect(r.nonFiniteRows == 0)
    for (i, s) in r.samples.enumerated() {
      let (m, v) = s.columnMeanVariance()
      print("sCM conjugate: observation \(i) mean \(m) variance \(v)")
      for j in 0..<2 {
        #expect(abs(m[j] - 0.8 * Double(obs[i, j])) < 0.15, "mean \(m[j])")
        #expect(abs(v[j] - 0.2) < 0.1, "variance \(v[j])")
      }
    }
  }
}

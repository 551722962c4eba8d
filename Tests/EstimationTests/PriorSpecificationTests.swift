import Estimation
import Foundation
import NeuralNet
import NumericCore
import Tasks
import Testing

/// Log-normal and product priors of the JSON specification, their per-coordinate supports, and a stated training
/// prior stored with a model.
@Suite struct PriorSpecificationTests {
  static let product = #"""
    {"type": "product", "components": [
      {"type": "lognormal", "mean": [0.5], "std": [0.3]},
      {"type": "uniform", "low": [-1, 0], "high": [1, 5]},
      {"type": "gaussian", "mean": [2], "std": [0.5]}]}
    """#

  @Test func productOfBlocksHasTheBlocksDensityScoreAndSupport() throws {
    let p = try PriorSpecification.parse(Data(Self.product.utf8), dimension: 4)
    let product = try #require(p as? IndependentPrior)
    #expect(coordinateConstraints(of: p) == [.positive, .interval(lower: -1, upper: 1), .interval(lower: 0, upper: 5),
                                             .unbounded])
    let theta = Matrix([[1.3, 0.2, 4.0, 1.7], [0.6, -0.5, 0.5, 2.4]])
    let ln = LogNormalPrior(mu: [0.5], sigma: [0.3]), g = GaussianPrior(mean: [2], standardDeviation: [0.5])
    let expected = (0..<2).map { r in
      ln.logDensity(theta.rows(r..<(r + 1)).columns(0..<1))[0] - log(2.0 * 5.0)
        + g.logDensity(theta.rows(r..<(r + 1)).columns(3..<4))[0]
    }
    for (a, b) in zip(product.logDensity(theta), expected) { #expect(abs(a - b) < 1e-9) }
    // The score against central differences of the log density, coordinate by coordinate (outside the flat box).
    let s = try #require(product.score(theta))
    for j in [0, 3] {
      var plus = theta, minus = theta
      plus[0, j] += 1e-3
      minus[0, j] -= 1e-3
      let fd = (product.logDensity(plus)[0] - product.logDensity(minus)[0]) / Double(plus[0, j] - minus[0, j])
      #expect(abs(Double(s[0, j]) - fd) < 1e-2 * max(1, abs(fd)), "coordinate \(j)")
    }
    // Draws fall inside every block's support.
    let draws = product.sample(count: 2000, seed: 3)
    for r in 0..<draws.rows {
      #expect(draws[r, 0] > 0 && abs(draws[r, 1]) < 1 && draws[r, 2] > 0 && draws[r, 2] < 5)
    }
    #expect(product.mean.count == 4 && abs(product.mean[3] - 2) < 1e-12)
  }

  @Test func badLogNormalAndProductSpecificationsAreRefused() {
    for bad in [#"{"type":"lognormal","mean":[0],"std":[0]}"#, #"{"type":"lognormal","mean":[0,1],"std":[1]}"#,
                #"{"type":"product","components":[]}"#, #"{"type":"product","components":[{"type":"cauchy"}]}"#] {
      #expect(throws: SpecificationError.self) { _ = try PriorSpecification.parse(Data(bad.utf8)) }
    }
  }

  /// A stated prior is stored with the model, survives save/load, and is the default training prior.
  @Test func statedTrainingPriorIsStoredAndUsed() throws {
    let est = try PosteriorEstimator(parameterDimension: 4, conditionDimension: 1)
    #expect(throws: EstimatorError.self) { _ = try est.trainingPrior(nil) }
    #expect(throws: SpecificationError.self) {
      try est.setTrainingPrior(specification: #"{"type":"uniform","low":[0],"high":[1]}"#)
    }
    try est.setTrainingPrior(specification: Self.product)
    var rng = Xoshiro(seed: 5)
    let theta = try PriorSpecification.parse(Data(Self.product.utf8)).sample(count: 64, seed: 1)
    var cfg = TrainingConfiguration()
    cfg.epochs = 1
    cfg.batchSize = 32
    try est.train(.simulations(parameters: theta, data: rng.normalMatrix(rows: 64, cols: 1)), configuration: cfg)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prior-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try est.save(to: dir)
    let loaded = try PosteriorEstimator.load(from: dir)
    #expect(loaded.settings.trainingPrior == Self.product)
    #expect(try loaded.trainingPrior(nil) is IndependentPrior)
  }
}

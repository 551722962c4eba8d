import Diffusion
import Estimation
import FlowMatching
import Foundation
import NeuralNet
import NumericCore
import Testing

/// `logProbability` and `maximumAPosteriori` against the conjugate Gaussian posterior N(0.8 x, 0.2 I) of
/// `PosteriorEstimatorTests.conjugateData`, with θ constrained to the box (−10, 10)² so that the logit transform's
/// Jacobian is part of what is checked.
@Suite(.serialized) struct PosteriorDensityTests {
  static func trained(_ method: EstimatorMethod) throws -> PosteriorEstimator {
    let (theta, x) = PosteriorEstimatorTests.conjugateData(8000, seed: 31)
    let est = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 2, settings: EstimatorSettings(method: method),
      network: PosteriorEstimatorTests.smallNetwork(2, 2),
      constraints: [.interval(lower: -10, upper: 10), .interval(lower: -10, upper: 10)], seed: 31)
    var cfg = TrainingConfiguration()
    cfg.epochs = 20
    cfg.learningRate = 1e-3
    try est.train(.simulations(parameters: theta, data: x), configuration: cfg)
    return est
  }

  static let observation = Matrix([[1.0, -0.5]])

  /// Draws from the exact posterior and their exact log-densities.
  static func exact(_ n: Int) -> (Matrix, [Double]) {
    var rng = Xoshiro(seed: 5)
    var theta = rng.normalMatrix(rows: n, cols: 2)
    theta.scale(by: Float(0.2.squareRoot()))
    let mean: [Float] = [0.8, -0.4]
    for r in 0..<n { for j in 0..<2 { theta[r, j] += mean[j] } }
    let lp = (0..<n).map { r in
      (0..<2).reduce(0.0) { s, j in
        let d = Double(theta[r, j] - mean[j])
        return s - 0.5 * d * d / 0.2 - 0.5 * Foundation.log(2 * Double.pi * 0.2)
      }
    }
    return (theta, lp)
  }

  @Test(arguments: [EstimatorMethod.diffusion, .flowMatching])
  func logProbabilityAndModeMatchTheClosedForm(_ method: EstimatorMethod) throws {
    let est = try Self.trained(method)
    let (theta, truth) = Self.exact(300)
    let lp = try est.logProbability(theta, observation: Self.observation)
    let mae = zip(lp, truth).map { abs($0 - $1) }.reduce(0, +) / Double(lp.count)
    #expect(mae < 0.25, "\(method): mean absolute error \(mae) nats")
    // Hutchinson's estimator agrees on average.
    let h = try est.logProbability(theta, observation: Self.observation, divergence: .hutchinson(probes: 4))
    let bias = zip(h, lp).map { $0 - $1 }.reduce(0, +) / Double(lp.count)
    #expect(abs(bias) < 0.1, "\(method): Hutchinson bias \(bias)")
    // Outside the support: −∞.
    let outside = try est.logProbability(Matrix([[11.0, 0], [0.8, -0.4]]), observation: Self.observation)
    #expect(outside[0] == -.infinity && outside[1].isFinite)
    let mode = try est.maximumAPosteriori(observation: Self.observation, draws: 200, iterations: 100)
    #expect(abs(Double(mode.parameters[0]) - 0.8) < 0.15 && abs(Double(mode.parameters[1]) + 0.4) < 0.15,
            "\(method): mode \(mode.parameters)")
    #expect(mode.logProbability >= mode.bestDrawLogProbability)
    #expect(abs(mode.logProbability - (-Foundation.log(2 * Double.pi * 0.2))) < 0.4, "\(mode.logProbability)")
  }

  @Test func consistencyModelsHaveNoDensity() throws {
    let est = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 2, settings: EstimatorSettings(method: .consistency),
      network: PosteriorEstimatorTests.smallNetwork(2, 2), seed: 1)
    #expect(throws: EstimatorError.self) { try est.logProbability(Matrix([[0.0, 0]]), observation: Self.observation) }
    #expect(throws: EstimatorError.self) { try est.maximumAPosteriori(observation: Self.observation) }
  }
}

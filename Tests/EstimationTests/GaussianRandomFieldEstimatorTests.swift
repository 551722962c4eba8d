import Diagnostics
import Estimation
import Foundation
import NeuralNet
import NumericCore
import Tasks
import Testing

/// Parameter inference on 16 × 16 Gaussian random fields (Documentation/Methods.md §11.5) with the convolutional
/// summary network: trained offline on 5,000 simulations, the posterior draws of 100 held-out fields reach an
/// NRMSE (range-normalized, the case study's metric) below 0.15 after 30 epochs (0.122 and 0.135 measured; the case
/// study's 0.08 takes 500 epochs, and draws from the prior score about 0.28). Opt-in (DIFFSBI_SLOW_TESTS=1): 30
/// epochs of 5,000 fields take one to two and a half minutes on two shared cores.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["DIFFSBI_SLOW_TESTS"] != nil))
struct GaussianRandomFieldEstimatorTests {
  @Test func convolutionalEstimatorRecoversTheFieldParameters() throws {
    let task = GaussianRandomFieldTask(size: 16)
    let (theta, x) = task.sampleJoint(count: 5000, seed: 42)
    var net = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 8)
    net.widths = [64, 64, 64]
    net.dropout = 0
    let estimator = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 256, network: net,
      summary: .convolutional(ConvolutionalConfiguration(height: 16, width: 16)), seed: 1)
    var config = TrainingConfiguration()
    config.epochs = 30
    config.batchSize = 32
    config.optimizer = .adamW
    let start = Date()
    try estimator.train(.simulations(parameters: theta, data: x), configuration: config)
    let (testTheta, testX) = task.sampleJoint(count: 100, seed: 84)
    let draws = try estimator.sample(observations: testX, count: 300, seed: 3)
    let nrmse = try normalizedRMSE(estimates: draws.samples, targets: testTheta, normalization: .range)
    print("grf_16: NRMSE (range) \(nrmse) after \(Date().timeIntervalSince(start)) s")
    for (j, value) in nrmse.enumerated() { #expect(value < 0.15, "θ\(j + 1): NRMSE \(value)") }
  }
}

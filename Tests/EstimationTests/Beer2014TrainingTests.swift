import Diagnostics
import Estimation
import Foundation
import NeuralNet
import NumericCore
import Tasks
import Testing

/// A short trained run on a reduced beer2014 task: condition typeIDT5_ExpID1 alone (growth starts at τ ≈ 224 min
/// inside the window) at every 10th time point, x of shape [72, 2], 9 parameters, 3,000 simulations, with the
/// log1p data transform. The diffusion estimator (flat data, no summary network, to stay short) recovers θ better
/// than the prior in NRMSE: clearly for the carrying capacity and the Ind noise level, and on average.
@Suite struct Beer2014TrainingTests {
  @Test func reducedTaskBeatsThePriorInNRMSE() throws {
    let task = Beer2014Task(conditions: [12], timeStride: 10)
    #expect(task.parameterDimension == 9 && task.dataShape == [72, 2])
    #expect(task.parameterNames[0] == "Bacmax_typeIDT5_ExpID1" && task.parameterNames[7] == "sd_IndconcNormRange")
    let (theta, x) = task.sampleJoint(count: 3_000, seed: 1)
    #expect(x.allFinite)
    var network = TimeMLPConfiguration(inputDimension: 9, conditionDimension: task.dataDimension)
    network.widths = [128, 128, 128]
    let estimator = try PosteriorEstimator(
      parameterDimension: 9, conditionDimension: task.dataDimension, network: network,
      constraints: task.prior.constraint.constraints(dimension: 9), seed: 2)
    var config = TrainingConfiguration()
    config.epochs = 20
    config.batchSize = 64
    config.learningRate = 1e-3
    config.conditionTransform = .log1p
    try estimator.train(.simulations(parameters: theta, data: x), configuration: config)
    #expect(estimator.conditionStandardizer?.transform == .log1p)

    let (testTheta, testX) = task.sampleJoint(count: 40, seed: 9)
    let draws = try estimator.sample(observations: testX, count: 100, seed: 3).samples
    let trained = try normalizedRMSE(estimates: draws, targets: testTheta)
    let priorDraws = (0..<40).map { task.prior.sample(count: 100, seed: 100 + UInt64($0)) }
    let prior = try normalizedRMSE(estimates: priorDraws, targets: testTheta)
    let meanTrained = trained.reduce(0, +) / 9, meanPrior = prior.reduce(0, +) / 9
    // Prior draws score about 1 by construction (the normalizer is the prior-draw RMSE).
    #expect(meanPrior > 0.85, "prior NRMSE \(meanPrior)")
    #expect(meanTrained < 0.85 * meanPrior, "NRMSE trained \(meanTrained) (per parameter \(trained)), prior \(meanPrior)")
    #expect(trained[0] < 0.5 && trained[7] < 0.5, "Bacmax \(trained[0]), sd_IndconcNormRange \(trained[7])")
  }
}

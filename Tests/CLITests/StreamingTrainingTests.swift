import DiffusionSBI
import Foundation
import Testing

/// Streaming training over shards: the statistics pass equals the statistics of the concatenated data, and
/// non-finite rows are dropped and counted.
@Suite struct StreamingTrainingTests {
  @Test func shardStatisticsMatchConcatenatedData() throws {
    let task = try TaskRegistry.task(named: "gaussian_linear")
    var parts: [(Matrix, Matrix)] = []
    for k in 0..<3 {
      let j = task.sampleJoint(count: 50 + 17 * k, seed: UInt64(k))
      parts.append((j.parameters, j.data))
    }
    var bad = parts[1]
    bad.1[4, 2] = .infinity
    parts[1] = bad
    let shards = parts.enumerated().map { k, p in TrainingShard(name: "shard\(k)") { p } }
    var net = TimeMLPConfiguration(inputDimension: 10, conditionDimension: 10)
    net.widths = [16, 16]
    var config = TrainingConfiguration()
    config.epochs = 2
    config.batchSize = 32
    let streamed = try PosteriorEstimator(parameterDimension: 10, conditionDimension: 10, network: net)
    let history = try streamed.train(.shards(shards), configuration: config)
    let statistics = streamed.lastSourceStatistics
    #expect(statistics.droppedRows == 1)
    #expect(statistics.trainingRows == 50 + 67 + 84 - 1)
    #expect(history.loss.count == 2)
    let finite = history.loss.allSatisfy { $0.isFinite }
    #expect(finite)
    #expect(streamed.settings.simulations == statistics.trainingRows)

    let (kept, _) = try NonFiniteRows.drop([Matrix.vstack(parts.map(\.0)), Matrix.vstack(parts.map(\.1))])
    let whole = try PosteriorEstimator(parameterDimension: 10, conditionDimension: 10, network: net)
    try whole.train(.simulations(parameters: kept[0], data: kept[1]), configuration: config)
    let a = try #require(streamed.parameterStandardizer), b = try #require(whole.parameterStandardizer)
    for (x, y) in zip(a.mean + a.std, b.mean + b.std) { #expect(abs(x - y) < 1e-9 * max(1, abs(y))) }
    let c = try #require(streamed.conditionStandardizer), d = try #require(whole.conditionStandardizer)
    for (x, y) in zip(c.mean + c.std, d.mean + d.std) { #expect(abs(x - y) < 1e-9 * max(1, abs(y))) }
  }

  @Test func shardWithWrongWidthIsRefused() throws {
    let shard = TrainingShard(name: "narrow") { (Matrix(rows: 4, cols: 2), Matrix(rows: 4, cols: 3)) }
    let e = try PosteriorEstimator(parameterDimension: 3, conditionDimension: 3)
    var config = TrainingConfiguration()
    config.epochs = 1
    #expect(throws: EstimatorError.self) { try e.train(.shards([shard]), configuration: config) }
  }
}

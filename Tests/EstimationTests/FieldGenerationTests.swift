import Estimation
import Foundation
import NeuralNet
import NumericCore
import Tasks
import Testing

/// Field generation (Documentation/Methods.md §11.6): a small U-Net trained online on 8 × 8 Gaussian random fields
/// generates fields with the simulator's statistics — a spatial mean of zero (the simulator's amplitude at
/// frequency 0 is 0, so every simulated field has mean exactly 0) and the pixel variance of
/// `GaussianRandomFieldTask.pixelVariance` (SPEC §1.3 of the case study) — at two θ; the classifier test tells
/// generated fields from simulated ones no better than chance allows when both sides are simulated.
@Suite(.serialized)
struct FieldGenerationTests {
  static let task = GaussianRandomFieldTask(size: 8)

  @Test func generatedFieldsHaveTheSimulatorsPixelStatistics() throws {
    let task = Self.task
    let estimator = try PosteriorEstimator.fieldGenerator(
      shape: ImageShape(height: 8, width: 8, channels: 1), conditionDimension: 2, widths: [16, 16],
      blocksPerStage: 1, seed: 1)
    var config = TrainingConfiguration()
    config.epochs = 20
    config.stepsPerEpoch = 100
    config.batchSize = 64
    let start = Date()
    try estimator.train(
      .simulator { n, rng in
        let j = task.sampleJoint(count: n, seed: rng.next())
        return (j.data, j.parameters)
      }, configuration: config)
    let trained = Date().timeIntervalSince(start)
    for (logStd, alpha) in [(0.0, 3.0), (0.3, 2.5)] {
      let theta = Matrix(rows: 1, cols: 2, doubles: [logStd, alpha])
      let fields = try estimator.generateFields(conditions: theta, count: 500, seed: 2).samples[0]
      #expect(fields.allFinite)
      let target = task.pixelVariance(logStd: logStd, alpha: alpha)
      var sum = 0.0, squares = 0.0, spatialMeans = 0.0
      for r in 0..<fields.rows {
        var m = 0.0
        for c in 0..<64 {
          let v = Double(fields[r, c])
          (sum, squares, m) = (sum + v, squares + v * v, m + v)
        }
        spatialMeans += abs(m / 64)
      }
      let n = Double(fields.count), mean = sum / n, variance = squares / n - mean * mean
      print("grf_8 field generator (\(fmt(trained)) s): θ = (\(logStd), \(alpha)) mean \(mean), variance ratio "
            + "\(variance / target), mean |spatial mean| / sd \(spatialMeans / Double(fields.rows) / target.squareRoot())")
      #expect(abs(mean) < 0.1 * target.squareRoot(), "θ = (\(logStd), \(alpha)): pixel mean \(mean)")
      #expect(variance / target > 0.75 && variance / target < 1.33, "θ = (\(logStd), \(alpha)): variance ratio \(variance / target)")
      #expect(spatialMeans / Double(fields.rows) < 0.15 * target.squareRoot(), "spatial means not near 0")
    }
  }

  /// Two sets of simulated fields cannot be told apart: the test's accuracy stays near 0.5 (its maximum over
  /// epochs leans upward by the selection); a generator that ignores θ's scale is caught.
  @Test func classifierTestSeparatesWrongFieldsOnly() throws {
    let task = Self.task
    let (theta, x) = task.sampleJoint(count: 440, seed: 3)
    let other = task.simulate(theta, seed: 4)
    var scaled = other
    for i in scaled.storage.indices { scaled.storage[i] *= 2 }
    let train = 0..<400, valid = 400..<440
    var settings = FieldClassifierSettings(epochs: 15, seed: 5)
    settings.learningRate = 1e-3
    let shape = ImageShape(height: 8, width: 8, channels: 1)
    let same = try FieldClassifierTest.run(
      shape: shape, simulated: x.rows(train), generated: other.rows(train), conditions: theta.rows(train),
      validation: (x.rows(valid), other.rows(valid), theta.rows(valid)), settings: settings)
    let wrong = try FieldClassifierTest.run(
      shape: shape, simulated: x.rows(train), generated: scaled.rows(train), conditions: theta.rows(train),
      validation: (x.rows(valid), scaled.rows(valid), theta.rows(valid)), settings: settings)
    print("classifier test: same simulator \(same.finalAccuracy) (max \(same.maximumAccuracy)), fields ×2 "
          + "\(wrong.finalAccuracy) (max \(wrong.maximumAccuracy))")
    #expect(same.finalAccuracy < 0.68, "same simulator: \(same.finalAccuracy)")
    #expect(wrong.maximumAccuracy > 0.75, "scaled fields: \(wrong.maximumAccuracy)")
    #expect(same.accuracies.count == 15 && same.validationImages == 80 && same.trainingImages == 800)
  }
}

private func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

/// The power of the classifier test at the settings `diffsbi diagnose` uses (5,000 pairs, 30 epochs, AdamW 1e-4,
/// batch 16): simulated 8 × 8 fields against simulated fields scaled by 1.1 and 1.25, the size of error a generator
/// can make. Opt-in (DIFFSBI_SLOW_TESTS=1; about a minute): it measures, for BENCHMARKS.md, what C2ST values mean.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["DIFFSBI_SLOW_TESTS"] != nil))
struct FieldClassifierPowerTests {
  @Test func scaledFieldsAreDetected() throws {
    let task = GaussianRandomFieldTask(size: 8)
    let (theta, x) = task.sampleJoint(count: 5500, seed: 3)
    let other = task.simulate(theta, seed: 4)
    let train = 0..<5000, valid = 5000..<5500
    let shape = ImageShape(height: 8, width: 8, channels: 1)
    var accuracies: [Float: Double] = [:]
    for scale: Float in [1, 1.1, 1.25] {
      var scaled = other
      scaled.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= scale } }
      let r = try FieldClassifierTest.run(
        shape: shape, simulated: x.rows(train), generated: scaled.rows(train), conditions: theta.rows(train),
        validation: (x.rows(valid), scaled.rows(valid), theta.rows(valid)),
        settings: FieldClassifierSettings(epochs: 30, seed: 5))
      print("classifier power: fields × \(scale): C2ST \(r.maximumAccuracy) (last epoch \(r.finalAccuracy)) in \(r.seconds) s")
      accuracies[scale] = r.maximumAccuracy
    }
    #expect(accuracies[1]! < 0.56)
    #expect(accuracies[1.25]! > 0.6)
  }
}

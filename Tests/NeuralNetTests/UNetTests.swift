import FileFormats
import Foundation
import NumericCore
import TestSupport
import Testing

@testable import NeuralNet

extension NeuralNetSuite {
  @Suite struct UNetTests {
    /// A small U-Net with every kind of op: two stages (pooling, upsampling, a skip concatenation), projections
    /// where the channels change, group normalization with several groups, condition channels.
    static func small(rng: inout Xoshiro, conditionDimension: Int = 2) -> ConditionalUNet {
      let c = UNetConfiguration(
        height: 4, width: 6, channels: 1, conditionDimension: conditionDimension, widths: [4, 6], blocksPerStage: 1,
        groups: 2, timeEmbeddingDimension: 8, fourierScale: 1)
      let net = ConditionalUNet(configuration: c, rng: &rng)
      // Away from the initialization (the zero output convolution would hide every other gradient).
      for i in 0..<net.parameters.count { net.parameters.values[i] += Float(rng.nextNormal()) * 0.2 }
      return net
    }

    @Test func untrainedNetworkPredictsZero() {
      var rng = Xoshiro(seed: 1)
      let net = ConditionalUNet(
        configuration: UNetConfiguration(height: 8, width: 8, conditionDimension: 2), rng: &rng)
      let y = net.predict(rng.normalMatrix(rows: 3, cols: 64), time: [0.1, 0.5, 0.9], condition: rng.normalMatrix(rows: 3, cols: 2))
      #expect(y.storage.allSatisfy { $0 == 0 })
      #expect(net.configuration.widths == [32, 32])
    }

    @Test func gradientsMatchFiniteDifferences() {
      var rng = Xoshiro(seed: 2)
      let net = Self.small(rng: &rng)
      let x = rng.normalMatrix(rows: 3, cols: 24)
      let condition = rng.normalMatrix(rows: 3, cols: 2)
      // The condition values the loss reads, perturbed in place by the finite differences.
      let c = UnsafeMutablePointer<Float>.allocate(capacity: 6)
      defer { c.deallocate() }
      condition.storage.withUnsafeBufferPointer { c.initialize(from: $0.baseAddress!, count: 6) }
      let time: [Float] = [0.2, 0.5, 0.8]
      let w = rng.normalMatrix(rows: 3, cols: 24)
      net.parameters.zeroGradients()
      _ = net.forward(x, time: time, condition: condition, training: true, rng: &rng)
      let dc = net.backward(w)!
      func loss() -> Double {
        var r = Xoshiro(seed: 0)
        let current = Matrix(rows: 3, cols: 2, storage: Array(UnsafeBufferPointer(start: c, count: 6)))
        return weightedSum(net.forward(x, time: time, condition: current, training: true, rng: &r), w)
      }
      let check = GradientCheck(step: 1e-2)
      let indices = sampleIndices(net.parameters, perTensor: 4, rng: &rng)
      let result = check.worstError(
        indices: indices, values: net.parameters.values, analytic: net.parameters.gradientArray, loss: loss)
      #expect(result.error <= 1, "U-Net parameter gradient \(result)")
      let conditionResult = check.worstError(indices: Array(0..<6), values: c, analytic: dc.storage, loss: loss)
      #expect(conditionResult.error <= 1, "U-Net condition gradient \(conditionResult)")
    }

    /// `predict` (chunks of rows, its own workspace) gives `forward`'s output; a replica shares the values.
    @Test func predictAndReplicaAgreeWithForward() {
      var rng = Xoshiro(seed: 3)
      let net = Self.small(rng: &rng)
      let rows = ConditionalUNet.inferenceChunkRows + 5
      let x = rng.normalMatrix(rows: rows, cols: 24), c = rng.normalMatrix(rows: rows, cols: 2)
      let time = (0..<rows).map { Float($0) / Float(rows) }
      let y = net.forward(x, time: time, condition: c, training: true, rng: &rng)
      let p = net.predict(x, time: time, condition: c)
      for i in 0..<y.count { #expect(abs(y.storage[i] - p.storage[i]) <= 1e-5 * max(1, abs(y.storage[i]))) }
      #expect(net.replicaNetwork().predict(x, time: time, condition: c) == p)
    }

    @Test func modelFileRoundTrip() throws {
      var rng = Xoshiro(seed: 5)
      let net = Self.small(rng: &rng)
      let dir = temporaryDirectory("diffsbi-unet") + "/model"
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try ModelFile.save(SavedModel(model: TrainableModel(network: net)), to: dir)
      let loaded = try ModelFile.load(from: dir)
      let u = try #require(loaded.model.network as? ConditionalUNet)
      #expect(u.configuration == net.configuration)
      #expect(u.parameters.valueArray == net.parameters.valueArray)
      #expect(loaded.model.timeMLP == nil)
      // A configuration naming both networks, or neither, is refused.
      let config = try String(contentsOfFile: dir + "/config.json", encoding: .utf8)
      let neither = config.replacingOccurrences(of: "\"unet\"", with: "\"unknown\"")
      #expect(throws: ModelFileError.self) { try ModelFile.checkConfiguration(Array(neither.utf8)) }
    }
  }
}

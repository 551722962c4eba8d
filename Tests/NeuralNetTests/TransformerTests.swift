import FileFormats
import Foundation
import NumericCore
import TestSupport
import Testing

@testable import NeuralNet

extension NeuralNetSuite {
  @Suite struct TransformerTests {
    /// A small transformer (3 θ tokens, 2 condition tokens, two blocks of two heads), moved away from its
    /// initialization.
    static func small(rng: inout Xoshiro, conditionDimension: Int = 2, blocks: Int = 2) -> TokenTransformer {
      var c = TransformerConfiguration(inputDimension: 3, conditionDimension: conditionDimension, width: 8, heads: 2,
                                       blocks: blocks)
      c.timeEmbeddingDimension = 8
      c.fourierScale = 1
      let net = TokenTransformer(configuration: c, rng: &rng)
      for i in 0..<net.parameters.count { net.parameters.values[i] += Float(rng.nextNormal()) * 0.1 }
      return net
    }

    @Test(arguments: [1, 2])
    func gradientsMatchFiniteDifferences(_ blocks: Int) {
      var rng = Xoshiro(seed: 2)
      let net = Self.small(rng: &rng, blocks: blocks)
      let x = rng.normalMatrix(rows: 3, cols: 3)
      let condition = rng.normalMatrix(rows: 3, cols: 2)
      let c = UnsafeMutablePointer<Float>.allocate(capacity: 6)
      defer { c.deallocate() }
      condition.storage.withUnsafeBufferPointer { c.initialize(from: $0.baseAddress!, count: 6) }
      let time: [Float] = [0.2, 0.5, 0.8]
      let w = rng.normalMatrix(rows: 3, cols: 3)
      net.parameters.zeroGradients()
      _ = net.forward(x, time: time, condition: condition, training: true, rng: &rng)
      let dc = net.backward(w)!
      func loss() -> Double {
        var r = Xoshiro(seed: 0)
        let current = Matrix(rows: 3, cols: 2, storage: Array(UnsafeBufferPointer(start: c, count: 6)))
        return weightedSum(net.forward(x, time: time, condition: current, training: true, rng: &r), w)
      }
      let check = GradientCheck(step: 1e-2)
      let indices = sampleIndices(net.parameters, perTensor: 6, rng: &rng)
      let result = check.worstError(
        indices: indices, values: net.parameters.values, analytic: net.parameters.gradientArray, loss: loss)
      #expect(result.error <= 1, "transformer parameter gradient \(result) \(net.parameters.tensors.first { $0.offset <= result.index && result.index < $0.offset + $0.count }?.name ?? "")")
      let conditionResult = check.worstError(indices: Array(0..<6), values: c, analytic: dc.storage, loss: loss)
      #expect(conditionResult.error <= 1, "transformer condition gradient \(conditionResult)")
    }

    /// Without a condition only the θ tokens exist and no condition gradient is returned.
    @Test func unconditionalNetwork() {
      var rng = Xoshiro(seed: 7)
      let net = Self.small(rng: &rng, conditionDimension: 0, blocks: 1)
      let x = rng.normalMatrix(rows: 4, cols: 3)
      let y = net.forward(x, time: [0.1, 0.2, 0.3, 0.4], condition: nil, training: true, rng: &rng)
      #expect(y.rows == 4 && y.cols == 3 && y.allFinite)
      #expect(net.backward(rng.normalMatrix(rows: 4, cols: 3)) == nil)
    }

    /// Every output depends on every token: attention mixes the condition into each θ token.
    @Test func outputDependsOnTheCondition() {
      var rng = Xoshiro(seed: 8)
      let net = Self.small(rng: &rng)
      let x = rng.normalMatrix(rows: 1, cols: 3)
      let a = net.predict(x, time: [0.5], condition: Matrix([[0.0, 0.0]]))
      let b = net.predict(x, time: [0.5], condition: Matrix([[0.0, 1.0]]))
      for j in 0..<3 { #expect(abs(a[0, j] - b[0, j]) > 1e-4) }
    }

    /// `predict` (chunks of rows over threads, their own workspaces) gives `forward`'s output; a replica shares
    /// the values.
    @Test func predictAndReplicaAgreeWithForward() {
      var rng = Xoshiro(seed: 3)
      let net = Self.small(rng: &rng)
      let rows = TokenTransformer.inferenceChunkRows + 5
      let x = rng.normalMatrix(rows: rows, cols: 3), c = rng.normalMatrix(rows: rows, cols: 2)
      let time = (0..<rows).map { Float($0) / Float(rows) }
      let y = net.forward(x, time: time, condition: c, training: true, rng: &rng)
      let p = net.predict(x, time: time, condition: c)
      for i in 0..<y.count { #expect(abs(y.storage[i] - p.storage[i]) <= 1e-5 * max(1, abs(y.storage[i]))) }
      #expect(net.replicaNetwork().predict(x, time: time, condition: c) == p)
    }

    @Test func modelFileRoundTripAndRefusals() throws {
      var rng = Xoshiro(seed: 5)
      let net = Self.small(rng: &rng)
      let dir = temporaryDirectory("diffsbi-transformer") + "/model"
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try ModelFile.save(SavedModel(model: TrainableModel(network: net)), to: dir)
      let loaded = try ModelFile.load(from: dir)
      let t = try #require(loaded.model.network as? TokenTransformer)
      #expect(t.configuration == net.configuration)
      #expect(t.parameters.valueArray == net.parameters.valueArray)
      #expect(loaded.model.timeMLP == nil)
      let config = try String(contentsOfFile: dir + "/config.json", encoding: .utf8)
      #expect(try ModelFile.checkConfiguration(Array(config.utf8)) == net.parameters.count)
      // A configuration naming no network, or a transformer of impossible shape, is refused.
      let neither = config.replacingOccurrences(of: "\"transformer\"", with: "\"unknown\"")
      #expect(throws: ModelFileError.self) { try ModelFile.checkConfiguration(Array(neither.utf8)) }
      let badHeads = config.replacingOccurrences(of: "\"heads\" : 2", with: "\"heads\" : 3")
      #expect(badHeads != config)
      #expect(throws: ModelFileError.self) { try ModelFile.checkConfiguration(Array(badHeads.utf8)) }
    }
  }
}

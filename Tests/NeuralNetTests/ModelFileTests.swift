import FileFormats
import Foundation
import NumericCore
import Testing
import TestSupport
import NeuralNet

extension NeuralNetSuite {
  @Suite struct ModelFileTests {
    func tempDir(_ name: String) -> String { temporaryDirectory("diffsbi-nn-\(name)") + "/model" }

    func makeSaved() -> SavedModel {
      var c = TimeMLPConfiguration(inputDimension: 3, conditionDimension: 4)
      c.widths = [32, 48]
      c.filmUseScale = true
      var rng = Xoshiro(seed: 1)
      let net = TimeMLP(configuration: c, rng: &rng)
      var dc = DeepSetConfiguration(elementDimension: 2, setSize: 5, summaryDimension: 4)
      dc.innerWidths = [16]
      let set = DeepSet(configuration: dc, rng: &rng)
      let model = TrainableModel(network: net, summary: set)
      var ps = Standardizer(dimension: 3)
      ps.update(rng.normalMatrix(rows: 50, cols: 3, mean: 1, std: 3))
      var cs = Standardizer(dimension: 10)
      cs.update(rng.normalMatrix(rows: 50, cols: 10))
      let ema = model.buffers.map { $0.valueArray.map { $0 * 0.5 + 0.1 } }
      return SavedModel(
        model: model, parameterStandardizer: ps, conditionStandardizer: cs,
        transform: ConstraintTransform([.interval(lower: -1, upper: 2), .positive, .unbounded]),
        estimatorSettings: .object(["kind": .string("diffusion"), "steps": .number(500), "ema": .bool(true)]),
        emaWeights: ema)
    }

    @Test func roundTripIsBitExact() throws {
      let saved = makeSaved()
      let dir = tempDir("roundtrip")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try ModelFile.save(saved, to: dir)
      let loaded = try ModelFile.load(from: dir)
      #expect(loaded.model.timeMLP?.configuration == saved.model.timeMLP?.configuration)
      for (a, b) in zip(loaded.model.buffers, saved.model.buffers) { #expect(a.valueArray == b.valueArray) }
      #expect(loaded.emaWeights! == saved.emaWeights!)
      #expect(loaded.parameterStandardizer == saved.parameterStandardizer)
      #expect(loaded.conditionStandardizer == saved.conditionStandardizer)
      #expect(loaded.transform == saved.transform)
      #expect(loaded.estimatorSettings == saved.estimatorSettings)
      var rng = Xoshiro(seed: 3)
      let x = rng.normalMatrix(rows: 7, cols: 3), raw = rng.normalMatrix(rows: 7, cols: 10)
      let t = (0..<7).map { Float($0) / 7 }
      let s1 = saved.model.embed(raw, training: false, rng: &rng)!
      let s2 = loaded.model.embed(raw, training: false, rng: &rng)!
      #expect(s1 == s2)
      #expect(saved.model.network.predict(x, time: t, condition: s1) == loaded.model.network.predict(x, time: t, condition: s2))
    }

    @Test func summaryArchitecturesRoundTrip() throws {
      var rng = Xoshiro(seed: 5)
      var st = SetTransformerConfiguration(elementDimension: 2, setSize: 3, summaryDimension: 4)
      st.width = 8
      var ts = TimeSeriesConfiguration(featureDimension: 2, steps: 3, summaryDimension: 4)
      ts.filters = 4
      // A convolutional summary of 3 × 2 images with one channel (6 values per row, as the other two).
      let conv = ConvolutionalConfiguration(height: 3, width: 2, channels: 1, summaryDimension: 4, widths: [3])
      for arch in [SummaryArchitecture.setTransformer(st), .timeSeries(ts), .convolutional(conv)] {
        let model = TrainableModel(
          network: TimeMLP(configuration: TimeMLPConfiguration(inputDimension: 2, conditionDimension: 4), rng: &rng),
          summary: arch.makeNetwork(rng: &rng))
        let dir = tempDir("summary")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ModelFile.save(SavedModel(model: model), to: dir)
        let loaded = try ModelFile.load(from: dir)
        #expect(loaded.model.summary?.architecture == arch)
        let x = rng.normalMatrix(rows: 3, cols: 6)
        #expect(model.embed(x, training: false, rng: &rng) == loaded.model.embed(x, training: false, rng: &rng))
      }
    }

    @Test func refusesNewerVersionsAndCorruptFiles() throws {
      let saved = makeSaved()
      let dir = tempDir("corrupt")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try ModelFile.save(saved, to: dir)
      let configPath = dir + "/config.json", weightsPath = dir + "/weights.safetensors"
      let config = try String(contentsOfFile: configPath, encoding: .utf8)
      let weights = try Data(contentsOf: URL(fileURLWithPath: weightsPath))
      // Newer format version.
      try config.replacingOccurrences(of: "\"formatVersion\" : 1", with: "\"formatVersion\" : 2")
        .write(toFile: configPath, atomically: true, encoding: .utf8)
      #expect { try ModelFile.load(from: dir) } throws: { e in
        if case ModelFileError.newerFormatVersion(2, 1) = e { return true }
        return false
      }
      // Absurd widths.
      try config.replacingOccurrences(of: "\"widths\" : [\n      32,", with: "\"widths\" : [\n      3000000000,")
        .write(toFile: configPath, atomically: true, encoding: .utf8)
      #expect(throws: ModelFileError.self) { try ModelFile.load(from: dir) }
      try config.write(toFile: configPath, atomically: true, encoding: .utf8)
      // Truncated weights.
      try weights.prefix(weights.count - 100).write(to: URL(fileURLWithPath: weightsPath))
      #expect { try ModelFile.load(from: dir) } throws: { e in
        if case ModelFileError.file(let f) = e, case .truncated = f { return true }
        return false
      }
      // Absurd header size.
      var absurd = weights
      absurd.replaceSubrange(0..<8, with: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
      try absurd.write(to: URL(fileURLWithPath: weightsPath))
      #expect(throws: ModelFileError.self) { try ModelFile.load(from: dir) }
      // Weights of a different architecture.
      try weights.write(to: URL(fileURLWithPath: weightsPath))
      try config.replacingOccurrences(of: "\"timeEmbeddingDimension\" : 32", with: "\"timeEmbeddingDimension\" : 16")
        .write(toFile: configPath, atomically: true, encoding: .utf8)
      #expect { try ModelFile.load(from: dir) } throws: { e in
        if case ModelFileError.weightMismatch = e { return true }
        return false
      }
      // Intact files load again.
      try config.write(toFile: configPath, atomically: true, encoding: .utf8)
      _ = try ModelFile.load(from: dir)
    }
  }
}

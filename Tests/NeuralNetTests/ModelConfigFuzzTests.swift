import Foundation
import NumericCore
import Testing
import NeuralNet

extension NeuralNetSuite {
  /// The model-configuration reader against the fuzzing seeds (valid configurations of every network kind) and
  /// the regression inputs (Fuzz/regressions/modelconfig: shapes within every per-dimension bound whose
  /// parameter count would still need terabytes), plus the summary parameter bound it relies on.
  @Suite struct ModelConfigFuzzTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Fuzz").path

    static func inputs(_ folder: String) -> [(String, [UInt8])] {
      let dir = root + "/\(folder)/modelconfig"
      let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
      return names.compactMap { n in FileManager.default.contents(atPath: dir + "/" + n).map { (n, [UInt8]($0)) } }
    }

    @Test func seedsAreValidAndBuild() throws {
      let seeds = Self.inputs("seeds")
      #expect(seeds.count >= 5)
      for (name, bytes) in seeds {
        let count = try ModelFile.checkConfiguration(bytes, buildingUpTo: 1 << 20)
        #expect(count > 0, "\(name)")
      }
    }

    @Test func regressionsAreRefusedWithoutAllocating() {
      let regressions = Self.inputs("regressions")
      #expect(regressions.count >= 5)
      for (name, bytes) in regressions {
        #expect(throws: ModelFileError.self, "\(name)") { try ModelFile.checkConfiguration(bytes, buildingUpTo: 1 << 20) }
      }
    }

    @Test func summaryParameterCountMatchesTheBuiltNetwork() {
      var rng = Xoshiro(seed: 3)
      var ds = DeepSetConfiguration(elementDimension: 3, setSize: 7, summaryDimension: 5)
      ds.innerWidths = [16, 24]
      ds.outerWidths = [12]
      var st = SetTransformerConfiguration(elementDimension: 3, setSize: 7, summaryDimension: 5)
      st.width = 16
      st.blocks = 3
      let ts = TimeSeriesConfiguration(featureDimension: 3, steps: 9, summaryDimension: 5)
      let conv = ConvolutionalConfiguration(height: 16, width: 12, channels: 2, summaryDimension: 5, widths: [4, 6])
      let archs: [SummaryArchitecture] = [.deepSet(ds), .setTransformer(st), .timeSeries(ts), .convolutional(conv)]
      for a in archs {
        #expect(a.parameterCount == a.makeNetwork(rng: &rng).parameters.count, "\(a)")
      }
    }
  }
}

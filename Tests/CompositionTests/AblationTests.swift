import Foundation
import Testing
import Composition

/// The ablation on a tiny grid (it must produce a table with one row per configuration); the full grid runs only
/// with DIFFSBI_COMPOSITION_ABLATION=1 and prints its table.
@Suite struct AblationTests {
  @Test func tinyGridProducesTable() {
    var s = CompositionAblationSettings()
    s.observationCounts = [2]
    s.miniBatchFractions = [1]
    s.dampingStarts = [1, 0.1]
    s.datasets = 4
    s.samples = 50
    let table = runCompositionAblation(s)
    #expect(table.split(separator: "\n").filter { $0.hasPrefix("| 2 |") }.count == 2)
  }

  @Test(.enabled(if: ProcessInfo.processInfo.environment["DIFFSBI_COMPOSITION_ABLATION"] != nil))
  func fullGrid() {
    print(runCompositionAblation(progress: { print($0) }))
  }
}

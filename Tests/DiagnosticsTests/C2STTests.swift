import Diagnostics
import Foundation
import NumericCore
import Tasks
import Testing

/// Fixture folder, relative to this file (Tests/Fixtures/c2st, written by Tools/make_c2st_fixtures.py).
let c2stFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .appendingPathComponent("Fixtures/c2st")

func loadFixtureMatrix(_ name: String) throws -> Matrix {
  let rows = try SBIBMData.readNumericCSV(c2stFixtures.appendingPathComponent(name))
  return Matrix(rows: rows.count, cols: rows[0].count, doubles: rows.flatMap { $0 })
}

func fixtureAccuracies() throws -> [String: (seed1: Double, mean: Double)] {
  let text = try String(contentsOf: c2stFixtures.appendingPathComponent("accuracies.csv"), encoding: .utf8)
  var out: [String: (Double, Double)] = [:]
  for line in text.split(separator: "\n").dropFirst() {
    let f = line.split(separator: ",")
    out[String(f[0])] = (Double(f[1])!, Double(f[2])!)
  }
  return out
}

@Suite struct C2STTests {
  /// Our C2ST agrees with scikit-learn's (sbibm's procedure) within ±0.01, comparing means over seeds 1…5 since the
  /// two implementations draw different random numbers.
  @Test(arguments: ["identical_2d", "shifted_2d", "scaled_3d", "separated_4d"])
  func agreesWithScikitLearn(name: String) throws {
    let expected = try #require(try fixtureAccuracies()[name])
    let x = try loadFixtureMatrix("\(name)_reference.csv")
    let y = try loadFixtureMatrix("\(name)_samples.csv")
    var accs: [Double] = []
    for seed in 1...5 {
      let r = try c2stDetailed(reference: x, samples: y, seed: UInt64(seed))
      accs.append(r.accuracy)
      print("C2ST \(name) seed \(seed): \(r.accuracy) epochs \(r.epochs)")
    }
    let mean = accs.reduce(0, +) / 5
    print("C2ST \(name): ours \(mean), scikit-learn \(expected.mean) (seed 1: \(expected.seed1))")
    #expect(abs(mean - expected.mean) <= 0.01)
  }

  @Test func rejectsMismatchedDimensions() {
    #expect(throws: DiagnosticsError.self) {
      _ = try c2st(reference: Matrix(rows: 10, cols: 2), samples: Matrix(rows: 10, cols: 3))
    }
  }

  /// Sets of different sizes are compared on equally many rows (sbibm's convention): 5,000 reference rows against
  /// 500 draws of the same law score near 0.5, not the 0.909 of a classifier that always answers "reference".
  @Test func comparesEquallyManyRows() throws {
    var rng = Xoshiro(seed: 8)
    let reference = rng.normalMatrix(rows: 5000, cols: 2)
    let samples = rng.normalMatrix(rows: 500, cols: 2)
    let same = try c2st(reference: reference, samples: samples)
    #expect(abs(same - 0.5) < 0.06, "\(same)")
    let swapped = try c2st(reference: samples, samples: reference)
    #expect(abs(swapped - 0.5) < 0.06, "\(swapped)")
    var shifted = rng.normalMatrix(rows: 500, cols: 2)
    for i in 0..<shifted.rows { shifted[i, 0] += 3 }
    #expect(try c2st(reference: reference, samples: shifted) > 0.9)
    #expect(throws: DiagnosticsError.self) {
      _ = try c2st(reference: reference, samples: rng.normalMatrix(rows: 4, cols: 2))
    }
  }
}

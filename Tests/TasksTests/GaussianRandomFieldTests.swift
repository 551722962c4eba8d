import Foundation
import NumericCore
import Testing

@testable import Tasks

/// The test vector (Tests/Fixtures/grf/README.md).
private struct ReferenceField {
  let json: [String: Any]

  init() throws {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/grf/reference_field_8x8.json")
    json = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
  }

  func number(_ key: String) throws -> Double { try #require(json[key] as? Double) }
  func vector(_ key: String) throws -> [Double] { try #require(json[key] as? [Double]) }
  /// A [S][S] array flattened row-major.
  func grid(_ key: String) throws -> [Double] { try #require(json[key] as? [[Double]]).flatMap { $0 } }
}

/// The direct 2-D DFT in Double, Σ z[x, y] exp(sign·2πi (u·x + v·y)/n), on interleaved (re, im) values.
private func directDFT(_ z: [Float], n: Int, sign: Double) -> [Double] {
  var out = [Double](repeating: 0, count: 2 * n * n)
  for u in 0..<n {
    for v in 0..<n {
      var re = 0.0, im = 0.0
      for x in 0..<n {
        for y in 0..<n {
          let phase = sign * 2 * Double.pi * Double((u * x + v * y) % n) / Double(n)
          let a = Double(z[2 * (x * n + y)]), b = Double(z[2 * (x * n + y) + 1])
          re += a * cos(phase) - b * sin(phase)
          im += a * sin(phase) + b * cos(phase)
        }
      }
      out[2 * (u * n + v)] = re
      out[2 * (u * n + v) + 1] = im
    }
  }
  return out
}

/// The grf_S tasks (Documentation/Methods.md §11.5) and the FFT behind them (Sources/Tasks/FFT.swift).
@Suite struct GaussianRandomFieldTests {
  @Test(arguments: [4, 6, 8, 16])
  func fftMatchesTheDirectTransformAndRoundTrips(n: Int) {
    var rng = Xoshiro(seed: UInt64(n))
    let z = (0..<(2 * n * n)).map { _ in Float(rng.nextNormal()) }
    var forward = z, inverse = z
    forward.withUnsafeMutableBufferPointer { FFT2D.forward(n: n, $0.baseAddress!) }
    inverse.withUnsafeMutableBufferPointer { FFT2D.inverse(n: n, $0.baseAddress!) }
    let scale = Double(n)  // the entries of a transform of unit-variance noise are of order n
    for (ours, direct) in [(forward, directDFT(z, n: n, sign: -1)), (inverse, directDFT(z, n: n, sign: 1))] {
      let worst = zip(ours, direct).map { abs(Double($0) - $1) }.max()!
      #expect(worst < 2e-6 * scale, "n = \(n): \(worst)")
    }
    // inverse(forward(z)) = n²·z.
    var back = forward
    back.withUnsafeMutableBufferPointer { FFT2D.inverse(n: n, $0.baseAddress!) }
    let worst = zip(back, z).map { abs(Double($0) / Double(n * n) - Double($1)) }.max()!
    #expect(worst < 1e-6, "round trip n = \(n): \(worst)")
  }

  @Test func reproducesTheTestVector() throws {
    let ref = try ReferenceField()
    let task = GaussianRandomFieldTask(size: 8)
    let (alpha, logStd) = (try ref.number("alpha"), try ref.number("log_std"))
    for (ours, theirs) in zip(task.frequencies(alpha: alpha), try ref.vector("freq_1d")) {
      #expect(abs(ours - theirs) <= 1e-15 * max(1, abs(theirs)))
    }
    let amplitude = task.amplitude(logStd: logStd, alpha: alpha)
    for (ours, theirs) in zip(amplitude, try ref.grid("amplitude")) {
      #expect(abs(ours - theirs) <= 1e-13 * max(1, theirs))
    }
    // The noise rule of the fixture, recomputed.
    var real: [Double] = [], imaginary: [Double] = []
    for k in 0..<64 {
      let i = Double(k / 8), j = Double(k % 8)
      real.append(cos(1.0 + 0.7 * i + 1.3 * j))
      imaginary.append(sin(0.5 + 1.1 * i - 0.9 * j))
    }
    for (ours, theirs) in zip(real + imaginary, try ref.grid("noise_real") + ref.grid("noise_imag")) {
      #expect(abs(ours - theirs) < 1e-15 as Double)
    }
    let field = task.field(logStd: logStd, alpha: alpha, noiseReal: real, noiseImaginary: imaginary)
    let expected = try ref.grid("field")
    // Float rounding: the field sums 64 terms of size up to |ξ|·A/S² ≈ 0.1, each rounded to about 6e-8 relative.
    let worst = zip(field, expected).map { abs(Double($0) - $1) }.max()!
    #expect(worst < 2e-7, "max |difference| \(worst)")
    #expect(abs(Double(field[0]) - -0.134655713828990) < 2e-7)
    #expect(abs(Double(field.max()!) - 0.524808431735722) < 2e-7)
    let sumOfSquares = field.reduce(0.0) { $0 + Double($1) * Double($1) }
    #expect(abs(sumOfSquares - 1.553419508961381) < 1e-6)
  }

  @Test func analyticPixelStandardDeviationsMatchTheTable() {
    // Pixel standard deviation at log_std = 0 for α = 2, 3, 4 (the case study's table, 4 decimals).
    let table: [Int: [Double]] = [
      8: [0.2159, 0.1876, 0.1513], 16: [0.1263, 0.1388, 0.1529], 32: [0.0711, 0.1002, 0.1533],
      64: [0.0391, 0.0716, 0.1534], 128: [0.0212, 0.0509, 0.1534], 256: [0.0113, 0.0361, 0.1534],
    ]
    for (s, row) in table {
      let task = GaussianRandomFieldTask(size: s)
      for (alpha, expected) in zip([2.0, 3, 4], row) {
        let sd = task.pixelVariance(logStd: 0, alpha: alpha).squareRoot()
        #expect(abs(sd - expected) <= 0.5e-4 + 1e-12, "S = \(s), α = \(alpha): \(sd) vs \(expected)")
      }
    }
    // log_std scales the standard deviation by e^{log_std}.
    let t = GaussianRandomFieldTask(size: 16)
    #expect(abs(t.pixelVariance(logStd: 0.4, alpha: 3) / t.pixelVariance(logStd: 0, alpha: 3) - exp(0.8)) < 1e-12)
  }

  @Test func simulatedFieldsHaveMeanZeroAndTheAnalyticVariance() {
    let task = GaussianRandomFieldTask(size: 16)
    for (logStd, alpha) in [(0.0, 3.0), (-0.3, 2.2)] {
      let n = 2000
      let theta = Matrix(rows: n, cols: 2, storage: [Float](repeating: 0, count: 2 * n).enumerated().map {
        Float($0.offset % 2 == 0 ? logStd : alpha)
      })
      let x = task.simulate(theta, seed: 17)
      var sumOfSquares = 0.0, worstMean = 0.0
      for r in 0..<n {
        var sum = 0.0
        for j in 0..<256 {
          sum += Double(x[r, j])
          sumOfSquares += Double(x[r, j]) * Double(x[r, j])
        }
        worstMean = max(worstMean, abs(sum / 256))
      }
      // Spatial mean 0 up to Float rounding of the transform.
      #expect(worstMean < 1e-7, "θ = (\(logStd), \(alpha)): worst |spatial mean| \(worstMean)")
      // The ensemble variance: about 10 effective degrees of freedom per field, so 2000 fields give a relative
      // standard error near 0.01; the bound is 5 of them.
      let empirical = sumOfSquares / Double(n * 256), analytic = task.pixelVariance(logStd: logStd, alpha: alpha)
      #expect(abs(empirical / analytic - 1) < 0.05, "θ = (\(logStd), \(alpha)): \(empirical) vs \(analytic)")
    }
  }

  @Test func registeredSizesAndPrior() throws {
    for s in GaussianRandomFieldTask.sizes {
      let task = try TaskRegistry.task(named: "grf_\(s)")
      #expect(task.dataShape == [s, s] && task.dataDimension == s * s && task.parameterDimension == 2)
    }
    #expect(throws: TaskError.self) { try TaskRegistry.task(named: "grf_12") }
    let (theta, _) = GaussianRandomFieldTask(size: 8).sampleJoint(count: 20_000, seed: 4)
    let (mean, variance) = theta.columnMeanVariance()
    #expect(abs(mean[0]) < 0.01 && abs(mean[1] - 3) < 0.02)
    #expect(abs(variance[0].squareRoot() - 0.3) < 0.01 && abs(variance[1].squareRoot() - 0.5) < 0.01)
  }
}

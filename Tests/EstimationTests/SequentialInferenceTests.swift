import Estimation
import Foundation
import NeuralNet
import NumericCore
import Tasks
import Testing

/// Multi-round training with truncated proposals on a conjugate problem whose posterior is much narrower than the
/// prior: θ ~ U(−5, 5)², x = θ + 0.3 ε, so that p(θ | x_o) ≈ N(x_o, 0.09 I) away from the box's edges.
@Suite(.serialized) struct SequentialInferenceTests {
  static let prior = BoxUniformPrior(lower: [-5, -5], upper: [5, 5])
  static let observation = Matrix([[1.0, -2.0]])

  static func simulate(_ theta: Matrix, _ round: Int) -> Matrix {
    var rng = Xoshiro(seed: 100 + UInt64(round))
    var x = theta
    x.add(rng.normalMatrix(rows: theta.rows, cols: 2), scale: 0.3)
    return x
  }

  @Test func truncatedRoundsMatchTheClosedFormAndKeepThePosteriorMass() throws {
    let est = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 2, network: PosteriorEstimatorTests.smallNetwork(2, 2),
      constraints: [.interval(lower: -5, upper: 5), .interval(lower: -5, upper: 5)], seed: 4)
    var cfg = TrainingConfiguration()
    cfg.epochs = 30
    cfg.learningRate = 1e-3
    let reports = try est.trainSequentially(
      observation: Self.observation, prior: Self.prior, simulations: 4000, settings: SequentialSettings(rounds: 2),
      configuration: cfg, simulate: Self.simulate)
    #expect(reports.count == 2 && reports.map(\.simulations) == [2000, 2000])
    let box = try #require(reports[1].box)
    // The box is much smaller than the prior, yet holds the exact posterior's mass.
    // A perfect estimate gives a box of about 3.1 × 3.1 (±3.5 posterior sd, widened by a quarter on each side).
    #expect(reports[1].acceptance < 0.2, "box \(box)")
    var rng = Xoshiro(seed: 9)
    var exact = rng.normalMatrix(rows: 4000, cols: 2)
    exact.scale(by: 0.3)
    for r in 0..<4000 { exact[r, 0] += 1; exact[r, 1] -= 2 }
    let inside = (0..<4000).filter { box.contains(exact, row: $0) }.count
    #expect(Double(inside) / 4000 > 0.995, "\(inside) of 4000 exact posterior draws inside \(box)")
    let s = try est.sample(observations: Self.observation, count: 3000, seed: 3).samples[0]
    let (m, v) = s.columnMeanVariance()
    #expect(abs(m[0] - 1) < 0.08 && abs(m[1] + 2) < 0.08, "mean \(m)")
    #expect(abs(v[0] - 0.09) < 0.03 && abs(v[1] - 0.09) < 0.03, "variance \(v)")
    #expect(est.settings.sequential?.rounds == 2 && est.settings.simulations == 4000)
    #expect(!est.isOtherObservation(Self.observation) && est.isOtherObservation(Matrix([[0.0, 0.0]])))
  }

  @Test func truncatedPriorSamplingIsExactOrRefusesToSpin() throws {
    let box = ParameterBox(lower: [0, 0], upper: [1, 1])
    let uniform = try sampleTruncatedPrior(Self.prior, box: box, count: 500, seed: 1)
    #expect(uniform.direct && abs(uniform.acceptance - 0.01) < 1e-12)
    #expect((0..<500).allSatisfy { box.contains(uniform.parameters, row: $0) })
    let gaussian = GaussianPrior(mean: [0, 0], standardDeviation: [1, 1])
    let g = try sampleTruncatedPrior(gaussian, box: box, count: 500, seed: 2)
    #expect(!g.direct && abs(g.acceptance - 0.1165) < 0.02)  // (Φ(1) − Φ(0))² = 0.1165
    #expect((0..<500).allSatisfy { box.contains(g.parameters, row: $0) })
    // A box 6 standard deviations out: acceptance about 1e-18, refused after 10^5 proposals instead of spinning.
    #expect(throws: SequentialError.self) {
      try sampleTruncatedPrior(gaussian, box: ParameterBox(lower: [6, 6], upper: [7, 7]), count: 10, seed: 3)
    }
  }
}

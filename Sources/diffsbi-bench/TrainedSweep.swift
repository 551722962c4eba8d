// `diffsbi-bench sweep`: the trained-model half of the numerical sweep (RELIABILITY.md). For every schedule ×
// prediction type, a small estimator is trained on gaussian_linear simulations; then every sampler draws 10,000
// posterior samples for observation 1. Reported per cell: non-finite rows and the largest |mean error| of a
// coordinate in units of the analytic posterior standard deviation (the posterior is Gaussian and known).
//
//   diffsbi-bench sweep [--simulations 20000] [--epochs 10] [--widths 64,64] [--samples 10000] [--threads N]

import DiffusionSBI
import Foundation

func runTrainedSweep(sims: Int, epochs: Int, widths: [Int], count: Int) {
  let schedules: [(String, ScheduleKind, VarianceType)] = [
    ("edm-vp", .edm, .preserving), ("edm-ve", .edm, .exploding), ("cosine", .cosine, .preserving),
    ("linear", .linear, .preserving), ("sub-vp", .subVP, .subPreserving), ("rectified-flow", .rectifiedFlow, .rectifiedFlow),
  ]
  func log(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }
  do {
    let task = try TaskRegistry.task(named: "gaussian_linear")
    let (theta, x) = task.sampleJoint(count: sims, seed: 5)
    let obs = try task.observation(1)
    let reference = try task.referencePosteriorSamples(1)
    let (refMean, refVar) = reference.columnMeanVariance()
    let refStd = refVar.map { Double($0).squareRoot() }
    print("Trained sweep: gaussian_linear, \(sims) simulations, \(epochs) epochs, TimeMLP widths \(widths), \(count) samples for observation 1; cell = non-finite rows / max |mean error| in posterior s.d.")
    print("| sampler | schedule | " + Prediction.allCases.map(\.rawValue).joined(separator: " | ") + " |")
    print("|---|---|" + Prediction.allCases.map { _ in "---:|" }.joined())
    var cells: [String: String] = [:]
    var worst = 0
    for (sname, kind, variance) in schedules {
      for prediction in Prediction.allCases {
        var settings = EstimatorSettings()
        settings.diffusion = DiffusionConfiguration(schedule: kind, variance: variance, prediction: prediction)
        var net = TimeMLPConfiguration(inputDimension: 10, conditionDimension: 10)
        net.widths = widths
        let estimator = try PosteriorEstimator(
          parameterDimension: 10, conditionDimension: 10, settings: settings, network: net, seed: 3)
        var config = TrainingConfiguration()
        config.epochs = epochs
        config.batchSize = 256
        config.optimizer = .adamW
        config.seed = 3
        let h = try estimator.train(.simulations(parameters: theta, data: x), configuration: config)
        log("\(sname) \(prediction.rawValue): trained in \(fmt(h.seconds)) s, final loss \(h.loss.last ?? .nan)")
        for sampler in SamplerKind.allCases {
          let draws = try estimator.sample(
            observations: Matrix(rows: 1, cols: 10, storage: obs), count: count, sampler: sampler,
            options: sweepOptions(sampler), seed: 11)
          let s = draws.samples[0]
          var err = 0.0
          var finite = 0
          var sums = [Double](repeating: 0, count: 10)
          for r in 0..<s.rows where (0..<10).allSatisfy({ s[r, $0].isFinite }) {
            finite += 1
            for j in 0..<10 { sums[j] += Double(s[r, j]) }
          }
          for j in 0..<10 { err = max(err, abs(sums[j] / Double(max(finite, 1)) - Double(refMean[j])) / refStd[j]) }
          worst = max(worst, draws.nonFiniteRows)
          cells["\(sampler.rawValue) \(sname) \(prediction.rawValue)"] = "\(draws.nonFiniteRows) / \(fmt(err, 2))"
        }
      }
    }
    for sampler in SamplerKind.allCases {
      for (sname, _, _) in schedules {
        let row = Prediction.allCases.map { cells["\(sampler.rawValue) \(sname) \($0.rawValue)"] ?? "–" }
        print("| \(sampler.rawValue) | \(sname) | " + row.joined(separator: " | ") + " |")
      }
    }
    print("\nLargest number of non-finite rows in any cell: \(worst)")
  } catch {
    print("sweep failed: \(error)")
    exit(1)
  }
}

/// Step counts of the sweep: below the defaults for the slow fixed-step samplers (as in the exact-score sweep).
func sweepOptions(_ kind: SamplerKind) -> SamplerOptions {
  switch kind {
  case .twoStepAdaptive, .rk45, .tsit5: return SamplerOptions()
  case .langevin: return SamplerOptions(steps: .fixed(300), langevinStepSizeFactor: 0.2)
  case .dpmSolver2M, .heun, .edmStochastic: return SamplerOptions(steps: .fixed(40))
  default: return SamplerOptions(steps: .fixed(100))
  }
}

// `diffsbi-bench composition`: the review's compositional ablation (case study 4, Documentation/Methods.md §11.2) on the
// conjugate Gaussian model, where the exact per-observation score is known: NRMSE, calibration error and solver
// steps versus the number of observations J, the mini-batch fraction and the damping start d0.
//
//   diffsbi-bench composition [--out table.md]

import DiffusionSBI
import Foundation

/// Settings of `runCompositionAblation`.
struct CompositionAblationSettings: Sendable {
  var observationCounts: [Int] = [2, 10, 50, 100]
  var miniBatchFractions: [Double] = [0.1, 0.5, 1.0]
  var dampingStarts: [Double] = [0.001, 0.01, 0.1, 1]
  /// Data sets per configuration (θ drawn from the prior).
  var datasets: Int = 10
  /// Posterior samples per data set.
  var samples: Int = 200
  /// Parameter dimension d (prior N(0, I), noise N(0, I)).
  var dimension: Int = 2
  var sampler: SamplerKind = .twoStepAdaptive
  var method: CompositionMethod = .direct
  var seed: UInt64 = 2024

  init() {}
}

/// One row of the ablation.
struct CompositionAblationRow: Sendable {
  var observations: Int
  var miniBatchFraction: Double
  var miniBatchSize: Int
  var dampingStart: Double
  /// Median over data sets of RMSE/prior-RMSE, averaged over parameters (0 perfect, 1 prior level).
  var nrmse: Double
  /// Median over the α grid of |coverage_α − α|, averaged over parameters.
  var calibrationError: Double
  /// Mean accepted solver steps per data set.
  var steps: Double
  /// The same NRMSE for exact posterior draws (the floor set by the posterior width).
  var exactNRMSE: Double
}

/// Runs the ablation grid and returns its rows (see `runCompositionAblation` for the table).
func compositionAblationRows(_ s: CompositionAblationSettings = CompositionAblationSettings(),
                             progress: ((String) -> Void)? = nil) throws -> [CompositionAblationRow] {
  let d = s.dimension
  let model = try GaussianIIDModel(priorMean: [Double](repeating: 0, count: d), priorCovariance: DMatrix.identity(d),
                                   noiseCovariance: DMatrix.identity(d))
  let schedule = EDMSchedule(variance: .preserving)
  let prior = try GaussianCompositionPrior(mean: model.priorMean, covariance: model.priorCovariance)
  var rows = [CompositionAblationRow]()
  for j in s.observationCounts {
    var rng = Xoshiro(seed: s.seed, stream: UInt64(j))
    let truths = (0..<s.datasets).map { _ in (0..<d).map { _ in rng.nextNormal() } }
    let data = truths.map { model.simulate(theta: $0, count: j, rng: &rng) }
    let exactSamples = data.map { y -> Matrix in
      let (m, c) = model.posterior(y)
      let l = try! c.cholesky()
      var out = Matrix(rows: s.samples, cols: d)
      for r in 0..<s.samples {
        let v = rng.nextMultivariateNormal(mean: m, choleskyFactor: l)
        for k in 0..<d { out[r, k] = Float(v[k]) }
      }
      return out
    }
    let exactN = ablationNRMSE(exactSamples, truths: truths)
    for f in s.miniBatchFractions {
      let m = min(j, max(2, Int((f * Double(j)).rounded())))
      for d0 in s.dampingStarts {
        var draws = [Matrix]()
        var steps = 0
        for (k, y) in data.enumerated() {
          let composer = try ScoreComposer(
            denoiser: model.pairedDenoiser(observations: y, schedule: schedule), observations: j, prior: prior,
            schedule: schedule,
            options: CompositionOptions(method: s.method, miniBatchSize: m, dampingStart: d0, dampingEnd: 1),
            seed: s.seed &+ UInt64(k))
          var srng = Xoshiro(seed: s.seed, stream: UInt64(1000 * j + k))
          let z1 = priorSample(rows: s.samples, cols: d, schedule: schedule, rng: &srng)
          let r = try sample(s.sampler, denoiser: composer.denoiser, initial: z1, schedule: schedule, rng: &srng)
          draws.append(r.samples)
          steps += r.steps
        }
        let row = CompositionAblationRow(
          observations: j, miniBatchFraction: f, miniBatchSize: m, dampingStart: d0,
          nrmse: ablationNRMSE(draws, truths: truths), calibrationError: ablationCalibrationError(draws, truths: truths),
          steps: Double(steps) / Double(data.count), exactNRMSE: exactN)
        progress?("J=\(j) M=\(m) d0=\(d0): NRMSE \(row.nrmse)")
        rows.append(row)
      }
    }
  }
  return rows
}

/// The ablation as a Markdown table (one row per J × mini-batch fraction × d0).
func compositionAblationTable(_ settings: CompositionAblationSettings = CompositionAblationSettings(),
                              progress: ((String) -> Void)? = nil) throws -> String {
  let rows = try compositionAblationRows(settings, progress: progress)
  var out = "Composition ablation: Gaussian model (d = \(settings.dimension), prior N(0, I), noise N(0, I)), "
  out += "method \(settings.method.name), exact per-observation scores, \(settings.sampler.rawValue), "
  out += "\(settings.datasets) data sets × \(settings.samples) samples, clip ±3, d1 = 1.\n\n"
  out += "| J | mini-batch | M | d0 | NRMSE | NRMSE (exact posterior) | calibration error | solver steps |\n"
  out += "|---:|---:|---:|---:|---:|---:|---:|---:|\n"
  for r in rows {
    out += "| \(r.observations) | \(Int((r.miniBatchFraction * 100).rounded()))% | \(r.miniBatchSize) | \(r.dampingStart) | "
    out += String(format: "%.3f | %.3f | %.3f | %.0f |\n", r.nrmse, r.exactNRMSE, r.calibrationError, r.steps)
  }
  return out
}

/// Median over data sets of RMSE_i/RMSE_prior, averaged over parameters; RMSE_prior uses the other data sets'
/// true θ as predictions (BayesFlow's `normalize="prior"`).
func ablationNRMSE(_ draws: [Matrix], truths: [[Double]]) -> Double {
  let d = truths[0].count
  var total = 0.0
  for k in 0..<d {
    var priorSq = 0.0, count = 0.0
    for a in truths { for b in truths { priorSq += (a[k] - b[k]) * (a[k] - b[k]); count += 1 } }
    let priorRMSE = max((priorSq / max(count - Double(truths.count), 1)).squareRoot(), 1e-12)
    let per = zip(draws, truths).map { x, th -> Double in
      var s = 0.0
      for r in 0..<x.rows { s += pow(Double(x[r, k]) - th[k], 2) }
      return (s / Double(x.rows)).squareRoot() / priorRMSE
    }
    total += median(per)
  }
  return total / Double(d)
}

/// Median over α ∈ linspace(0.005, 0.995, 20) of |coverage_α − α| for central intervals, averaged over parameters.
func ablationCalibrationError(_ draws: [Matrix], truths: [[Double]]) -> Double {
  let d = truths[0].count
  let alphas = (0..<20).map { 0.005 + 0.99 * Double($0) / 19 }
  var total = 0.0
  for k in 0..<d {
    let sorted = draws.map { x in (0..<x.rows).map { Double(x[$0, k]) }.sorted() }
    let errs = alphas.map { a -> Double in
      var inside = 0
      for (xs, th) in zip(sorted, truths) {
        let lo = quantileSorted(xs, (1 - a) / 2), hi = quantileSorted(xs, (1 + a) / 2)
        if th[k] >= lo && th[k] <= hi { inside += 1 }
      }
      return abs(Double(inside) / Double(truths.count) - a)
    }
    total += median(errs)
  }
  return total / Double(d)
}

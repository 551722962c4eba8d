// Sequential inference for one observation with truncated proposals (truncated sequential neural score
// estimation: Sharrock, Simons, Liu & Beaumont, "Sequential neural score estimation", ICML 2024; the truncation idea
// follows truncated marginal neural ratio estimation, Miller et al. 2021).
//
// Round 1 simulates from the prior. Every later round simulates from the prior truncated to a region R that holds
// the current posterior's highest-density mass for the observation x_o, and the estimator is trained on all
// rounds' simulations. Inside R the truncated prior is proportional to the prior, so the posterior restricted to R
// is unchanged and no importance correction is needed, as long as R contains (almost) all posterior mass.
//
// The region is a box, not the exact HPR {θ : q(θ | x_o) ≥ c}: membership of an HPR needs the probability-flow
// log-density for every proposal (Sources/Estimation/PosteriorDensity.swift; about 2d + 1 network evaluations per
// drift evaluation, hundreds of drift evaluations per θ), while a box costs one comparison per coordinate. The box
// is the per-coordinate quantiles ε/(2d) and 1 − ε/(2d) of posterior draws (by the union bound it holds at least
// 1 − ε of the mass), capped at a robust reach from the median (stray draws of an under-trained estimator must not
// stretch it to the prior's edges), widened on each side by `margin` times its width to absorb the estimator's
// error, and intersected with the prior's support.

import FileFormats
import Foundation
import NeuralNet
import NumericCore
import Tasks

/// An axis-aligned box of parameter space.
public struct ParameterBox: Sendable, Codable, Equatable {
  public var lower: [Double]
  public var upper: [Double]

  public init(lower: [Double], upper: [Double]) {
    self.lower = lower
    self.upper = upper
  }

  /// Whether row `r` of `theta` lies inside (bounds included).
  public func contains(_ theta: Matrix, row r: Int) -> Bool {
    lower.indices.allSatisfy { j in
      let v = Double(theta[r, j])
      return v >= lower[j] && v <= upper[j]
    }
  }

  /// The box of the ε/(2d) and 1 − ε/(2d) quantiles of each coordinate of `draws` (non-finite rows ignored), capped
  /// at median ± 1.5 z_{1−ε/(2d)} × 1.4826 MAD, widened by `margin` × width on each side and clipped to `support`.
  public static func highDensity(draws: Matrix, epsilon: Double, margin: Double, support: [Constraint]) -> ParameterBox {
    let d = draws.cols
    let tail = epsilon / Double(2 * d)
    var lo = [Double](repeating: 0, count: d), hi = lo
    for j in 0..<d {
      let v = (0..<draws.rows).map { Double(draws[$0, j]) }.filter(\.isFinite).sorted()
      guard !v.isEmpty else { lo[j] = -.infinity; hi[j] = .infinity; continue }
      var a = v[min(v.count - 1, Int((tail * Double(v.count)).rounded(.down)))]
      var b = v[max(0, Int(((1 - tail) * Double(v.count)).rounded(.up)) - 1)]
      // Robust cap: a few stray draws of an under-trained estimator must not stretch the box to the prior's
      // edges. Limit it to median ± 1.5 z_{1−ε/(2d)} robust standard deviations (1.4826 MAD), which a Gaussian's
      // quantile box never reaches and which still spans separated modes (their MAD is the half distance).
      let median = v[v.count / 2]
      let mad = 1.4826 * (v.map { abs($0 - median) }.sorted()[v.count / 2])
      if mad > 0 {
        let reach = 1.5 * Special.normalQuantile(1 - tail) * mad
        a = max(a, median - reach)
        b = min(b, median + reach)
      }
      let w = max(b - a, 1e-12)
      lo[j] = a - margin * w
      hi[j] = b + margin * w
      switch support[j] {
      case .unbounded: break
      case .positive: lo[j] = max(lo[j], 0)
      case .interval(let l, let u):
        lo[j] = max(lo[j], l)
        hi[j] = min(hi[j], u)
      }
    }
    return ParameterBox(lower: lo, upper: hi)
  }
}

/// What truncated sampling found.
public struct TruncatedDraws: Sendable {
  public var parameters: Matrix
  /// Accepted / proposed prior draws (1 when the box was sampled directly).
  public var acceptance: Double
  /// Whether the draws came from the box directly (a uniform prior) instead of rejection.
  public var direct: Bool
}

/// Errors of sequential inference.
public enum SequentialError: Error, CustomStringConvertible, Equatable {
  /// Rejection from the truncated prior accepted too little within its limits.
  case proposalTooNarrow(acceptance: Double, proposed: Int, seconds: Double)
  /// A round produced no finite simulation.
  case noValidSimulations(round: Int)

  public var description: String {
    switch self {
    case .proposalTooNarrow(let a, let n, let s):
      return "the truncated prior accepts \(String(format: "%.2g", a)) of prior draws (\(n) proposed in "
        + "\(String(format: "%.1f", s)) s): the observation may lie far outside the prior predictive, or the "
        + "prior is much wider than the posterior; use fewer rounds or a narrower prior"
    case .noValidSimulations(let r): return "round \(r): no simulation was finite"
    }
  }
}

/// Draws `count` parameters from `prior` restricted to `box`.
///
/// A uniform prior (`BoxUniformPrior`) is sampled on the intersection directly. Otherwise prior draws are
/// rejected outside the box, in blocks, until `count` are accepted; sampling stops with
/// `SequentialError.proposalTooNarrow` when the acceptance rate after 10^5 proposals is below
/// `minimumAcceptance`, or after `timeLimit` seconds, so that a pathological region cannot make it spin.
public func sampleTruncatedPrior(
  _ prior: any Prior, box: ParameterBox, count: Int, seed: UInt64, minimumAcceptance: Double = 1e-4,
  timeLimit: Double = 120
) throws -> TruncatedDraws {
  let d = prior.dimension
  if let uniform = prior as? BoxUniformPrior {
    let lo = zip(uniform.lower, box.lower).map { max($0, $1) }, hi = zip(uniform.upper, box.upper).map { min($0, $1) }
    var rng = Xoshiro(seed: seed, stream: 0x4255_4E49)
    var out = Matrix(rows: count, cols: d)
    for r in 0..<count { for j in 0..<d { out[r, j] = Float(lo[j] + (hi[j] - lo[j]) * rng.nextDouble()) } }
    var volume = 1.0
    for j in 0..<d {
      let inside: Double = max(0, hi[j] - lo[j])
      let whole: Double = uniform.upper[j] - uniform.lower[j]
      volume *= inside / whole
    }
    return TruncatedDraws(parameters: out, acceptance: volume, direct: true)
  }
  let start = Date()
  var accepted: [Matrix] = []
  var have = 0, proposed = 0, block = 0
  while have < count {
    let n = max(1024, min(1 << 20, 2 * (count - have)))
    var rng = Xoshiro(seed: seed, stream: 0x5452_554E_0000 | UInt64(block))
    let draws = prior.sample(count: n, seed: rng.next())
    block += 1
    proposed += n
    let inside = (0..<n).filter { box.contains(draws, row: $0) }
    if !inside.isEmpty {
      let take = Array(inside.prefix(count - have))
      accepted.append(draws.gatherRows(take))
      have += take.count
    }
    let rate = Double(have) / Double(proposed)
    let seconds = Date().timeIntervalSince(start)
    if have < count && ((proposed >= 100_000 && rate < minimumAcceptance) || seconds > timeLimit) {
      throw SequentialError.proposalTooNarrow(acceptance: rate, proposed: proposed, seconds: seconds)
    }
  }
  return TruncatedDraws(parameters: Matrix.vstack(accepted), acceptance: Double(have) / Double(proposed), direct: false)
}

/// A sequential run's record, stored with the model.
public struct SequentialRecord: Sendable, Codable, Equatable {
  /// The observation the model is valid for (raw, one row).
  public var observation: [Float]
  public var rounds: Int
  /// The last round's truncation box (nil after one round).
  public var box: ParameterBox?

  public init(observation: [Float], rounds: Int, box: ParameterBox?) {
    self.observation = observation
    self.rounds = rounds
    self.box = box
  }
}

/// Settings of multi-round training.
public struct SequentialSettings: Sendable {
  /// Rounds (1 = amortized training on the prior).
  public var rounds: Int
  /// Posterior mass the truncation box may leave out (HPR level 1 − ε).
  public var epsilon: Double
  /// Widening of the box on each side, as a fraction of its width.
  public var margin: Double
  /// Posterior draws the box is computed from.
  public var regionDraws: Int

  public init(rounds: Int, epsilon: Double = 1e-3, margin: Double = 0.25, regionDraws: Int = 10_000) {
    self.rounds = rounds
    self.epsilon = epsilon
    self.margin = margin
    self.regionDraws = regionDraws
  }
}

/// One round's summary.
public struct RoundReport: Sendable {
  public var round: Int
  public var simulations: Int
  public var droppedRows: Int
  public var box: ParameterBox?
  public var acceptance: Double
  public var simulationSeconds: Double
  public var trainSeconds: Double
}

extension PosteriorEstimator {
  /// Multi-round training for one observation `observation` [1, d_x]: `simulations` in total, split evenly over
  /// the rounds; round r > 1 draws from `prior` truncated to the current posterior's high-density box.
  /// `simulate(θ, round)` returns x for θ (rows with NaN or infinity are dropped). Every round trains on all
  /// simulations so far with `configuration`, continuing from the previous round's weights.
  @discardableResult
  public func trainSequentially(
    observation: Matrix, prior: any Prior, simulations: Int, settings sequential: SequentialSettings,
    configuration: TrainingConfiguration, simulate: (Matrix, Int) throws -> Matrix,
    report: ((RoundReport) -> Void)? = nil
  ) throws -> [RoundReport] {
    guard sequential.rounds >= 1, simulations >= sequential.rounds else {
      throw EstimatorError.unsupported("sequential training needs rounds ≥ 1 and at least one simulation per round")
    }
    guard settings.method == .diffusion || settings.method == .flowMatching else {
      throw EstimatorError.unsupported("sequential training is available for diffusion and flow-matching models")
    }
    guard observation.rows == 1, observation.cols == conditionDimension else {
      throw EstimatorError.shapeMismatch("give one observation row of \(conditionDimension) values")
    }
    try checkObservations(observation)
    var thetas: [Matrix] = [], xs: [Matrix] = []
    var reports: [RoundReport] = []
    var box: ParameterBox?
    let seed = configuration.seed
    for round in 1...sequential.rounds {
      let n = simulations / sequential.rounds + (round <= simulations % sequential.rounds ? 1 : 0)
      let simStart = Date()
      var theta: Matrix
      var acceptance = 1.0
      if round == 1 {
        var rng = Xoshiro(seed: seed, stream: 0x524F_554E_4400)
        theta = prior.sample(count: n, seed: rng.next())
      } else {
        // DPM-Solver++(2M) with 50 evaluations (diffusion) is accurate enough for quantiles and cheap.
        let draws = try sample(observations: observation, count: sequential.regionDraws,
                               sampler: settings.method == .diffusion ? .dpmSolver2M : nil, seed: seed &+ UInt64(round))
        box = ParameterBox.highDensity(draws: draws.samples[0], epsilon: sequential.epsilon,
                                       margin: sequential.margin, support: transform.constraints)
        let t = try sampleTruncatedPrior(prior, box: box!, count: n, seed: seed &+ UInt64(1000 + round))
        theta = t.parameters
        acceptance = t.acceptance
      }
      let x = try simulate(theta, round)
      let (kept, dropped) = try NonFiniteRows.drop(
        [theta, x], items: [nil, conditionChannels.map { ($0.items, $0.width) }])
      guard kept[0].rows > 0 else { throw SequentialError.noValidSimulations(round: round) }
      thetas.append(kept[0])
      xs.append(kept[1])
      let simSeconds = Date().timeIntervalSince(simStart)
      var config = configuration
      config.seed = seed &+ UInt64(round)
      let before = self.settings.trainSeconds
      try train(.simulations(parameters: Matrix.vstack(thetas), data: Matrix.vstack(xs)), configuration: config)
      let r = RoundReport(round: round, simulations: n, droppedRows: dropped, box: box, acceptance: acceptance,
                          simulationSeconds: simSeconds, trainSeconds: self.settings.trainSeconds - before)
      reports.append(r)
      report?(r)
    }
    self.settings.simulations = thetas.reduce(0) { $0 + $1.rows }
    self.settings.sequential = SequentialRecord(observation: observation.storage, rounds: sequential.rounds, box: box)
    return reports
  }

  /// Whether `observations` differ from the one a sequential model was trained for (false for amortized models).
  public func isOtherObservation(_ observations: Matrix) -> Bool {
    guard let s = settings.sequential else { return false }
    return (0..<observations.rows).contains { r in
      zip(s.observation, (0..<observations.cols).map { observations[r, $0] }).contains {
        abs($0 - $1) > 1e-5 * max(1, abs($0))
      }
    }
  }
}

// A composition check: is score composition trustworthy for this model and this number of i.i.d. observations?
//
// For N data sets, θ_i is drawn from the task's prior and J i.i.d. observations x_i1 … x_iJ from its simulator at
// θ_i; the composed posterior p(θ | x_i1…x_iJ) is sampled with the given composition options
// (`PosteriorEstimator.sample(observations:count:inference:)`, Documentation/Composition.md). Since θ_i is a draw
// from the prior and the x_ij are draws given it, the composed posteriors must be calibrated against θ_i exactly
// as single-observation posteriors are: simulation-based calibration, coverage and calibration error apply
// unchanged (Documentation/Methods.md §12). `diffsbi diagnose --compose J` runs it.

import Diffusion
import FileFormats
import Foundation
import NumericCore
import Tasks

/// The composed posteriors of a composition check and the parameters that generated their data.
public struct CompositionCheckDraws: Sendable {
  /// θ_i [N, d].
  public var targets: Matrix
  /// One matrix of composed draws [S, d] per data set.
  public var estimates: [Matrix]
  /// Network evaluations and seconds of all composed sampling.
  public var evaluations: Int
  public var seconds: Double
}

extension PosteriorEstimator {
  /// Draws `dataSets` parameters from `task`'s prior, `groups` i.i.d. observations for each, and `draws` composed
  /// posterior samples per data set with `inference` (its `composition` must be set).
  public func compositionCheck(
    task: any SimulationTask, groups: Int, dataSets: Int, draws: Int, inference: InferenceOptions,
    sampler: SamplerKind? = nil, options: SamplerOptions = SamplerOptions(), seed: UInt64 = 0,
    progress: ((Int, Int) -> Void)? = nil
  ) throws -> CompositionCheckDraws {
    try PosteriorEnsemble(members: [self]).compositionCheck(
      task: task, groups: groups, dataSets: dataSets, draws: draws, inference: inference, sampler: sampler,
      options: options, seed: seed, progress: progress)
  }
}

extension PosteriorEnsemble {
  /// The composition check of an ensemble: its members' averaged scores are composed
  /// (`sample(observations:count:inference:...)`); for one member, the member's own check.
  public func compositionCheck(
    task: any SimulationTask, groups: Int, dataSets: Int, draws: Int, inference: InferenceOptions,
    sampler: SamplerKind? = nil, options: SamplerOptions = SamplerOptions(), seed: UInt64 = 0,
    progress: ((Int, Int) -> Void)? = nil
  ) throws -> CompositionCheckDraws {
    guard inference.composition != nil else {
      throw EstimatorError.unsupported("the composition check needs composition options")
    }
    guard groups >= 1, dataSets >= 2, draws >= 2 else {
      throw EstimatorError.unsupported("the composition check needs J ≥ 1, at least 2 data sets and 2 draws")
    }
    guard task.parameterDimension == parameterDimension, task.dataDimension == conditionDimension else {
      throw EstimatorError.shapeMismatch(
        "task \(task.name) has \(task.parameterDimension)/\(task.dataDimension) dimensions, the model "
          + "\(parameterDimension)/\(conditionDimension)")
    }
    let start = Date()
    var rng = Xoshiro(seed: seed, stream: 0xC0_3B05)
    let theta = task.prior.sample(count: dataSets, seed: rng.next())
    var estimates: [Matrix] = []
    var kept: [Int] = []
    var evaluations = 0
    for i in 0..<dataSets {
      let repeated = theta.gatherRows([Int](repeating: i, count: groups))
      var x = task.simulate(repeated, seed: rng.next())
      // Failed simulations (NaN or infinity) leave fewer observations; a data set without any is skipped.
      let bad = Set(NonFiniteRows.indices(in: x))
      if !bad.isEmpty { x = x.gatherRows((0..<x.rows).filter { !bad.contains($0) }) }
      if x.rows > 0 {
        let r = try sample(observations: x, count: draws, inference: inference, sampler: sampler, options: options,
                           seed: seed &+ UInt64(i))
        estimates.append(r.samples[0])
        kept.append(i)
        evaluations += r.evaluations
      }
      progress?(i + 1, dataSets)
    }
    return CompositionCheckDraws(targets: theta.gatherRows(kept), estimates: estimates, evaluations: evaluations,
                                 seconds: Date().timeIntervalSince(start))
  }
}

// Hierarchical models: a composed global posterior and ancestral sampling of every group's local parameters
// (Documentation/Methods.md §8.5, case study 4).
//
// With global parameters η, local θ_j and groups y_j independent given η:
//   (i)  p(η | y_1:J) ∝ p(η)^{1−J} ∏_j p(η | y_j): compose a global network q(η | y_j), trained on single-group
//        simulations from the full hierarchical prior, with the hyperprior score (`ScoreComposer`);
//   (ii) p(θ_j | y_1:J, η) = p(θ_j | y_j, η): a local network conditioned on (y_j, η);
//   (iii) ancestral sampling: for each global draw η^(s), θ_j^(s) ~ q(θ_j | y_j, η^(s)) for all j in one batch.

import Foundation
import NumericCore
import Diffusion

/// A local denoiser: row r of z [N, d_local] is denoised given the global parameters `global` row r [N, d_global]
/// and group `group[r]`; one call covers all samples × groups.
public typealias LocalDenoiser = (_ z: Matrix, _ global: Matrix, _ group: [Int], _ t: Double) -> Matrix

/// Draws θ_j^(s) ~ q(θ_j | y_j, η^(s)) for every global sample s (rows of `globalSamples` [S, d_global]) and
/// group j < `groups`, integrating all S·J chains as one batch of at most `batchRows` rows at a time.
/// Returns [S·J, d_local]; row s·J + j belongs to sample s and group j.
public func ancestralSample(
  local: @escaping LocalDenoiser, globalSamples: Matrix, groups: Int, localDimension: Int,
  sampler: SamplerKind = .eulerMaruyama, schedule: any NoiseSchedule, options: SamplerOptions = SamplerOptions(),
  batchRows: Int = 1 << 16, rng: inout Xoshiro
) throws -> Matrix {
  guard groups >= 1, localDimension >= 1, batchRows >= 1 else {
    throw CompositionError.invalidOption("ancestral sampling needs groups ≥ 1, a local dimension and a batch size")
  }
  let total = globalSamples.rows * groups
  var parts = [Matrix]()
  var start = 0
  while start < total {
    let end = min(total, start + batchRows)
    let rows = Array(start..<end)
    let globals = globalSamples.gatherRows(rows.map { $0 / groups })
    let group = rows.map { $0 % groups }
    let z1 = priorSample(rows: rows.count, cols: localDimension, schedule: schedule, rng: &rng)
    let r = try sample(sampler, denoiser: { z, t in local(z, globals, group, t) }, initial: z1, schedule: schedule,
                       options: options, rng: &rng)
    parts.append(r.samples)
    start = end
  }
  return Matrix.vstack(parts)
}

/// Global posterior by composition over groups, then ancestral local samples.
public struct HierarchicalSamples: Sendable {
  /// [S, d_global].
  public var global: Matrix
  /// [S·J, d_local], row s·J + j.
  public var local: Matrix
  /// Adaptive or fixed steps of the global sampler.
  public var globalSteps: Int
}

/// (i)–(iii) of the file header in one call. `composition` configures the global composition over `groups`
/// groups with the hyperprior `hyperprior` (network space).
public func sampleHierarchical(
  global: @escaping PairedDenoiser, hyperprior: any CompositionPrior, local: @escaping LocalDenoiser, groups: Int,
  localDimension: Int, samples: Int, schedule: any NoiseSchedule, composition: CompositionOptions,
  globalSampler: SamplerKind = .eulerMaruyama, globalOptions: SamplerOptions = SamplerOptions(),
  localSampler: SamplerKind = .eulerMaruyama, localOptions: SamplerOptions = SamplerOptions(), seed: UInt64 = 0
) throws -> HierarchicalSamples {
  let composer = try ScoreComposer(denoiser: global, observations: groups, prior: hyperprior, schedule: schedule,
                                   options: composition, seed: seed)
  var rng = Xoshiro(seed: seed, stream: 0x6869_6572)
  let z1 = priorSample(rows: samples, cols: hyperprior.dimension, schedule: schedule, rng: &rng)
  let g = try sample(globalSampler, denoiser: composer.denoiser, initial: z1, schedule: schedule,
                     options: globalOptions, rng: &rng)
  let l = try ancestralSample(local: local, globalSamples: g.samples, groups: groups, localDimension: localDimension,
                              sampler: localSampler, schedule: schedule, options: localOptions, rng: &rng)
  return HierarchicalSamples(global: g.samples, local: l, globalSteps: g.steps)
}

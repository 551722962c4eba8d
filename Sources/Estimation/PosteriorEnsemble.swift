// Ensembles of posterior estimators: K estimators trained on the same simulations with different seeds (and so
// different initial weights, batch orders and validation rows), used as the equal mixture
// q(θ | x) = (1/K) Σ_k q_k(θ | x).
//
// Sampling splits the requested count equally and deterministically: member k (0-based) draws
// ⌊N/K⌋ + [k < N mod K] samples per observation, in its own batches, and the batches of all members draw from
// consecutive random streams (seed, 0), (seed, 1), … in member order, exactly as one estimator's batches do
// (PosteriorEstimator.sample). The members' rows are then concatenated and, for K > 1, shuffled per observation
// with a permutation drawn from the seed, so that the rows are exchangeable. Hence K identical members draw
// exactly the rows one of them draws with batches of ⌈N/K⌉ rows, in shuffled order, and an ensemble of one
// member draws exactly what the member draws.
//
// On disk an ensemble is the first member's model directory (its settings record `ensembleMembers` = K) holding
// the other members as model directories `member-2` … `member-K`; a program that reads only single models finds
// the first member there.

import Composition
import Diffusion
import Foundation
import NeuralNet
import NumericCore

/// An equal mixture of posterior estimators of the same parameters and data.
public final class PosteriorEnsemble: @unchecked Sendable {
  public let members: [PosteriorEstimator]

  /// An ensemble of `members` (at least one), which must share the parameter and condition dimensions, the item
  /// structure of the conditions and the constraint transform.
  public init(members: [PosteriorEstimator]) throws {
    guard let first = members.first else { throw EstimatorError.invalidModel("an ensemble needs at least one member") }
    for (k, m) in members.enumerated().dropFirst() {
      guard m.parameterDimension == first.parameterDimension, m.conditionDimension == first.conditionDimension else {
        throw EstimatorError.invalidModel(
          "ensemble member \(k + 1) has \(m.parameterDimension) parameters and \(m.conditionDimension) data "
            + "columns, member 1 has \(first.parameterDimension) and \(first.conditionDimension)")
      }
      guard m.conditionChannels == first.conditionChannels, m.transform == first.transform else {
        throw EstimatorError.invalidModel(
          "ensemble member \(k + 1) reads its data or maps its parameters differently from member 1")
      }
    }
    self.members = members
  }

  /// The first member (its settings describe the ensemble's task, prior and method).
  public var first: PosteriorEstimator { members[0] }
  public var parameterDimension: Int { first.parameterDimension }
  public var conditionDimension: Int { first.conditionDimension }

  /// Samples per member for `count` samples: ⌊count/K⌋, and one more for the first count mod K members.
  public static func shares(count: Int, members k: Int) -> [Int] {
    (0..<k).map { count / k + ($0 < count % k ? 1 : 0) }
  }

  /// Draws `count` samples from the mixture for every row of `observations` (see the file header and
  /// `PosteriorEstimator.sample(observations:count:...)`); `progress` reports (done, total) batches.
  public func sample(
    observations: Matrix, count: Int, sampler: SamplerKind? = nil, options: SamplerOptions = SamplerOptions(),
    seed: UInt64 = 0, maxBatchRows: Int = 16_384, progress: ((Int, Int) -> Void)? = nil
  ) throws -> PosteriorSamples {
    let k = members.count
    return try mixture(count: count, seed: seed) { member, index, share, firstStream in
      try member.sample(
        observations: observations, count: share, sampler: sampler, options: options, seed: seed,
        firstStream: firstStream, maxBatchRows: maxBatchRows,
        progress: progress.map { report in { done, total in report(index * total + done, k * total) } })
    }
  }

  /// Draws `count` samples with inference-time adaptations (composition, prior adaptation, guidance; see
  /// `PosteriorEstimator.sample(observations:count:inference:...)`).
  ///
  /// Without composition every member draws its share of the adapted posterior and the shares are mixed as in
  /// `sample(observations:count:...)`. With composition (K > 1) the members' per-observation scores are averaged
  /// before they are composed (`averagedPairedDenoiser`): the composed posterior is
  /// p(θ)^{1−J} Π_j Π_k q_k(θ | y_j)^{1/K}, and the members' independent score errors, which composition adds up
  /// J times, shrink by averaging instead of being mixed (a mixture of K composed posteriors keeps each member's
  /// J-fold error and only spreads the draws over them). Each sample then costs K network evaluations per
  /// (state, observation) pair and step.
  public func sample(
    observations: Matrix, count: Int, inference: InferenceOptions, sampler: SamplerKind? = nil,
    options: SamplerOptions = SamplerOptions(), seed: UInt64 = 0, maxBatchRows: Int = 16_384
  ) throws -> PosteriorSamples {
    if inference.composition != nil && members.count > 1 {
      return try withSamplingWeights(of: members[...]) {
        let paired = try averagedPairedDenoiser(observations: observations, guidanceScale: inference.guidanceScale)
        return try first.sample(
          observations: observations, count: count, inference: inference, sampler: sampler, options: options,
          seed: seed, firstStream: 0, maxBatchRows: maxBatchRows, paired: paired)
      }
    }
    return try mixture(count: count, seed: seed) { member, _, share, firstStream in
      try member.sample(observations: observations, count: share, inference: inference, sampler: sampler,
                        options: options, seed: seed, firstStream: firstStream, maxBatchRows: maxBatchRows)
    }
  }

  /// Runs `body` with every member's sampling (EMA) weights in place.
  func withSamplingWeights<R>(of list: ArraySlice<PosteriorEstimator>, _ body: () throws -> R) throws -> R {
    guard let head = list.first else { return try body() }
    return try head.withSamplingWeights { try withSamplingWeights(of: list.dropFirst(), body) }
  }

  /// The members' per-observation denoisers averaged in the first member's network space, and the network
  /// evaluations one call costs. With u_k = A_k u_1 + b_k the affine map from the first member's network space to
  /// member k's (A_k = diag(s_1/s_k), b_k = (m_1 − m_k)/s_k from the parameter standardizers; the members share
  /// their constraint transform):
  ///
  ///   x̂(z, t; y) = (1/K) Σ_k A_k⁻¹ [x̂_k(A_k z + α_t b_k, t; y) − b_k].
  ///
  /// Averaging denoisers at fixed (z, t) averages the scores s = (α x̂ − z)/σ². The map is exact for members
  /// standardized alike (A_k = I); otherwise member k sees noise A_k σ ε instead of σ ε, an error of the order of
  /// max |s_1/s_k − 1| (about 10⁻³ for members trained on the same simulations with different validation rows).
  /// Call it with the members' sampling weights in place (`withSamplingWeights(of:)`).
  func averagedPairedDenoiser(observations: Matrix, guidanceScale w: Double) throws -> (PairedDenoiser, Int) {
    let lead = first
    for (k, m) in members.enumerated().dropFirst() {
      guard m.settings.method == lead.settings.method,
        lead.settings.method == .flowMatching
          || (m.settings.diffusion.schedule == lead.settings.diffusion.schedule
            && m.settings.diffusion.variance == lead.settings.diffusion.variance
            && m.settings.diffusion.sigmaData == lead.settings.diffusion.sigmaData)
      else {
        throw EstimatorError.unsupported(
          "composing an ensemble needs members of one method on one noise schedule; member \(k + 1) differs from member 1")
      }
    }
    let schedule = try lead.inferenceSchedule()
    let d = lead.parameterDimension
    func statistics(_ e: PosteriorEstimator) -> (mean: [Double], std: [Double]) {
      guard let s = e.parameterStandardizer else { return ([Double](repeating: 0, count: d), [Double](repeating: 1, count: d)) }
      return (s.mean, s.std)
    }
    let base = statistics(lead)
    let parts: [(denoiser: PairedDenoiser, scale: [Float], shift: [Float])] = try members.map { m in
      let own = statistics(m)
      let scale = (0..<d).map { Float(base.std[$0] / own.std[$0]) }
      let shift = (0..<d).map { Float((base.mean[$0] - own.mean[$0]) / own.std[$0]) }
      return (try m.pairedDenoiser(embedded: m.embedObservations(observations), guidanceScale: w), scale, shift)
    }
    let inverseCount = Float(1) / Float(members.count)
    let denoiser: PairedDenoiser = { z, obs, t in
      let alpha = Float(schedule.alphaSigma(t).alpha)
      var total = Matrix(rows: z.rows, cols: d)
      for part in parts {
        var zk = z
        zk.multiplyRowVector(part.scale)
        zk.addRowVector(part.shift.map { alpha * $0 })
        var xk = part.denoiser(zk, obs, t)
        xk.addRowVector(part.shift.map { -$0 })
        xk.multiplyRowVector(part.scale.map { 1 / $0 })
        total.add(xk)
      }
      total.scale(by: inverseCount)
      return total
    }
    return (denoiser, members.count * (w == 1 ? 1 : 2))
  }

  /// log q(θ | x) of the mixture, log((1/K) Σ_k q_k(θ | x)), for every row of `theta` (see
  /// `PosteriorEstimator.logProbability`; every member uses the same seed for its divergence probes).
  public func logProbability(
    _ theta: Matrix, observation: Matrix?, steps: Int = 100, divergence: DivergenceMethod? = nil, seed: UInt64 = 0
  ) throws -> [Double] {
    let parts = try members.map {
      try $0.logProbability(theta, observation: observation, steps: steps, divergence: divergence, seed: seed)
    }
    let logK = log(Double(members.count))
    return (0..<theta.rows).map { r in
      let values = parts.map { $0[r] }
      guard let top = values.max(), top.isFinite else { return values.max() ?? -.infinity }
      return top + log(values.reduce(0) { $0 + exp($1 - top) }) - logK
    }
  }

  /// Runs `draw(member, index, share, firstStream)` for every member with a positive share and mixes the results.
  func mixture(
    count: Int, seed: UInt64,
    draw: (PosteriorEstimator, Int, Int, UInt64) throws -> PosteriorSamples
  ) throws -> PosteriorSamples {
    let start = Date()
    let shares = Self.shares(count: count, members: members.count)
    var parts: [PosteriorSamples] = []
    var stream: UInt64 = 0
    for (index, member) in members.enumerated() where shares[index] > 0 {
      let r = try draw(member, index, shares[index], stream)
      stream &+= UInt64(r.streams)
      parts.append(r)
    }
    guard let firstPart = parts.first else { return try draw(first, 0, 0, 0) }
    var samples = (0..<firstPart.samples.count).map { i in Matrix.vstack(parts.map { $0.samples[i] }) }
    if members.count > 1 {
      for i in samples.indices {
        var rng = Xoshiro(seed: seed, stream: 0xE45E_0000_0000 | UInt64(i))
        samples[i] = samples[i].gatherRows(rng.permutation(samples[i].rows))
      }
    }
    return PosteriorSamples(
      samples: samples, evaluations: parts.reduce(0) { $0 + $1.evaluations }, steps: parts.reduce(0) { $0 + $1.steps },
      nonFiniteRows: parts.reduce(0) { $0 + $1.nonFiniteRows }, seconds: Date().timeIntervalSince(start),
      streams: Int(stream))
  }

  // MARK: Model directories

  /// The directory of member `k` (1-based; member 1 is the ensemble's own directory).
  public static func memberPath(_ path: String, member k: Int) -> String {
    k == 1 ? path : (path as NSString).appendingPathComponent("member-\(k)")
  }

  /// Writes the ensemble: members 2 … K into `member-2` … `member-K`, then member 1 into `path` itself with the
  /// member count in its settings (written last, so a reader never sees a count whose members are not there yet).
  public func save(to path: String) throws {
    for (index, member) in members.enumerated().dropFirst() {
      member.settings.ensembleMembers = nil
      try member.save(to: Self.memberPath(path, member: index + 1))
    }
    let previous = first.settings.ensembleMembers
    first.settings.ensembleMembers = members.count > 1 ? members.count : nil
    defer { first.settings.ensembleMembers = previous }
    try first.save(to: path)
  }

  /// Reads an ensemble written by `save(to:)`, or a single model directory as an ensemble of one. A missing,
  /// unreadable or inconsistent member is an `EstimatorError.invalidModel` naming it.
  public static func load(from path: String) throws -> PosteriorEnsemble {
    let head = try PosteriorEstimator.loadMember(from: path)
    let k = head.settings.ensembleMembers ?? 1
    guard (1...1000).contains(k) else {
      throw EstimatorError.invalidModel("\(path): an ensemble of \(k) members (1 to 1000 expected)")
    }
    var members = [head]
    for i in stride(from: 2, through: k, by: 1) {
      let p = memberPath(path, member: i)
      guard FileManager.default.fileExists(atPath: (p as NSString).appendingPathComponent(ModelFile.configName)) else {
        throw EstimatorError.invalidModel("\(path): ensemble member \(i) of \(k) is missing (\(p))")
      }
      let m: PosteriorEstimator
      do { m = try PosteriorEstimator.loadMember(from: p) } catch {
        throw EstimatorError.invalidModel("\(p): ensemble member \(i) of \(k): \(error)")
      }
      guard m.settings.ensembleMembers == nil else {
        throw EstimatorError.invalidModel("\(p): ensemble member \(i) is itself an ensemble")
      }
      members.append(m)
    }
    do { return try PosteriorEnsemble(members: members) } catch let e as EstimatorError {
      throw EstimatorError.invalidModel("\(path): \(e)")
    }
  }
}

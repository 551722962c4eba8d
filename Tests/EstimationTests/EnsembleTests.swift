import Foundation
import Testing
import TestSupport
@testable import Estimation
import Composition
import NeuralNet
import NumericCore
import Tasks

/// Ensembles of estimators: the mixture's split and seeds, model directories, bad ensemble files.
@Suite(.serialized) struct EnsembleTests {
  /// A tiny trained estimator of θ ~ N(0, I₂), x = θ + ½ε.
  static func member(seed: UInt64, rows: Int = 400) throws -> PosteriorEstimator {
    var rng = Xoshiro(seed: 11)
    let theta = rng.normalMatrix(rows: 400, cols: 2).rows(0..<rows)
    var x = theta
    x.add(rng.normalMatrix(rows: 400, cols: 2).rows(0..<rows), scale: 0.5)
    var net = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 2)
    net.widths = [32, 32]
    let e = try PosteriorEstimator(parameterDimension: 2, conditionDimension: 2, network: net, seed: seed)
    var cfg = TrainingConfiguration()
    cfg.epochs = 2
    cfg.seed = seed
    try e.train(.simulations(parameters: theta, data: x), configuration: cfg)
    return e
  }

  static func sortedRows(_ m: Matrix) -> [[Float]] {
    (0..<m.rows).map { r in (0..<m.cols).map { m[r, $0] } }.sorted { $0.lexicographicallyPrecedes($1) }
  }

  static let observation = Matrix([[0.5, -1.0]])

  /// Two members trained with the same seed are the same estimator: the ensemble draws exactly the rows one
  /// member draws with batches of ⌈N/2⌉ rows (shuffled); an ensemble of one draws exactly what its member draws.
  @Test func identicalMembersDrawWhatOneMemberDraws() throws {
    let a = try Self.member(seed: 3), b = try Self.member(seed: 3)
    let n = 101
    let pair = try PosteriorEnsemble(members: [a, b]).sample(observations: Self.observation, count: n, seed: 7)
    let one = try a.sample(observations: Self.observation, count: n, seed: 7, maxBatchRows: (n + 1) / 2)
    #expect(pair.samples[0].rows == n && pair.samples[0].cols == 2)
    #expect(Self.sortedRows(pair.samples[0]) == Self.sortedRows(one.samples[0]))
    #expect(pair.samples[0].storage != one.samples[0].storage, "rows are shuffled")
    let single = try PosteriorEnsemble(members: [a]).sample(observations: Self.observation, count: n, seed: 7)
    let plain = try a.sample(observations: Self.observation, count: n, seed: 7)
    #expect(single.samples[0].storage == plain.samples[0].storage)
    #expect(PosteriorEnsemble.shares(count: 10, members: 4) == [3, 3, 2, 2])
  }

  /// Different seeds give different members; the mixture's density is the mean of theirs.
  @Test func mixtureOfDifferentMembersSavesLoadsAndHasTheMeanDensity() throws {
    let members = try [Self.member(seed: 1), Self.member(seed: 2)]
    let ensemble = try PosteriorEnsemble(members: members)
    let dir = temporaryDirectory("ensemble")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/model"
    try ensemble.save(to: path)
    let loaded = try PosteriorEnsemble.load(from: path)
    #expect(loaded.members.count == 2)
    let s1 = try ensemble.sample(observations: Self.observation, count: 50, seed: 4)
    let s2 = try loaded.sample(observations: Self.observation, count: 50, seed: 4)
    #expect(s1.samples[0].storage == s2.samples[0].storage)
    let theta = Matrix([[0.4, -0.8], [0, 0]])
    let lp = try ensemble.logProbability(theta, observation: Self.observation, steps: 20)
    let parts = try members.map { try $0.logProbability(theta, observation: Self.observation, steps: 20) }
    for r in 0..<2 {
      let mean = log((exp(parts[0][r]) + exp(parts[1][r])) / 2)
      #expect(abs(lp[r] - mean) < 1e-9)
    }
    // A single-model reader refuses the ensemble instead of silently using its first member.
    #expect(throws: EstimatorError.self) { _ = try PosteriorEstimator.load(from: path) }
    // A single model loads as an ensemble of one.
    try members[0].save(to: dir + "/single")
    #expect(try PosteriorEnsemble.load(from: dir + "/single").members.count == 1)
  }

  static let observations = Matrix([[0.5, -1.0], [0.2, -0.6], [0.9, -1.1]])

  static func composition() -> InferenceOptions {
    var o = InferenceOptions()
    o.composition = CompositionOptions(method: .gauss(.priorScaled(2)))
    o.trainingPrior = GaussianPrior(mean: [0, 0], standardDeviation: [1, 1])
    return o
  }

  /// Composing an ensemble averages its members' scores: two identical members compose exactly as one, at twice
  /// the network evaluations.
  @Test func composingIdenticalMembersEqualsComposingOne() throws {
    let a = try Self.member(seed: 3), b = try Self.member(seed: 3)
    let pair = try PosteriorEnsemble(members: [a, b]).sample(
      observations: Self.observations, count: 60, inference: Self.composition(), sampler: .dpmSolver2M, seed: 5)
    let one = try a.sample(
      observations: Self.observations, count: 60, inference: Self.composition(), sampler: .dpmSolver2M, seed: 5)
    #expect(pair.samples.count == 1 && pair.samples[0].rows == 60)
    #expect(pair.samples[0].storage == one.samples[0].storage)
    #expect(pair.evaluations == 2 * one.evaluations)
  }

  /// The averaged denoiser works in the first member's network space and maps the others' spaces affinely:
  /// swapping the members maps the denoiser by the same affine map, D_ca(Az + αb) = A D_ac(z) + b
  /// (A = s_a/s_c, b = (m_a − m_c)/s_c); a wrong map (a sign, a missing α) breaks this identity.
  @Test func averagedDenoiserIsEquivariantUnderTheMembersSpaces() throws {
    let a = try Self.member(seed: 1), c = try Self.member(seed: 2, rows: 250)
    let sa = try #require(a.parameterStandardizer), sc = try #require(c.parameterStandardizer)
    let scale = (0..<2).map { Float(sa.std[$0] / sc.std[$0]) }
    let shift = (0..<2).map { Float((sa.mean[$0] - sc.mean[$0]) / sc.std[$0]) }
    #expect(scale.contains { abs($0 - 1) > 1e-3 }, "the members are standardized differently")
    let ac = try PosteriorEnsemble(members: [a, c]), ca = try PosteriorEnsemble(members: [c, a])
    let schedule = try a.inferenceSchedule()
    var rng = Xoshiro(seed: 9)
    let z = rng.normalMatrix(rows: 6, cols: 2)
    let obs = [0, 1, 2, 0, 1, 2]
    for t in [0.2, 0.6, 0.95] {
      let alpha = Float(schedule.alphaSigma(t).alpha)
      let (dac, evaluations) = try ac.withSamplingWeights(of: ac.members[...]) {
        try ac.averagedPairedDenoiser(observations: Self.observations, guidanceScale: 1)
      }
      #expect(evaluations == 2)
      let (dca, _) = try ca.withSamplingWeights(of: ca.members[...]) {
        try ca.averagedPairedDenoiser(observations: Self.observations, guidanceScale: 1)
      }
      var zc = z
      zc.multiplyRowVector(scale)
      zc.addRowVector(shift.map { alpha * $0 })
      let left = try ca.withSamplingWeights(of: ca.members[...]) { dca(zc, obs, t) }
      var right = try ac.withSamplingWeights(of: ac.members[...]) { dac(z, obs, t) }
      right.multiplyRowVector(scale)
      right.addRowVector(shift)
      for i in 0..<left.storage.count { #expect(abs(left.storage[i] - right.storage[i]) < 2e-4) }
    }
  }

  @Test func badEnsembleFilesAreInvalidModels() throws {
    let dir = temporaryDirectory("ensemble-bad")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let a = try Self.member(seed: 1)
    try PosteriorEnsemble(members: [a, try Self.member(seed: 2)]).save(to: dir + "/m")
    try FileManager.default.removeItem(atPath: dir + "/m/member-2/weights.safetensors")
    #expect { _ = try PosteriorEnsemble.load(from: dir + "/m") } throws: { e in
      guard case EstimatorError.invalidModel(let s) = e else { return false }
      return s.contains("member 2")
    }
    try FileManager.default.removeItem(atPath: dir + "/m/member-2")
    #expect(throws: EstimatorError.self) { _ = try PosteriorEnsemble.load(from: dir + "/m") }
    // Members of other dimensions do not mix.
    let other = try PosteriorEstimator(parameterDimension: 3, conditionDimension: 2, seed: 1)
    #expect(throws: EstimatorError.self) { _ = try PosteriorEnsemble(members: [a, other]) }
    #expect(throws: EstimatorError.self) { _ = try PosteriorEnsemble(members: []) }
  }
}

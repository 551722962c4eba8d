import Foundation
import Testing
import TestSupport
import Estimation
import NeuralNet
import NumericCore

/// Ensembles of estimators: the mixture's split and seeds, model directories, bad ensemble files.
@Suite(.serialized) struct EnsembleTests {
  /// A tiny trained estimator of θ ~ N(0, I₂), x = θ + ½ε.
  static func member(seed: UInt64) throws -> PosteriorEstimator {
    var rng = Xoshiro(seed: 11)
    let theta = rng.normalMatrix(rows: 400, cols: 2)
    var x = theta
    x.add(rng.normalMatrix(rows: 400, cols: 2), scale: 0.5)
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

// Hierarchical inference with trained networks (Documentation/Methods.md §8.5, case study
// 4 of the review): global parameters η, local parameters θ_j of group j, groups y_j independent given η.
//
//   (i)   a global estimator q(η | y_j), trained on single-group simulations (η, θ_j, y_j) from the full
//         hierarchical prior, so that its training prior over η is the hyperprior p(η); composed over the J
//         groups, p(η | y_1:J) ∝ p(η)^{1−J} ∏_j q(η | y_j), with the hyperprior score (the composition path of
//         `PosteriorEstimator.sample(observations:count:inference:)`);
//   (ii)  a local estimator q(θ_j | y_j, η) whose condition row is [y_j, η] (standardized like any condition);
//   (iii) ancestral sampling (`ancestralSample`): for every global draw η^(s), θ_j^(s) ~ q(θ_j | y_j, η^(s)) for
//         all groups j in one batch, integrated in the local network space u = (T(θ) − m)/s and mapped back.

import Composition
import Diffusion
import FileFormats
import Foundation
import NeuralNet
import NumericCore
import Tasks

/// Draws from a hierarchical posterior.
public struct HierarchicalPosteriorSamples: Sendable {
  /// Global draws η^(s) [S, d_η] (original space).
  public var global: Matrix
  /// Local draws [S·J, d_θ] (original space); row s·J + j belongs to global draw s and group j.
  public var local: Matrix
  /// Number of groups J.
  public var groups: Int
  /// Adaptive or fixed solver steps of the composed global sampler.
  public var globalSteps: Int
  /// Non-finite rows of the global and the local draws (kept as NaN so that rows stay aligned).
  public var nonFiniteRows: Int
  public var seconds: Double

  public init(global: Matrix, local: Matrix, groups: Int, globalSteps: Int = 0, nonFiniteRows: Int = 0,
              seconds: Double = 0) {
    self.global = global
    self.local = local
    self.groups = groups
    self.globalSteps = globalSteps
    self.nonFiniteRows = nonFiniteRows
    self.seconds = seconds
  }

  /// The local draws of group j, [S, d_θ] (row s pairs with global draw s).
  public func local(group j: Int) -> Matrix {
    local.gatherRows((0..<global.rows).map { $0 * groups + j })
  }
}

/// A global and a local `PosteriorEstimator` for a two-level model (see the file header).
///
/// Shapes: a group's data row y_j has d_y columns (the global estimator's condition); η has d_η, θ_j has d_θ
/// columns; the local estimator's condition row is [y_j, η] of d_y + d_η columns.
public final class HierarchicalEstimator: @unchecked Sendable {
  /// q(η | y_j).
  public let global: PosteriorEstimator
  /// q(θ_j | y_j, η), condition [y_j, η].
  public let local: PosteriorEstimator

  public var globalDimension: Int { global.parameterDimension }
  public var localDimension: Int { local.parameterDimension }
  /// d_y, the width of one group's data row.
  public var groupDimension: Int { global.conditionDimension }

  /// Pairs two estimators; the local one must take [y_j, η] as its condition.
  public init(global: PosteriorEstimator, local: PosteriorEstimator) throws {
    guard local.conditionDimension == global.conditionDimension + global.parameterDimension else {
      throw EstimatorError.shapeMismatch(
        "the local estimator's condition has \(local.conditionDimension) columns, expected \(global.conditionDimension) (group data) + \(global.parameterDimension) (global parameters)")
    }
    for (name, e) in [("global", global), ("local", local)] where !(e.settings.method == .diffusion || e.settings.method == .flowMatching) {
      throw EstimatorError.unsupported("the \(name) estimator must be a diffusion or flow-matching model")
    }
    self.global = global
    self.local = local
  }

  /// Two new, untrained estimators with the same settings; `localNetwork`/`globalNetwork` set the architectures
  /// (their input and condition widths are overwritten), constraints are per parameter. `globalSummary` and
  /// `localSummary` attach a summary network to each (their input is a group's data row, for example a subject's
  /// set of trials): the global network reads summary(y_j), the local one [summary(y_j), η], each summary trained
  /// with its own network, as in the review's case study 4.
  public convenience init(
    globalDimension: Int, localDimension: Int, groupDimension: Int, settings: EstimatorSettings = EstimatorSettings(),
    globalNetwork: TimeMLPConfiguration? = nil, localNetwork: TimeMLPConfiguration? = nil,
    globalSummary: SummaryArchitecture? = nil, localSummary: SummaryArchitecture? = nil,
    globalConstraints: [Constraint]? = nil, localConstraints: [Constraint]? = nil, seed: UInt64 = 0
  ) throws {
    guard groupDimension > 0 else { throw EstimatorError.shapeMismatch("group data must have at least one column") }
    for s in [globalSummary, localSummary].compactMap({ $0 }) where s.inputDimension != groupDimension {
      throw EstimatorError.shapeMismatch(
        "a summary network reads \(s.inputDimension) values per group, the group data have \(groupDimension)")
    }
    let g = try PosteriorEstimator(parameterDimension: globalDimension, conditionDimension: groupDimension,
                                   settings: settings, network: globalNetwork, summary: globalSummary,
                                   constraints: globalConstraints, seed: seed)
    let l = try PosteriorEstimator(parameterDimension: localDimension, conditionDimension: groupDimension + globalDimension,
                                   settings: settings, network: localNetwork, summary: localSummary,
                                   constraints: localConstraints, seed: seed &+ 1)
    try self.init(global: g, local: l)
  }

  /// The local condition rows [y_j, η] for rows of group data [n, d_y] and global parameters [n, d_η].
  public func localConditions(groupData y: Matrix, global eta: Matrix) throws -> Matrix {
    guard y.cols == groupDimension, eta.cols == globalDimension, y.rows == eta.rows else {
      throw EstimatorError.shapeMismatch(
        "group data [\(y.rows), \(y.cols)] and global parameters [\(eta.rows), \(eta.cols)]; expected [n, \(groupDimension)] and [n, \(globalDimension)]")
    }
    return Matrix.hstack([y, eta])
  }

  /// Offline training of both estimators on single-group simulations from the full hierarchical prior: row i is
  /// (η_i, θ_i, y_i) with η_i ~ p(η), θ_i ~ p(θ | η_i), y_i ~ p(y | θ_i, η_i) (several rows may share an η).
  @discardableResult
  public func train(
    global eta: Matrix, local theta: Matrix, groupData y: Matrix, configuration: TrainingConfiguration,
    localConfiguration: TrainingConfiguration? = nil, progress: ((TrainingProgress) -> Void)? = nil
  ) throws -> (global: TrainingHistory, local: TrainingHistory) {
    guard theta.cols == localDimension, theta.rows == y.rows else {
      throw EstimatorError.shapeMismatch(
        "local parameters [\(theta.rows), \(theta.cols)] for \(y.rows) group rows; expected \(localDimension) columns")
    }
    let condition = try localConditions(groupData: y, global: eta)
    let g = try global.train(.simulations(parameters: eta, data: y), configuration: configuration, progress: progress)
    let l = try local.train(.simulations(parameters: theta, data: condition), configuration: localConfiguration ?? configuration,
                            progress: progress)
    return (g, l)
  }

  /// Samples the hierarchical posterior of the groups `groupData` [J, d_y].
  ///
  /// The global draws come from the composed global estimator (`inference.composition`, default the direct rule,
  /// with `hyperprior` as the prior the global network was trained under); then every group's local parameters
  /// are drawn ancestrally for each global draw, in batches of at most `maxLocalRows` rows (S·J rows in all).
  /// `sampler`/`options` drive the global sampler, `localSampler`/`localOptions` the local one (nil: each
  /// estimator's default sampler).
  public func sample(
    groupData y: Matrix, count: Int, hyperprior: any Prior, inference: InferenceOptions = InferenceOptions(),
    sampler: SamplerKind? = nil, options: SamplerOptions = SamplerOptions(), localSampler: SamplerKind? = nil,
    localOptions: SamplerOptions = SamplerOptions(), seed: UInt64 = 0, maxLocalRows: Int = 1 << 16
  ) throws -> HierarchicalPosteriorSamples {
    guard y.cols == groupDimension else {
      throw EstimatorError.shapeMismatch("group data have \(y.cols) columns, the model expects \(groupDimension)")
    }
    guard y.rows > 0 else { throw EstimatorError.shapeMismatch("no group rows") }
    guard count > 0 else { throw EstimatorError.shapeMismatch("the sample count must be positive") }
    guard hyperprior.dimension == globalDimension else {
      throw EstimatorError.shapeMismatch("hyperprior of dimension \(hyperprior.dimension), the global model has \(globalDimension)")
    }
    let start = Date()
    var adapted = inference
    adapted.trainingPrior = hyperprior
    if adapted.composition == nil { adapted.composition = CompositionOptions() }
    let g = try global.sample(observations: y, count: count, inference: adapted, sampler: sampler, options: options,
                              seed: seed)
    let eta = g.samples[0]
    let theta = try sampleLocal(groupData: y, global: eta, sampler: localSampler, options: localOptions,
                                seed: seed &+ 0x6c6f_6361, maxRows: maxLocalRows)
    let bad = (0..<theta.rows).filter { r in (0..<localDimension).contains { !theta[r, $0].isFinite } }.count
    return HierarchicalPosteriorSamples(global: eta, local: theta, groups: y.rows, globalSteps: g.steps,
                                        nonFiniteRows: g.nonFiniteRows + bad, seconds: Date().timeIntervalSince(start))
  }

  /// Ancestral local draws θ_j^(s) ~ q(θ_j | y_j, η^(s)) for every row s of `eta` [S, d_η] (original space) and
  /// every group j of `y` [J, d_y]; returns [S·J, d_θ] in the original space, row s·J + j.
  public func sampleLocal(
    groupData y: Matrix, global eta: Matrix, sampler: SamplerKind? = nil, options: SamplerOptions = SamplerOptions(),
    seed: UInt64 = 0, maxRows: Int = 1 << 16
  ) throws -> Matrix {
    guard y.cols == groupDimension, eta.cols == globalDimension else {
      throw EstimatorError.shapeMismatch(
        "group data with \(y.cols) and global draws with \(eta.cols) columns; expected \(groupDimension) and \(globalDimension)")
    }
    try global.checkObservations(y)
    guard eta.allFinite else { throw EstimatorError.nonFiniteInput("global draws contain NaN or infinity") }
    let schedule = try local.inferenceSchedule()
    let estimator = local
    // The embedded condition of a batch is the same at every solver step: compute it once per batch.
    var cachedKey: (global: Matrix, group: [Int])? = nil
    var cachedEmbedding: Matrix? = nil
    let denoiser: LocalDenoiser = { z, globals, group, t in
      if cachedKey == nil || cachedKey!.group != group || cachedKey!.global.storage != globals.storage {
        let rows = Matrix.hstack([y.gatherRows(group), globals])
        cachedEmbedding = estimator.embedObservations(rows)
        cachedKey = (globals, group)
      }
      // Finite-difference or tiled calls may pass more state rows than conditions: row i uses condition i mod B.
      var condition = cachedEmbedding
      if let c = condition, c.rows != z.rows { condition = c.gatherRows((0..<z.rows).map { $0 % c.rows }) }
      return estimator.networkDenoiser(condition: condition, schedule: schedule)(z, t)
    }
    var rng = Xoshiro(seed: seed, stream: 0x6869_6572)
    let u = try local.withSamplingWeights {
      try ancestralSample(local: denoiser, globalSamples: eta, groups: y.rows, localDimension: localDimension,
                          sampler: sampler ?? local.defaultSampler, schedule: schedule, options: options,
                          batchRows: max(1, maxRows), rng: &rng)
    }
    return local.toParameterSpace(u)
  }

  // MARK: Model directories

  static let manifestName = "hierarchical.json"

  /// The manifest `hierarchical.json` of a model directory. Files written before `format` and `task` existed hold
  /// only the version and the three dimensions, and load the same.
  struct Manifest: Codable {
    var format: String? = "diffsbi-hierarchical"
    var version: Int
    var globalDimension: Int
    var localDimension: Int
    var groupDimension: Int
    /// The built-in two-level task the model was trained on (`TaskRegistry.hierarchicalTask(named:)`), if any.
    var task: String?
  }

  /// The built-in two-level task the model was trained on, if any (stored in the manifest).
  public var task: String?

  /// Whether `path` is a directory written by `save(to:)` (it holds the manifest).
  public static func isHierarchicalDirectory(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(manifestName))
  }

  /// Writes `path/global`, `path/local` (ordinary model directories) and the manifest `path/hierarchical.json`
  /// (format `diffsbi-hierarchical`, version 1: the three dimensions and the task name). The hyperprior, when
  /// known, is stored as the global estimator's training prior (`PosteriorEstimator.setTrainingPrior`).
  public func save(to path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    try global.save(to: (path as NSString).appendingPathComponent("global"))
    try local.save(to: (path as NSString).appendingPathComponent("local"))
    let manifest = Manifest(version: 1, globalDimension: globalDimension, localDimension: localDimension,
                            groupDimension: groupDimension, task: task)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    try AtomicFile.write([UInt8](try encoder.encode(manifest)),
                         to: (path as NSString).appendingPathComponent(Self.manifestName))
  }

  /// Reads a directory written by `save(to:)`; the two parts must fit together and match the manifest. A single
  /// estimator's directory is refused with `EstimatorError.wrongModelKind`.
  public static func load(from path: String) throws -> HierarchicalEstimator {
    let manifestPath = (path as NSString).appendingPathComponent(manifestName)
    guard let data = FileManager.default.contents(atPath: manifestPath) else {
      if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(ModelFile.configName)) {
        throw EstimatorError.wrongModelKind(
          "\(path) holds a single posterior estimator, not a hierarchical model (global and local networks)")
      }
      throw EstimatorError.invalidModel("\(manifestPath) is missing (not a hierarchical model directory)")
    }
    guard let manifest = try? JSONDecoder().decode(Manifest.self, from: data) else {
      throw EstimatorError.invalidModel("\(manifestPath) is malformed (not a hierarchical model manifest)")
    }
    guard manifest.version <= 1 else {
      throw EstimatorError.invalidModel("\(manifestPath): version \(manifest.version) is newer than this program reads (1)")
    }
    let h = try HierarchicalEstimator(
      global: try PosteriorEstimator.load(from: (path as NSString).appendingPathComponent("global")),
      local: try PosteriorEstimator.load(from: (path as NSString).appendingPathComponent("local")))
    guard manifest.globalDimension == h.globalDimension, manifest.localDimension == h.localDimension,
          manifest.groupDimension == h.groupDimension else {
      throw EstimatorError.invalidModel("\(path): the global and local models do not match the manifest's dimensions")
    }
    h.task = manifest.task
    return h
  }
}

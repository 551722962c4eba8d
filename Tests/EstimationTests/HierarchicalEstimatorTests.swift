import Composition
import Diffusion
import Foundation
import NeuralNet
import NumericCore
import Tasks
import Testing
import TestSupport
import Estimation

/// Hierarchical inference with trained networks on a 1-d global / 1-d local Gaussian hierarchy:
/// μ ~ N(0, τ₀²), m_g | μ ~ N(μ, τ²), y_gi | m_g ~ N(m_g, σ²), i ≤ n. A group's data row is (y_g1 … y_gn).
/// Closed form (ȳ_g | μ ~ N(μ, v), v = τ² + σ²/n): μ | Y ~ N((Σ ȳ_g/v)/P_μ, 1/P_μ), P_μ = 1/τ₀² + G/v;
/// m_g | μ, y_g ~ N((μ/τ² + nȳ_g/σ²)/P, 1/P), P = 1/τ² + n/σ², so marginally
/// m_g | Y ~ N((E[μ|Y]/τ² + nȳ_g/σ²)/P, (1/(τ²P))²/P_μ + 1/P).
@Suite(.serialized) struct HierarchicalEstimatorTests {
  static let (tau0, tau, sigma, n) = (1.0, 0.5, 1.0, 4)

  /// (μ, m, y) rows from the full hierarchical prior, one μ per row.
  static func simulate(rows: Int, seed: UInt64) -> (mu: Matrix, m: Matrix, y: Matrix) {
    var rng = Xoshiro(seed: seed)
    var mu = Matrix(rows: rows, cols: 1), m = Matrix(rows: rows, cols: 1), y = Matrix(rows: rows, cols: n)
    for r in 0..<rows {
      mu[r, 0] = Float(tau0 * rng.nextNormal())
      m[r, 0] = Float(Double(mu[r, 0]) + tau * rng.nextNormal())
      for i in 0..<n { y[r, i] = Float(Double(m[r, 0]) + sigma * rng.nextNormal()) }
    }
    return (mu, m, y)
  }

  static func network(_ input: Int, _ condition: Int) -> TimeMLPConfiguration {
    var net = TimeMLPConfiguration(inputDimension: input, conditionDimension: condition)
    net.widths = [64, 64, 64]
    net.dropout = 0
    return net
  }

  static let configuration: TrainingConfiguration = {
    var cfg = TrainingConfiguration()
    cfg.epochs = 25
    cfg.batchSize = 128
    cfg.learningRate = 1e-3
    cfg.optimizer = .adamW
    return cfg
  }()

  static let hyperprior = GaussianPrior(mean: [0], standardDeviation: [tau0])
  static let training = simulate(rows: 10_000, seed: 21)

  /// Both parts trained once on 10⁴ single-group simulations.
  /// Trained with one thread whatever the machine, so the test sees the same networks everywhere (training is
  /// reproducible for a seed and thread count, and data-parallel shards change the arithmetic). With one thread,
  /// seeds 5, 6 and 7 give global mean errors of 0.21, 0.17 and 0.001 posterior sd; one 2-thread training run
  /// gave 0.78: composing J = 10 groups multiplies a network's per-group bias by 10.
  static let estimator: HierarchicalEstimator = {
    let saved = Threading.count
    Threading.count = 1
    defer { Threading.count = saved }
    let h = try! HierarchicalEstimator(globalDimension: 1, localDimension: 1, groupDimension: n,
                                       globalNetwork: network(1, n), localNetwork: network(1, n + 1), seed: 5)
    try! h.train(global: training.mu, local: training.m, groupData: training.y, configuration: configuration)
    return h
  }()

  /// Ten groups from μ = 0.6.
  static let groups: (y: Matrix, ybar: [Double]) = {
    var rng = Xoshiro(seed: 77)
    var y = Matrix(rows: 10, cols: n)
    for g in 0..<10 {
      let m = 0.6 + tau * rng.nextNormal()
      for i in 0..<n { y[g, i] = Float(m + sigma * rng.nextNormal()) }
    }
    return (y, (0..<10).map { g in (0..<n).reduce(0.0) { $0 + Double(y[g, $1]) } / Double(n) })
  }()

  static func closedForm(_ ybar: [Double]) -> (meanMu: Double, varMu: Double, local: [(mean: Double, variance: Double)]) {
    let v = tau * tau + sigma * sigma / Double(n)
    let pMu = 1 / (tau0 * tau0) + Double(ybar.count) / v
    let meanMu = ybar.reduce(0, +) / v / pMu
    let p = 1 / (tau * tau) + Double(n) / (sigma * sigma)
    let shrink = 1 / (tau * tau * p)
    let local = ybar.map { yb in
      ((meanMu / (tau * tau) + Double(n) * yb / (sigma * sigma)) / p, shrink * shrink / pMu + 1 / p)
    }
    return (meanMu, 1 / pMu, local)
  }

  /// Worst |mean error|/sd and worst relative sd error of the local draws (per group, transformed by `f`).
  static func localErrors(_ r: HierarchicalPosteriorSamples, _ truth: [(mean: Double, variance: Double)],
                          _ f: (Float) -> Float = { $0 }) -> (mean: Double, std: Double) {
    var worstMean = 0.0, worstStd = 0.0
    for (j, t) in truth.enumerated() {
      var s = r.local(group: j)
      for i in 0..<s.rows { s[i, 0] = f(s[i, 0]) }
      let (m, v) = s.columnMeanVariance()
      worstMean = max(worstMean, abs(m[0] - t.mean) / t.variance.squareRoot())
      worstStd = max(worstStd, abs((v[0] / t.variance).squareRoot() - 1))
    }
    return (worstMean, worstStd)
  }

  /// Composed global posterior (direct rule + Langevin refinement) and ancestral local draws of all 10 groups
  /// against the closed form (posterior sd of μ 0.21, of each m_g 0.37).
  @Test func composedGlobalAndAncestralLocalsMatchClosedForm() throws {
    let truth = Self.closedForm(Self.groups.ybar)
    let inference = InferenceOptions(composition: CompositionOptions(method: .direct), refinementSteps: 100)
    let r = try Self.estimator.sample(
      groupData: Self.groups.y, count: 800, hyperprior: Self.hyperprior, inference: inference,
      sampler: .eulerMaruyama, options: SamplerOptions(steps: .fixed(120)), localSampler: .heun,
      localOptions: SamplerOptions(steps: .fixed(30)), seed: 3)
    #expect(r.global.rows == 800 && r.local.rows == 8000 && r.nonFiniteRows == 0)
    let (m, v) = r.global.columnMeanVariance()
    let globalMean = abs(m[0] - truth.meanMu) / truth.varMu.squareRoot()
    let globalStd = abs((v[0] / truth.varMu).squareRoot() - 1)
    let local = Self.localErrors(r, truth.local)
    print("hierarchical trained: global mean error \(globalMean) sd, sd error \(globalStd); local worst mean error \(local.mean) sd, worst sd error \(local.std)")
    #expect(globalMean < 0.3 && globalStd < 0.25)
    #expect(local.mean < 0.3 && local.std < 0.25)
  }

  /// A positive local parameter e^{m_g} with a log constraint transform: the local draws come back on the
  /// constrained scale and their logarithm matches the closed form of m_g.
  @Test func constrainedLocalParameterMapsBack() throws {
    let positive = try PosteriorEstimator(parameterDimension: 1, conditionDimension: Self.n + 1,
                                          network: Self.network(1, Self.n + 1), constraints: [.positive], seed: 8)
    let h = try HierarchicalEstimator(global: Self.estimator.global, local: positive)
    var theta = Self.training.m
    for i in 0..<theta.rows { theta[i, 0] = Foundation.exp(theta[i, 0]) }
    try h.local.train(
      .simulations(parameters: theta, data: try h.localConditions(groupData: Self.training.y, global: Self.training.mu)),
      configuration: Self.configuration)
    // Exact global draws isolate the local part: η^(s) ~ N(E[μ|Y], Var[μ|Y]).
    let truth = Self.closedForm(Self.groups.ybar)
    var rng = Xoshiro(seed: 4)
    var eta = Matrix(rows: 800, cols: 1)
    for s in 0..<800 { eta[s, 0] = Float(truth.meanMu + truth.varMu.squareRoot() * rng.nextNormal()) }
    let local = try h.sampleLocal(groupData: Self.groups.y, global: eta, sampler: .heun,
                                  options: SamplerOptions(steps: .fixed(30)), seed: 9)
    #expect(local.rows == 8000 && (0..<local.rows).allSatisfy { local[$0, 0] > 0 })
    let r = HierarchicalPosteriorSamples(global: eta, local: local, groups: 10, globalSteps: 0, nonFiniteRows: 0,
                                         seconds: 0)
    let e = Self.localErrors(r, truth.local) { Foundation.log($0) }
    print("hierarchical trained, positive local parameter: worst mean error \(e.mean) sd, worst sd error \(e.std)")
    #expect(e.mean < 0.3 && e.std < 0.25)
  }

  @Test func saveLoadRoundTripAndShapeErrors() throws {
    let dir = temporaryDirectory("hier")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.estimator.save(to: dir)
    let loaded = try HierarchicalEstimator.load(from: dir)
    let y = Self.groups.y.rows(0..<3)
    let inference = InferenceOptions(composition: CompositionOptions(method: .direct))
    let options = SamplerOptions(steps: .fixed(20))
    let a = try Self.estimator.sample(groupData: y, count: 50, hyperprior: Self.hyperprior, inference: inference,
                                      sampler: .heun, options: options, localSampler: .heun, localOptions: options,
                                      seed: 2)
    let b = try loaded.sample(groupData: y, count: 50, hyperprior: Self.hyperprior, inference: inference,
                              sampler: .heun, options: options, localSampler: .heun, localOptions: options, seed: 2)
    #expect(a.global.storage == b.global.storage && a.local.storage == b.local.storage)
    #expect(throws: EstimatorError.self) { _ = try HierarchicalEstimator.load(from: dir + "/global") }

    let g = try PosteriorEstimator(parameterDimension: 2, conditionDimension: 3)
    #expect(throws: EstimatorError.self) {
      _ = try HierarchicalEstimator(global: g, local: try PosteriorEstimator(parameterDimension: 1, conditionDimension: 3))
    }
    let h = try HierarchicalEstimator(global: g, local: try PosteriorEstimator(parameterDimension: 1, conditionDimension: 5))
    #expect(throws: EstimatorError.self) {
      _ = try h.sample(groupData: Matrix(rows: 2, cols: 4), count: 5, hyperprior: GaussianPrior(mean: [0, 0], standardDeviation: [1, 1]))
    }
    #expect(throws: EstimatorError.self) {
      _ = try h.sample(groupData: Matrix(rows: 2, cols: 3), count: 5, hyperprior: Self.hyperprior)
    }
    #expect(throws: EstimatorError.self) {
      _ = try h.sampleLocal(groupData: Matrix(rows: 2, cols: 3), global: Matrix(rows: 4, cols: 1))
    }
    #expect(throws: EstimatorError.self) {
      try h.train(global: Matrix(rows: 4, cols: 2), local: Matrix(rows: 3, cols: 1), groupData: Matrix(rows: 4, cols: 3),
                  configuration: TrainingConfiguration())
    }
    let consistency = try PosteriorEstimator(parameterDimension: 2, conditionDimension: 3,
                                             settings: EstimatorSettings(method: .consistency))
    #expect(throws: EstimatorError.self) {
      _ = try HierarchicalEstimator(global: consistency, local: try PosteriorEstimator(parameterDimension: 1, conditionDimension: 5))
    }
  }
}

/// The hierarchical model directory: the manifest's task survives a round trip, manifests written before it had a
/// format and task still load, and a directory of the other kind is refused with `EstimatorError.wrongModelKind`.
@Suite struct HierarchicalModelFileTests {
  @Test func manifestRoundTripOldManifestsAndWrongKinds() throws {
    let h = try HierarchicalEstimator(globalDimension: 1, localDimension: 2, groupDimension: 3,
                                      globalNetwork: HierarchicalEstimatorTests.network(1, 3),
                                      localNetwork: HierarchicalEstimatorTests.network(2, 4))
    h.task = "hierarchical_gaussian"
    let dir = temporaryDirectory("hier-file")
    try h.save(to: dir)
    let manifest = (dir as NSString).appendingPathComponent("hierarchical.json")
    let text = try String(contentsOfFile: manifest, encoding: .utf8)
    #expect(text.contains("diffsbi-hierarchical"))
    #expect(try HierarchicalEstimator.load(from: dir).task == "hierarchical_gaussian")
    // The manifest of earlier versions: the version and the three dimensions only.
    try #"{"groupDimension": 3, "globalDimension": 1, "localDimension": 2, "version": 1}"#
      .write(toFile: manifest, atomically: true, encoding: .utf8)
    let old = try HierarchicalEstimator.load(from: dir)
    #expect(old.task == nil && old.localDimension == 2)
    #expect(throws: EstimatorError.self) { try PosteriorEstimator.load(from: dir) }
    do { _ = try PosteriorEstimator.load(from: dir) } catch let e as EstimatorError {
      guard case .wrongModelKind = e else { Issue.record("expected wrongModelKind, got \(e)"); return }
    }
    do { _ = try HierarchicalEstimator.load(from: (dir as NSString).appendingPathComponent("global")) }
    catch let e as EstimatorError {
      guard case .wrongModelKind = e else { Issue.record("expected wrongModelKind, got \(e)"); return }
    }
  }

  /// The two-level tasks: single-group rows each with their own η, data sets whose groups share one η, the
  /// shapes of the registry's tasks, and the stored hyperprior specification reading back to the same prior.
  @Test func twoLevelTasks() throws {
    for name in TaskRegistry.hierarchicalNames {
      let t = try TaskRegistry.hierarchicalTask(named: name)
      let rows = t.sampleSingleGroups(count: 64, seed: 1)
      #expect(rows.global.rows == 64 && rows.global.cols == t.globalDimension)
      #expect(rows.local.cols == t.localDimension && rows.data.cols == t.groupDataDimension && rows.data.allFinite)
      #expect(rows.global.row(0) != rows.global.row(1))
      let set = t.sampleDataSet(groups: 5, seed: 2)
      #expect(set.global.rows == 1 && set.local.rows == 5 && set.data.rows == 5)
      let back = try PriorSpecification.parse(Data(PriorSpecification.json(t.hyperprior).utf8)) as! GaussianPrior
      #expect(back.meanVector == t.hyperprior.meanVector)
      #expect(zip(back.covariance.values, t.hyperprior.covariance.values).allSatisfy { abs($0 - $1) < 1e-12 })
    }
    #expect(throws: TaskError.self) { try TaskRegistry.hierarchicalTask(named: "three_level") }
  }
}

// Two-level simulation tasks in the form the hierarchical estimator trains on (Documentation/Methods.md §8.5,
// Sources/Estimation/HierarchicalEstimator.swift): global parameters η ~ p(η) (the hyperprior), local parameters
// θ_j ~ p(θ | η) of group j, and group data y_j ~ p(y | θ_j, η), groups independent given η.

import Foundation
import NumericCore

/// A two-level model: a hyperprior over the global parameters η, a conditional prior of one group's local
/// parameters θ_j given η, and a simulator of one group's data y_j given (η, θ_j).
public protocol HierarchicalTask: Sendable {
  /// Registry name, e.g. `hierarchical_drift_diffusion`.
  var name: String { get }
  /// d_η.
  var globalDimension: Int { get }
  /// d_θ.
  var localDimension: Int { get }
  /// The shape of one group's data: `[d]` flat, or `[N, D]` for a set of N items (trials) with D features.
  var groupDataShape: [Int] { get }
  /// The hyperprior p(η).
  var hyperprior: GaussianPrior { get }
  /// One draw θ ~ p(θ | η_r) per row r of `global` [n, d_η] → [n, d_θ].
  func sampleLocal(global: Matrix, seed: UInt64) -> Matrix
  /// One group's data per row of `global` [n, d_η] and `local` [n, d_θ] → [n, d_y] (items one after another).
  func simulateGroups(global: Matrix, local: Matrix, seed: UInt64) -> Matrix
}

extension HierarchicalTask {
  /// d_y, the values of one group's data.
  public var groupDataDimension: Int { groupDataShape.reduce(1, *) }

  /// `count` single-group simulations from the full hierarchical prior, each row with its own η:
  /// η_i ~ p(η), θ_i ~ p(θ | η_i), y_i ~ p(y | θ_i, η_i) — the training rows of both hierarchical networks.
  public func sampleSingleGroups(count: Int, seed: UInt64) -> (global: Matrix, local: Matrix, data: Matrix) {
    var streams = Xoshiro(seed: seed, stream: 0x6869_6572_6172)
    let eta = hyperprior.sample(count: count, seed: streams.next())
    let theta = sampleLocal(global: eta, seed: streams.next())
    return (eta, theta, simulateGroups(global: eta, local: theta, seed: streams.next()))
  }

  /// One data set of `groups` groups sharing one η ~ p(η): η [1, d_η], the groups' θ_j [J, d_θ] and data
  /// [J, d_y].
  public func sampleDataSet(groups: Int, seed: UInt64) -> (global: Matrix, local: Matrix, data: Matrix) {
    var streams = Xoshiro(seed: seed, stream: 0x6772_6F75_7073)
    let eta = hyperprior.sample(count: 1, seed: streams.next())
    let shared = eta.gatherRows([Int](repeating: 0, count: groups))
    let theta = sampleLocal(global: shared, seed: streams.next())
    return (eta, theta, simulateGroups(global: shared, local: theta, seed: streams.next()))
  }
}

/// The hierarchical Gaussian of `HierarchicalGaussianTask` in two-level form: global mean μ ~ N(0, τ₀²), group
/// mean m_j ~ N(μ, τ²), group data y_ji ~ N(m_j, σ²), i = 1…n. η = μ (d_η = 1), θ_j = m_j (d_θ = 1), y_j has n
/// values. J groups observed together are `HierarchicalGaussianTask(groups: J)`, whose closed-form posterior
/// over (μ, m_1…m_J) is the reference.
public struct HierarchicalGaussianGroups: HierarchicalTask {
  public let name = "hierarchical_gaussian"
  public let observationsPerGroup: Int
  public let globalScale: Double
  public let groupScale: Double
  public let noiseScale: Double
  public let globalDimension = 1
  public let localDimension = 1
  public var groupDataShape: [Int] { [observationsPerGroup] }
  public var hyperprior: GaussianPrior { GaussianPrior(mean: [0], standardDeviation: [globalScale]) }

  public init(observationsPerGroup: Int = 10, globalScale: Double = 1, groupScale: Double = 0.5, noiseScale: Double = 1) {
    self.observationsPerGroup = observationsPerGroup
    self.globalScale = globalScale
    self.groupScale = groupScale
    self.noiseScale = noiseScale
  }

  public func sampleLocal(global: Matrix, seed: UInt64) -> Matrix {
    blockedRowMap(rows: global.rows, outputColumns: 1, seed: seed) { rng, r, out in
      out[0] = Float(Double(global[r, 0]) + groupScale * rng.nextNormal())
    }
  }

  public func simulateGroups(global: Matrix, local: Matrix, seed: UInt64) -> Matrix {
    blockedRowMap(rows: local.rows, outputColumns: observationsPerGroup, seed: seed) { rng, r, out in
      let m = Double(local[r, 0])
      for i in 0..<observationsPerGroup { out[i] = Float(m + noiseScale * rng.nextNormal()) }
    }
  }

  /// The flat task of J groups observed together (its `posterior(observation:)` is exact).
  public func jointTask(groups: Int) -> HierarchicalGaussianTask {
    HierarchicalGaussianTask(groups: groups, observationsPerGroup: observationsPerGroup, globalScale: globalScale,
                             groupScale: groupScale, noiseScale: noiseScale)
  }
}

/// The hierarchical drift-diffusion model of case study 4 (`HierarchicalDriftDiffusion`) in two-level form:
/// η = (μ_ν, μ_logα, μ_logt₀, log σ_ν, log σ_logα, log σ_logt₀, β_raw) (d_η = 7), a subject's θ_j = (ν, log α,
/// log t₀) (d_θ = 3), and y_j the subject's trials as a set of `trials` items (choice, rt), shape [trials, 2].
public struct HierarchicalDriftDiffusionTask: HierarchicalTask {
  public let name = "hierarchical_drift_diffusion"
  public let model: HierarchicalDriftDiffusion
  public let globalDimension = 7
  public let localDimension = 3
  public var groupDataShape: [Int] { [model.trials, 2] }
  public var hyperprior: GaussianPrior { model.globalPrior }

  public init(trials: Int = 30) { model = HierarchicalDriftDiffusion(trials: trials) }

  public func sampleLocal(global: Matrix, seed: UInt64) -> Matrix {
    blockedRowMap(rows: global.rows, outputColumns: 3, seed: seed) { rng, r, out in
      for k in 0..<3 {
        out[k] = Float(Double(global[r, k]) + Foundation.exp(Double(global[r, 3 + k])) * rng.nextNormal())
      }
    }
  }

  /// Each row's trials from the flat drift-diffusion simulator with (ν, log α, log t₀) of the row and its β_raw.
  public func simulateGroups(global: Matrix, local: Matrix, seed: UInt64) -> Matrix {
    var parameters = Matrix(rows: local.rows, cols: 4)
    for r in 0..<local.rows {
      for k in 0..<3 { parameters[r, k] = local[r, k] }
      parameters[r, 3] = global[r, 6]
    }
    return DriftDiffusionTask(trials: model.trials).simulate(parameters, seed: seed)
  }
}

extension TaskRegistry {
  /// The two-level tasks of `diffsbi train/sample/simulate --hierarchical` (Sources/Tasks/HierarchicalTasks.swift).
  public static let hierarchicalNames = ["hierarchical_gaussian", "hierarchical_drift_diffusion"]

  /// The two-level task called `name`.
  public static func hierarchicalTask(named name: String) throws(TaskError) -> any HierarchicalTask {
    switch name {
    case "hierarchical_gaussian": return HierarchicalGaussianGroups()
    case "hierarchical_drift_diffusion": return HierarchicalDriftDiffusionTask()
    default: throw .unknownTask(name)
    }
  }
}

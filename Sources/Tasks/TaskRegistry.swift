// The registry of built-in tasks, and the sbibm observations and reference posteriors of each.

import FileFormats
import Foundation
import NumericCore

/// Looks tasks up by name.
public enum TaskRegistry {
  /// The 10 sbibm benchmark tasks, in sbibm's order of the paper's figure.
  public static let sbibmNames = [
    "gaussian_linear", "gaussian_linear_uniform", "slcp", "slcp_distractors", "bernoulli_glm", "bernoulli_glm_raw",
    "gaussian_mixture", "two_moons", "sir", "lotka_volterra",
  ]
  /// The review's other tasks.
  public static let otherNames = [
    "inverse_kinematics", "gaussian_linear_50", "gaussian_linear_100", "hierarchical_gaussian", "drift_diffusion",
  ]
  /// Every registered name.
  public static let names = sbibmNames + otherNames

  /// The task called `name`. slcp_distractors and the Bernoulli GLM tasks read assets from the sbibm data directory.
  public static func task(named name: String) throws(TaskError) -> any SimulationTask {
    switch name {
    case "gaussian_linear": return GaussianLinearTask()
    case "gaussian_linear_uniform": return GaussianLinearUniformTask()
    case "slcp": return SLCPTask()
    case "slcp_distractors": return try SLCPTask.withDistractors()
    case "bernoulli_glm": return try BernoulliGLMTask(raw: false)
    case "bernoulli_glm_raw": return try BernoulliGLMTask(raw: true)
    case "gaussian_mixture": return GaussianMixtureTask()
    case "two_moons": return TwoMoonsTask()
    case "sir": return SIRTask()
    case "lotka_volterra": return LotkaVolterraTask()
    case "inverse_kinematics": return InverseKinematicsTask()
    case "gaussian_linear_50": return GaussianLinearTask(dimension: 50)
    case "gaussian_linear_100": return GaussianLinearTask(dimension: 100)
    case "hierarchical_gaussian": return HierarchicalGaussianTask()
    case "drift_diffusion": return DriftDiffusionTask()
    default: throw .unknownTask(name)
    }
  }

  /// All registered tasks.
  public static func all() throws(TaskError) -> [any SimulationTask] {
    var out: [any SimulationTask] = []
    for n in names { out.append(try task(named: n)) }
    return out
  }
}

extension SimulationTask {
  /// Number of sbibm observations available (5 in the shared data; 0 for tasks without sbibm data).
  public var observationCount: Int { sbibmDataName == nil ? 0 : 5 }

  func dataFolder(_ k: Int) throws(TaskError) -> URL {
    guard let dataName = sbibmDataName else { throw .noReferenceData(task: name) }
    guard k >= 1 && k <= observationCount else { throw .observationOutOfRange(k, available: observationCount) }
    return try SBIBMData.observationDirectory(task: dataName, observation: k)
  }

  /// The observed data x_o of sbibm observation `k` (1-based).
  public func observation(_ k: Int) throws(TaskError) -> [Float] {
    let url = try dataFolder(k).appendingPathComponent("observation.csv")
    let rows = try SBIBMData.readNumericCSV(url)
    guard rows.count == 1, rows[0].count == dataDimension else {
      throw .badDataFile(path: url.path, reason: "expected one row of \(dataDimension) values")
    }
    return rows[0].map { Float($0) }
  }

  /// The parameters that generated observation `k`.
  public func trueParameters(_ k: Int) throws(TaskError) -> [Float] {
    let url = try dataFolder(k).appendingPathComponent("true_parameters.csv")
    let rows = try SBIBMData.readNumericCSV(url)
    guard rows.count == 1, rows[0].count == parameterDimension else {
      throw .badDataFile(path: url.path, reason: "expected one row of \(parameterDimension) values")
    }
    return rows[0].map { Float($0) }
  }

  /// sbibm's 10,000 reference posterior samples for observation `k`, [10000, d_θ].
  public func referencePosteriorSamples(_ k: Int) throws(TaskError) -> Matrix {
    let url = try dataFolder(k).appendingPathComponent("reference_posterior_samples.npy")
    let m: Matrix
    do { m = try NPY.readMatrix(url.path) } catch {
      throw .badDataFile(path: url.path, reason: "\(error)")
    }
    guard m.cols == parameterDimension else { throw .dimensionMismatch(expected: parameterDimension, got: m.cols) }
    return m
  }
}

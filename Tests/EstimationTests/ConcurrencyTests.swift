import Foundation
import Testing
import Estimation
import NeuralNet
import NumericCore
import Diffusion
import Tasks

/// Parallel runs give the same bits as serial ones for the same seed.
///
/// `Threading.count` is process-wide and other suites run concurrently (some compare two runs of their own), so
/// these tests keep the window in which it is changed short: small batches, few steps.
@Suite(.serialized) struct ConcurrencyTests {
  static func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
    let saved = Threading.count
    Threading.count = n
    defer { Threading.count = saved }
    return try body()
  }

  static func estimator() throws -> PosteriorEstimator {
    var net = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 2)
    net.widths = [64, 64]
    net.dropout = 0
    return try PosteriorEstimator(parameterDimension: 2, conditionDimension: 2, network: net, seed: 5)
  }

  /// Many observations in one call (three sample batches of two or more 256-row inference tiles; fixed-step SDE
  /// and ODE samplers and an adaptive one): 1 thread vs 2 threads, identical samples.
  @Test(arguments: [SamplerKind.eulerMaruyama, .heun, .twoStepAdaptive])
  func samplingManyObservationsIsIndependentOfThreadCount(kind: SamplerKind) throws {
    let est = try Self.estimator()
    var rng = Xoshiro(seed: 8)
    let obs = rng.normalMatrix(rows: 4, cols: 2)
    let options = kind == .twoStepAdaptive ? SamplerOptions() : SamplerOptions(steps: .fixed(8))
    func run() throws -> [Matrix] {
      try est.sample(observations: obs, count: 300, sampler: kind, options: options, seed: 3, maxBatchRows: 512).samples
    }
    let serial = try Self.withThreads(1, run)
    let parallel = try Self.withThreads(2, run)
    #expect(serial.count == 4 && serial == parallel)
  }

  /// The joint draws of several tasks (vectorized, per-row, ODE): 1 thread vs 2 threads, identical parameters and data.
  @Test func simulatingIsIndependentOfThreadCount() throws {
    for name in ["gaussian_linear", "two_moons", "slcp", "gaussian_mixture", "sir"] {
      let task = try TaskRegistry.task(named: name)
      let serial = Self.withThreads(1) { task.sampleJoint(count: 300, seed: 4) }
      let parallel = Self.withThreads(2) { task.sampleJoint(count: 300, seed: 4) }
      #expect(serial.parameters == parallel.parameters && serial.data == parallel.data, "\(name)")
    }
  }
}

import Diagnostics
import Foundation
import NumericCore
import Tasks
import Testing

/// Our exact posterior samplers against sbibm's stored reference samples: a C2ST near 0.5.
@Suite struct ExactPosteriorC2STTests {
  @Test(arguments: ["gaussian_linear", "gaussian_linear_uniform", "gaussian_mixture", "two_moons"])
  func exactSamplerIsIndistinguishableFromTheReference(name: String) throws {
    let task = try TaskRegistry.task(named: name)
    let n = 1000
    let reference = try task.referencePosteriorSamples(1).rows(0..<n)
    let ours = try #require(task.samplePosterior(observation: try task.observation(1), count: n, seed: 7))
    let r = try c2stDetailed(reference: reference, samples: ours, seed: 1)
    print("exact-posterior C2ST \(name): \(r.accuracy), epochs \(r.epochs)")
    #expect(r.accuracy < 0.57)
  }
}

/// The benchmark-size C2ST (10,000 vs 10,000); opt-in because it takes minutes: DIFFSBI_SLOW_TESTS=1.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["DIFFSBI_SLOW_TESTS"] != nil))
struct FullSizeC2STTests {
  @Test(arguments: ["two_moons", "gaussian_linear"])
  func fullSizeExactPosteriorC2ST(name: String) throws {
    let task = try TaskRegistry.task(named: name)
    let reference = try task.referencePosteriorSamples(1)
    let ours = try #require(task.samplePosterior(observation: try task.observation(1), count: 10_000, seed: 3))
    let start = Date()
    let r = try c2stDetailed(reference: reference, samples: ours, seed: 1)
    print("full-size C2ST \(name): \(r.accuracy), folds \(r.foldAccuracies), epochs \(r.epochs), "
      + "\(Date().timeIntervalSince(start)) s")
    #expect(r.accuracy < 0.53)
  }
}

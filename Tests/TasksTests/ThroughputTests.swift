import Foundation
import NumericCore
import Tasks
import Testing

/// Simulation throughput at benchmark scale; opt-in (DIFFSBI_SLOW_TESTS=1), prints timings, asserts only sanity.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["DIFFSBI_SLOW_TESTS"] != nil))
struct ThroughputTests {
  @Test(arguments: TaskRegistry.names)
  func simulateAtScale(name: String) throws {
    let task = try TaskRegistry.task(named: name)
    // Image tasks: at most about 50 M values (762 fields of 256 × 256).
    let n = name == "drift_diffusion" ? 10_000 : name == "beer2014" ? 1_000 : min(100_000, 50_000_000 / task.dataDimension)
    let start = Date()
    let (_, x) = task.sampleJoint(count: n, seed: 1)
    let seconds = Date().timeIntervalSince(start)
    let nonFinite = (0..<x.rows).filter { i in (0..<x.cols).contains { !x[i, $0].isFinite } }.count
    print("simulate \(name): \(n) in \(String(format: "%.2f", seconds)) s, non-finite rows \(nonFinite)")
    #expect(nonFinite < n / 100)
  }
}

// `diffsbi-bench samplers`: the samplers' own vector work, without a network. Each sampler integrates a batch of
// 10,000 rows × d with a denoiser that costs one pass (x̂ = 0.5 z, written into a new matrix as a network's
// output is), 50 fixed steps (adaptive ones: their default control), one thread, thread CPU clock; reported in
// ns per element per network evaluation, next to one pass of that denoiser and the normal draws alone.
//
//   diffsbi-bench samplers [--dimensions 2,10,100] [--rows 10000]

import ArgumentParser
import DiffusionSBI
import Foundation

struct SamplerBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "samplers", abstract: "ns per element and evaluation of the samplers' own vector work.")
  @Option(help: "Comma-separated parameter dimensions.")
  var dimensions = "2,10,100"
  @Option(help: "Rows per batch.")
  var rows = 10_000

  func run() throws {
    let dims = dimensions.split(separator: ",").compactMap { Int($0) }
    Threading.count = 1
    BLAS.threads = 1
    let schedule = try DiffusionConfiguration().makeSchedule()
    print("Samplers without a network: ns per element per evaluation (\(rows) rows, 50 steps or the adaptive default, one thread, thread CPU clock, median of 3); \(machineDescription())")
    print("| sampler | " + dims.map { "d = \($0)" }.joined(separator: " | ") + " |")
    print("|---|" + dims.map { _ in "---:|" }.joined())
    var rng = Xoshiro(seed: 1)
    var line = "| normal draws alone |"
    for d in dims {
      var buffer = [Float](repeating: 0, count: rows * d)
      let t = buffer.withUnsafeMutableBufferPointer { p in
        medianTime(repeats: 3, inner: 10, clock: threadCPUTime) { rng.fillNormal(p) }
      }
      line += " \(fmt(t / Double(rows * d) * 1e9, 2)) |"
    }
    print(line)
    let denoiser: Denoiser = { z, _ in
      var out = z
      out.scale(by: 0.5)
      return out
    }
    line = "| denoiser pass alone |"
    for d in dims {
      let z = Matrix(rows: rows, cols: d)
      let t = medianTime(repeats: 3, inner: 10, clock: threadCPUTime) { _ = denoiser(z, 0.5) }
      line += " \(fmt(t / Double(rows * d) * 1e9, 2)) |"
    }
    print(line)
    for kind in SamplerKind.allCases where kind != .langevin {
      var options = SamplerOptions()
      if case .fixed = kind.defaultSteps { options.steps = .fixed(50) }
      line = "| \(kind.rawValue) |"
      for d in dims {
        let initial = Matrix(rows: rows, cols: d, repeating: 1)
        var times: [Double] = []
        var evaluations = 1
        for _ in 0..<3 {
          var r = Xoshiro(seed: 2)
          let t0 = threadCPUTime()
          let result = try sample(kind, denoiser: denoiser, initial: initial, schedule: schedule, options: options, rng: &r)
          times.append(threadCPUTime() - t0)
          evaluations = result.evaluations
        }
        let t = times.sorted()[1]
        line += " \(fmt(t / Double(rows * d * evaluations) * 1e9, 2)) |"
      }
      print(line)
    }
  }
}

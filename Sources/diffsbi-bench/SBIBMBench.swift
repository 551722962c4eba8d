// `diffsbi-bench sbibm`: the default diffusion estimator on sbibm tasks, C2ST per observation (BENCHMARKS.md).
//
//   diffsbi-bench sbibm --tasks two_moons,gaussian_linear --simulations 100000 --epochs 30 [--samples 10000]
//                       [--sampler two-step-adaptive] [--observations 1,2,3,4,5] [--threads N]

import DiffusionSBI
import Foundation

func option(_ args: [String], _ name: String) -> String? {
  guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
  return args[i + 1]
}

func runSBIBMBenchmarkCommand(arguments args: [String]) {
  let tasks = (option(args, "--tasks") ?? "two_moons").split(separator: ",").map(String.init)
  let sims = Int(option(args, "--simulations") ?? "100000") ?? 100_000
  let epochs = Int(option(args, "--epochs") ?? "30") ?? 30
  let samples = Int(option(args, "--samples") ?? "10000") ?? 10_000
  let sampler = SamplerKind(rawValue: option(args, "--sampler") ?? "two-step-adaptive") ?? .twoStepAdaptive
  let observations = (option(args, "--observations") ?? "1,2,3,4,5").split(separator: ",").compactMap { Int($0) }
  if let t = option(args, "--threads").flatMap(Int.init) { Threading.count = t }
  print("sbibm benchmark: default diffusion estimator (EDM-VP, F-prediction, EDM weighting), \(sims) offline simulations, \(epochs) epochs, \(samples) samples/observation, sampler \(sampler.rawValue); \(machineDescription()), \(Threading.count) threads")
  print("| task | C2ST per observation | mean C2ST | train s | sample s (mean) | network evaluations (mean) | final loss |")
  print("|---|---|---|---|---|---|---|")
  for name in tasks {
    do {
      let r = try runSBIBMBenchmark(
        task: name, simulations: sims, epochs: epochs, observations: observations, samples: samples,
        sampler: sampler, log: { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) })
      let per = r.c2st.map { String(format: "%.3f", $0) }.joined(separator: ", ")
      let ms = r.sampleSeconds.reduce(0, +) / Double(max(1, r.sampleSeconds.count))
      let me = Double(r.evaluations.reduce(0, +)) / Double(max(1, r.evaluations.count))
      print("| \(name) | \(per) | \(String(format: "%.3f", r.meanC2ST)) | \(fmt(r.trainSeconds)) | \(fmt(ms)) | \(fmt(me, 0)) | \(String(format: "%.4f", r.finalLoss)) |")
      fflush(nil)
    } catch {
      print("| \(name) | error: \(error) | | | | | |")
    }
  }
}

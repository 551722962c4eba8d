// `diffsbi-bench sbibm`: an estimator (diffusion by default) on sbibm tasks, C2ST per observation (BENCHMARKS.md).
//
//   diffsbi-bench sbibm --tasks two_moons,gaussian_linear --simulations 100000 --epochs 30 [--samples 10000]
//                       [--method diffusion | flow-matching | consistency | stable-consistency]
//                       [--time-power α] [--coupling independent | sinkhorn | conditional | exact | exact-conditional]
//                       [--condition-ratio r] [--partial-factor s] [--tangent-warmup K]
//                       [--learning-rate 5e-4] [--dropout 0.05]
//                       [--sampler KIND] [--widths 256,256,...] [--batch-size B] [--observations 1,2,3,4,5] [--threads N]
//
// The sampler defaults to the method's own: two-step-adaptive (diffusion), tsit5 (flow matching); consistency
// models always use their multistep samplers.

import DiffusionSBI
import Foundation

func option(_ args: [String], _ name: String) -> String? {
  guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
  return args[i + 1]
}

func fail(_ message: String) -> Never {
  FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
  exit(2)
}

/// The estimator settings selected by the method options of `sbibm` and `highdim`.
struct MethodOptions {
  var method: EstimatorMethod = .diffusion
  var timePower: Double?
  var coupling = "independent"
  var conditionRatio: Double?
  var partialFactor: Double?
  var tangentWarmup = 0
  /// Overrides of the peak learning rate (5e-4) and the TimeMLP dropout (0.05).
  var learningRate: Float?
  var dropout: Float?

  init(_ args: [String]) {
    if let m = option(args, "--method") {
      guard let v = EstimatorMethod(rawValue: m) else { fail("--method: unknown method '\(m)'") }
      method = v
    }
    timePower = option(args, "--time-power").map { Double($0) ?? .nan }
    coupling = option(args, "--coupling") ?? coupling
    conditionRatio = option(args, "--condition-ratio").map { Double($0) ?? .nan }
    partialFactor = option(args, "--partial-factor").map { Double($0) ?? .nan }
    tangentWarmup = option(args, "--tangent-warmup").flatMap(Int.init) ?? 0
    if let v = option(args, "--learning-rate") {
      guard let r = Float(v), r > 0 else { fail("--learning-rate: expected a positive number, got '\(v)'") }
      learningRate = r
    }
    if let v = option(args, "--dropout") {
      guard let r = Float(v), (0..<1).contains(r) else { fail("--dropout: expected a number in [0, 1), got '\(v)'") }
      dropout = r
    }
  }

  /// The mini-batch OT options of `--coupling` (nil: independent coupling).
  func couplingOptions() -> OptimalTransportOptions? {
    var o: OptimalTransportOptions
    switch coupling {
    case "independent": return nil
    case "sinkhorn": o = OptimalTransportOptions(conditionRatio: 0.5)
    case "conditional": o = OptimalTransportOptions(conditionRatio: 0.01)
    case "exact": o = OptimalTransportOptions(method: .exact, conditionRatio: 0.5)
    case "exact-conditional": o = OptimalTransportOptions(method: .exact, conditionRatio: 0.01)
    default: fail("--coupling: expected independent, sinkhorn, conditional, exact or exact-conditional, got '\(coupling)'")
    }
    if let r = conditionRatio { o.conditionRatio = r }
    if let s = partialFactor { o.partialFactor = s }
    return o
  }

  var settings: EstimatorSettings {
    var s = EstimatorSettings(method: method)
    switch method {
    case .flowMatching:
      let time: FlowTimeSampling = timePower.map { $0 == 0 ? .uniform : .powerLaw(alpha: $0) } ?? .uniform
      s.flowMatching = FlowMatchingSettings(timeSampling: time, coupling: couplingOptions())
    case .stableConsistency:
      s.stableConsistency = StableConsistencySettings(tangentWarmupSteps: tangentWarmup)
    default: break
    }
    return s
  }

  /// A short label: method and its options.
  var label: String {
    var l = methodLabel
    if let r = learningRate { l += " lr \(r)" }
    if let p = dropout { l += " dropout \(p)" }
    return l
  }

  var methodLabel: String {
    switch method {
    case .flowMatching:
      var l = "flow-matching"
      if let a = timePower, a != 0 { l += " α=\(a)" }
      if coupling != "independent" { l += " +\(coupling) OT" }
      if let r = conditionRatio { l += " ratio \(r)" }
      if let s = partialFactor { l += " partial \(s)" }
      return l
    case .stableConsistency: return tangentWarmup > 0 ? "stable-consistency warm-up \(tangentWarmup)" : "stable-consistency"
    default: return method.rawValue
    }
  }

  /// The method's default sampler (ignored by consistency models).
  var defaultSampler: SamplerKind { method == .flowMatching ? .tsit5 : .twoStepAdaptive }
}

func parseWidths(_ args: [String]) -> [Int]? {
  guard let w = option(args, "--widths") else { return nil }
  let v = w.split(separator: ",").compactMap { Int($0) }
  guard !v.isEmpty, v.allSatisfy({ $0 > 0 }) else { fail("--widths: expected positive integers, got '\(w)'") }
  return v
}

func runSBIBMBenchmarkCommand(arguments args: [String]) {
  let tasks = (option(args, "--tasks") ?? "two_moons").split(separator: ",").map(String.init)
  let sims = Int(option(args, "--simulations") ?? "100000") ?? 100_000
  let epochs = Int(option(args, "--epochs") ?? "30") ?? 30
  let samples = Int(option(args, "--samples") ?? "10000") ?? 10_000
  let batchSize = Int(option(args, "--batch-size") ?? "128") ?? 128
  let methodOptions = MethodOptions(args)
  let settings = methodOptions.settings
  var sampler = methodOptions.defaultSampler
  if let name = option(args, "--sampler") {
    guard let k = SamplerKind(rawValue: name) else { fail("--sampler: unknown sampler '\(name)'") }
    sampler = k
  }
  let widths = parseWidths(args)
  let observations = (option(args, "--observations") ?? "1,2,3,4,5").split(separator: ",").compactMap { Int($0) }
  if let t = option(args, "--threads").flatMap(Int.init) { Threading.count = t }
  print("sbibm benchmark: \(methodOptions.label), \(sims) offline simulations, \(epochs) epochs, batch \(batchSize), widths \(widths ?? [256, 256, 256, 256, 256]), \(samples) samples/observation, sampler \(sampler.rawValue) (consistency models: their own); \(machineDescription()), \(Threading.count) threads")
  print("| task | method | C2ST per observation | mean C2ST | train s | sample s (mean) | network evaluations (mean) | final loss |")
  print("|---|---|---|---|---|---|---|---|")
  for name in tasks {
    do {
      let r = try runSBIBMBenchmark(
        task: name, simulations: sims, epochs: epochs, batchSize: batchSize, observations: observations,
        samples: samples, sampler: sampler, settings: settings, widths: widths,
        learningRate: methodOptions.learningRate, dropout: methodOptions.dropout,
        log: { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) })
      let per = r.c2st.map { String(format: "%.3f", $0) }.joined(separator: ", ")
      let ms = r.sampleSeconds.reduce(0, +) / Double(max(1, r.sampleSeconds.count))
      let me = Double(r.evaluations.reduce(0, +)) / Double(max(1, r.evaluations.count))
      print("| \(name) | \(methodOptions.label) | \(per) | \(String(format: "%.3f", r.meanC2ST)) | \(fmt(r.trainSeconds)) | \(fmt(ms)) | \(fmt(me, 0)) | \(String(format: "%.4f", r.finalLoss)) |")
      fflush(nil)
    } catch {
      print("| \(name) | \(methodOptions.label) | error: \(error) | | | | | |")
    }
  }
}

// `diffsbi-bench hierarchical`: the review's case study 4 (Documentation/Methods.md §8.5, §11.2), trained networks. A
// `HierarchicalEstimator` (global q(η | y_j) and local q(θ_j | y_j, η), TimeMLPs on the raw trials) is trained on
// single-subject simulations of the hierarchical drift-diffusion model; for each number of subjects J, data sets
// are drawn from the full hierarchical prior, the global posterior is composed over the J subjects and every
// subject's local parameters are drawn ancestrally. Reported: NRMSE and calibration error of the 7 global and the 3
// local parameters (averaged over parameters; local metrics pool all subjects of all data sets), solver steps of
// the composed global sampler and seconds.
//
//   diffsbi-bench hierarchical [--subjects 2,10,50,100] [--trials 30] [--datasets 8] [--samples 50]
//       [--simulations 20000] [--epochs 30] [--widths 64,64,64] [--d0 1] [--summary none|deepset|set-transformer]
//       [--threads N]
//
// With --summary, each of the two networks reads its own summary network's output over the subject's trials (the
// local one beside η), trained jointly with it, as in the review's case study.

import DiffusionSBI
import Foundation

func runHierarchicalBenchmark(
  subjects: [Int], trials: Int, datasets: Int, samples: Int, sims: Int, epochs: Int, widths: [Int], d0: Double,
  summary: SummaryArchitecture? = nil, summaryLabel: String = ""
) {
  func log(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }
  do {
    let model = HierarchicalDriftDiffusion(trials: trials)
    let flat = DriftDiffusionTask(trials: trials)
    let start = Date()
    // Single-subject training rows (η, θ, y) from the full hierarchical prior.
    let eta = model.globalPrior.sample(count: sims, seed: 1)
    var rng = Xoshiro(seed: 2)
    var theta = Matrix(rows: sims, cols: 3)
    var flatParameters = Matrix(rows: sims, cols: 4)
    for r in 0..<sims {
      for k in 0..<3 {
        theta[r, k] = Float(Double(eta[r, k]) + exp(Double(eta[r, 3 + k])) * rng.nextNormal())
        flatParameters[r, k] = theta[r, k]
      }
      flatParameters[r, 3] = eta[r, 6]
    }
    let y = flat.simulate(flatParameters, seed: 3)
    let simulationSeconds = Date().timeIntervalSince(start)
    func network(_ input: Int, _ condition: Int) -> TimeMLPConfiguration {
      var net = TimeMLPConfiguration(inputDimension: input, conditionDimension: condition)
      net.widths = widths
      net.dropout = 0
      return net
    }
    let h = try HierarchicalEstimator(globalDimension: 7, localDimension: 3, groupDimension: 2 * trials,
                                      globalNetwork: network(7, 2 * trials), localNetwork: network(3, 2 * trials + 7),
                                      globalSummary: summary, localSummary: summary, seed: 4)
    var cfg = TrainingConfiguration()
    cfg.epochs = epochs
    cfg.batchSize = 128
    cfg.learningRate = 1e-3
    cfg.optimizer = .adamW
    let trainStart = Date()
    try h.train(global: eta, local: theta, groupData: y, configuration: cfg)
    let trainSeconds = Date().timeIntervalSince(trainStart)
    log("simulated \(sims) subjects in \(Int(simulationSeconds)) s, trained both networks in \(Int(trainSeconds)) s")

    let inputs = summary.map { "a \($0.summaryDimension)-wide \(summaryLabel) summary of each subject's trial set" }
      ?? "the raw trial columns"
    print("Hierarchical drift-diffusion (case study 4 shape): \(trials) trials per subject; global and local TimeMLP \(widths) on \(inputs), trained \(epochs) epochs on \(sims) single-subject simulations from the full hierarchical prior (simulation \(Int(simulationSeconds)) s, training \(Int(trainSeconds)) s); direct composition with the exact diffused hyperprior score, all subjects per evaluation, d0 = \(d0), d1 = 1, clip ±3, two-step adaptive (global and local); \(datasets) data sets × \(samples) draws per J; metrics averaged over the 7 global / 3 local parameters, local metrics pooled over all subjects of all data sets.")
    print()
    print("| J | global NRMSE | global calibration error | local NRMSE | local calibration error | global solver steps | seconds |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    let truths = model.globalPrior.sample(count: datasets, seed: 10)
    for j in subjects {
      let cellStart = Date()
      var globalDraws: [Matrix] = [], localDraws: [Matrix] = [], localTruths: [Matrix] = []
      var steps = 0, bad = 0
      for i in 0..<datasets {
        let g = truths.row(i)
        let locals = model.sampleLocal(global: g, subjects: j, seed: 200 + UInt64(i) * 1000 + UInt64(j))
        let data = model.simulate(local: locals, betaRaw: Double(g[6]), seed: 300 + UInt64(i) * 1000 + UInt64(j))
        let inference = InferenceOptions(composition: CompositionOptions(method: .direct, dampingStart: d0))
        let r = try h.sample(groupData: data, count: samples, hyperprior: model.globalPrior, inference: inference,
                             sampler: .twoStepAdaptive, localSampler: .twoStepAdaptive, seed: UInt64(i))
        globalDraws.append(r.global)
        for s in 0..<j { localDraws.append(r.local(group: s)) }
        localTruths.append(locals)
        steps += r.globalSteps
        bad += r.nonFiniteRows
      }
      let globalTargets = Matrix.vstack((0..<datasets).map { truths.rows($0..<($0 + 1)) })
      let localTargets = Matrix.vstack(localTruths)
      let gn = try normalizedRMSE(estimates: globalDraws, targets: globalTargets)
      let gc = try calibrationError(estimates: globalDraws, targets: globalTargets)
      let ln = try normalizedRMSE(estimates: localDraws, targets: localTargets)
      let lc = try calibrationError(estimates: localDraws, targets: localTargets)
      let mean = { (v: [Double]) in v.reduce(0, +) / Double(v.count) }
      print(String(format: "| %d | %.3f | %.3f | %.3f | %.3f | %.0f | %.0f |", j, mean(gn), mean(gc), mean(ln),
                   mean(lc), Double(steps) / Double(datasets), Date().timeIntervalSince(cellStart)))
      log("J = \(j): global NRMSE per parameter \(gn.map { String(format: "%.2f", $0) }), local \(ln.map { String(format: "%.2f", $0) }), non-finite rows \(bad)")
    }
  } catch {
    log("hierarchical benchmark failed: \(error)")
    exit(1)
  }
}

func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(max(v.count, 1)) }


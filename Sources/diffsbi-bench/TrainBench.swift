// `diffsbi-bench train`: training and inference throughput of the default TimeMLP, and FLOP utilization; training
// throughput of the summary networks with the TimeMLP.
//
// Training throughput counts complete optimizer steps (forward with dropout, loss, backward, gradient
// reduction over the data-parallel shards, clipping, Adam update) on pre-generated batches, so simulation
// cost is excluded. FLOP utilization = 6 · parameters · samples/s ÷ the GEMM rate measured in the same run
// with the same thread count (NN sgemm 1024×256·256×256, the shape of one hidden layer at a large batch).
// With `--summaries` the same steps are timed for each summary network (DeepSet, SetTransformer, time-series
// network) trained jointly with the TimeMLP.

import DiffusionSBI
import Foundation

/// Denoising-style objective used for timing: MSE between the network output and fresh Gaussian noise. With a
/// summary network the condition is its summary and the gradient flows back into it (`TrainableModel.embed`).
struct BenchObjective: TrainingObjective {
  func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float {
    let b = batch.count, d = batch.parameters.cols
    let t = (0..<b).map { _ in Float(rng.nextDouble()) }
    let noise = rng.normalMatrix(rows: b, cols: d)
    let condition = model.embed(batch.conditions, training: true, rng: &rng)
    let out = model.network.forward(batch.parameters, time: t, condition: condition, training: true, rng: &rng)
    var diff = out - noise
    let loss = Float(diff.squaredNorm() / Double(diff.count))
    diff.scale(by: 2 / Float(diff.count))
    model.backpropagateCondition(model.network.backward(diff))
    return loss
  }

  func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float { 0 }
}

/// Seconds per `Trainer.step` on `batch`: the steps per timing are calibrated to about `targetSeconds / 5`, and
/// the median of 5 timings is taken.
func stepSeconds(_ trainer: Trainer, _ batch: TrainingBatch, targetSeconds: Double) -> Double {
  let once = medianTime(repeats: 1, clock: benchNow) { trainer.step(batch, learningRate: 1e-4) }
  let steps = max(1, Int(targetSeconds / 5 / once))
  return medianTime(repeats: 5, clock: benchNow) {
    for _ in 0..<steps { trainer.step(batch, learningRate: 1e-4) }
  } / Double(steps)
}

/// GEMM GFLOP/s for C[m×n] = A[m×k]·B[k×n] with the current BLAS thread count.
func gemmGFLOPS(m: Int, n: Int, k: Int) -> Double {
  var rng = Xoshiro(seed: 1)
  let a = rng.normalMatrix(rows: m, cols: k), b = rng.normalMatrix(rows: k, cols: n)
  var c = Matrix(rows: m, cols: n)
  let reps = max(3, Int(2e9 / Double(2 * m * n * k)))
  let s = medianTime(repeats: 7, clock: benchNow) {
    for _ in 0..<reps { Matrix.gemm(a, b, into: &c) }
  }
  return 2 * Double(m * n * k) * Double(reps) / s / 1e9
}

/// Runs the training benchmark and prints Markdown tables: `quick` shortens the timings, `threadClock` times
/// 1-thread runs by the thread's CPU clock (which ignores time the thread spends descheduled on a busy machine),
/// `torchPython` then times the identical networks in PyTorch with Benchmarks/torch_timemlp.py (and
/// Benchmarks/torch_summary.py), same options, and prints the speed ratios. `timeMLP` runs the TimeMLP part
/// (at `batches`); `summaryBatches`, when given, adds the summary-network part at those batches.
func runTrainBenchmark(
  threads: [Int], batches: [Int], quick: Bool, threadClock: Bool, torchPython: String?, timeMLP: Bool = true,
  summaryBatches: [Int]? = nil
) {
  benchUsesThreadClock = threadClock
  let targetSeconds = quick ? 0.4 : 1.5
  if timeMLP {
    timeMLPTrainBenchmark(threads: threads, batches: batches, quick: quick, targetSeconds: targetSeconds,
                          torchPython: torchPython)
  }
  if let summaryBatches {
    if timeMLP { print() }
    summaryTrainBenchmark(threads: threads, batches: summaryBatches, targetSeconds: targetSeconds,
                          torchPython: torchPython)
  }
}

/// The TimeMLP part: training throughput at θ/x = 2/2 and 10/10, inference at batch 10,000.
func timeMLPTrainBenchmark(threads: [Int], batches: [Int], quick: Bool, targetSeconds: Double, torchPython: String?) {
  print("## TimeMLP training benchmark (\(BLAS.backendDescription))\n")
  print("| θ/x | params | threads | GEMM GFLOP/s | batch | train samples/s | step ms | FLOP util. |")
  print("|---|---|---|---|---|---|---|---|")
  var inference: [(String, Int, Double)] = []
  var training: [String: Double] = [:]  // "θ/x threads batch" → samples/s
  let savedThreads = Threading.count
  for (dTheta, dx) in [(2, 2), (10, 10)] {
    let config = TimeMLPConfiguration(inputDimension: dTheta, conditionDimension: dx)
    for th in threads {
      Threading.count = th
      if th > 1 && benchUsesThreadClock { continue }
      let gemm = gemmGFLOPS(m: 1024, n: 256, k: 256)
      for b in batches {
        let net = TimeMLP(configuration: config, seed: 1)
        var cfg = TrainingConfiguration()
        cfg.batchSize = b
        cfg.optimizer = .adamW
        let trainer = Trainer(model: TrainableModel(network: net), objective: BenchObjective(), configuration: cfg)
        var rng = Xoshiro(seed: 2)
        let batch = TrainingBatch(parameters: rng.normalMatrix(rows: b, cols: dTheta), conditions: rng.normalMatrix(rows: b, cols: dx))
        let s = stepSeconds(trainer, batch, targetSeconds: targetSeconds)
        let rate = Double(b) / s
        let util = 6 * Double(net.parameterCount) * rate / (gemm * 1e9)
        training["\(dTheta)/\(dx) \(th) \(b)"] = rate
        print("| \(dTheta)/\(dx) | \(net.parameterCount) | \(th) | \(String(format: "%.1f", gemm)) | \(b) | \(String(format: "%.0f", rate)) | \(String(format: "%.2f", s * 1e3)) | \(String(format: "%.0f%%", util * 100)) |")
      }
      // Inference at batch 10,000.
      let net = TimeMLP(configuration: config, seed: 1)
      var rng = Xoshiro(seed: 3)
      let n = 10_000
      let x = rng.normalMatrix(rows: n, cols: dTheta), c = rng.normalMatrix(rows: n, cols: dx)
      let t = (0..<n).map { _ in Float(rng.nextDouble()) }
      let s = medianTime(repeats: quick ? 3 : 5, clock: benchNow) { _ = net.predict(x, time: t, condition: c) }
      inference.append(("\(dTheta)/\(dx)", th, Double(n) / s))
      _ = gemm
    }
  }
  Threading.count = savedThreads
  print("\n| θ/x | threads | inference samples/s (batch 10,000) |")
  print("|---|---|---|")
  for (name, th, rate) in inference { print("| \(name) | \(th) | \(String(format: "%.0f", rate)) |") }
  if let python = torchPython {
    compareWithTorch(
      python: python, threads: threads, batches: batches, seconds: targetSeconds, training: training,
      inference: Dictionary(inference.map { ("\($0.0) \($0.1)", $0.2) }, uniquingKeysWith: { a, _ in a }))
  }
}

/// Runs Benchmarks/torch_timemlp.py with the same threads, batches, timing length and clock, parses its
/// Markdown rows (`| θ/x | params | threads | batch | train samples/s | inference samples/s |`) and prints
/// Swift ÷ PyTorch for every row measured by both.
func compareWithTorch(
  python: String, threads: [Int], batches: [Int], seconds: Double, training: [String: Double], inference: [String: Double]
) {
  guard let output = runTorchScript(python: python, script: "torch_timemlp.py", threads: threads, batches: batches,
                                     seconds: seconds) else { return }
  print("\n| θ/x | threads | batch | Swift samples/s | PyTorch samples/s | Swift ÷ PyTorch |")
  print("|---|---|---|---|---|---|")
  var inferenceRows: [String] = []
  for line in output.split(separator: "\n") {
    let f = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
    guard f.count == 6, let th = Int(f[2]), let b = Int(f[3]), let torchRate = Double(f[4]), let torchInf = Double(f[5]) else { continue }
    if let swiftRate = training["\(f[0]) \(th) \(b)"] {
      print("| \(f[0]) | \(th) | \(b) | \(fmt(swiftRate, 0)) | \(fmt(torchRate, 0)) | \(String(format: "%.2f", swiftRate / torchRate)) |")
    }
    if let swiftInf = inference["\(f[0]) \(th)"], b == batches.first {
      inferenceRows.append("| \(f[0]) | \(th) | inference 10,000 | \(fmt(swiftInf, 0)) | \(fmt(torchInf, 0)) | \(String(format: "%.2f", swiftInf / torchInf)) |")
    }
  }
  for row in inferenceRows { print(row) }
}

/// The path of Benchmarks/`name` in the package's source tree.
func benchmarkScriptPath(_ name: String) -> String {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Benchmarks/\(name)").path
}

/// Runs Benchmarks/`script` with the same threads, batches, timing length and clock, prints its output and returns
/// it; nil (after saying why) when it cannot run or fails.
func runTorchScript(python: String, script name: String, threads: [Int], batches: [Int], seconds: Double) -> String? {
  runTorchScript(
    python: python, script: name,
    arguments: ["--threads", threads.map(String.init).joined(separator: ","),
                "--batches", batches.map(String.init).joined(separator: ","), "--seconds", "\(seconds)"]
      + (benchUsesThreadClock ? ["--thread-clock"] : []))
}

/// Runs Benchmarks/`script` with `arguments`, prints its output (standard error included) and returns it; nil when
/// it cannot run or fails, after one line saying why that ends with the script's last line (a missing torch: the
/// ImportError).
func runTorchScript(python: String, script name: String, arguments: [String]) -> String? {
  let script = benchmarkScriptPath(name)
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = [python, script] + arguments
  let pipe = Pipe()
  process.standardOutput = pipe
  process.standardError = pipe
  do { try process.run() } catch {
    print("\nPyTorch comparison skipped: cannot run \(python) \(script): \(error)")
    return nil
  }
  let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  process.waitUntilExit()
  guard process.terminationStatus == 0 else {
    let reason = output.split(separator: "\n").last.map { ": " + $0.trimmingCharacters(in: .whitespaces) } ?? ""
    print("\nPyTorch comparison skipped: \(python) \(script) exited with \(process.terminationStatus)\(reason)")
    return nil
  }
  print("\n" + output.trimmingCharacters(in: .whitespacesAndNewlines))
  return output
}

/// θ dimension of the summary-network workloads (as Benchmarks/torch_summary.py).
let summaryBenchThetaDimension = 5

/// The summary-network workloads, with the library's default configurations and summary width 16: name (as
/// Benchmarks/torch_summary.py prints it) and architecture. Sets of 30 items × 2 features are the shape of the
/// drift-diffusion trial sets; the series have 100 steps × 1 feature.
let summaryBenchWorkloads: [(name: String, architecture: SummaryArchitecture)] = [
  ("DeepSet 30×2", .deepSet(DeepSetConfiguration(elementDimension: 2, setSize: 30, summaryDimension: 16))),
  ("SetTransformer 30×2",
   .setTransformer(SetTransformerConfiguration(elementDimension: 2, setSize: 30, summaryDimension: 16))),
  ("TimeSeries 100×1", .timeSeries(TimeSeriesConfiguration(featureDimension: 1, steps: 100, summaryDimension: 16))),
]

/// The summary-network part: complete optimizer steps of each summary network trained jointly with the default
/// TimeMLP (`TrainableModel(network:summary:)`, the summary as the TimeMLP's condition), timed as the TimeMLP
/// part times them, on pre-generated standard-normal θ and raw data without padding.
func summaryTrainBenchmark(threads: [Int], batches: [Int], targetSeconds: Double, torchPython: String?) {
  let dTheta = summaryBenchThetaDimension
  print("## Summary network + TimeMLP training benchmark (\(BLAS.backendDescription))\n")
  print("θ dimension \(dTheta), summary width 16, TimeMLP 5 × 256; library default summary networks.\n")
  print("| network | params (summary + TimeMLP) | threads | batch | Swift samples/s | step ms |")
  print("|---|---|---|---|---|---|")
  var training: [String: Double] = [:]  // "network threads batch" → samples/s
  var params: [String: String] = [:]  // network → "summary + TimeMLP"
  let savedThreads = Threading.count
  for (name, architecture) in summaryBenchWorkloads {
    for th in threads {
      Threading.count = th
      if th > 1 && benchUsesThreadClock { continue }
      for b in batches {
        var rng = Xoshiro(seed: 1)
        let summary = architecture.makeNetwork(rng: &rng)
        let config = TimeMLPConfiguration(inputDimension: dTheta, conditionDimension: summary.outputDimension)
        let net = TimeMLP(configuration: config, rng: &rng)
        var cfg = TrainingConfiguration()
        cfg.batchSize = b
        cfg.optimizer = .adamW
        let model = TrainableModel(network: net, summary: summary)
        let trainer = Trainer(model: model, objective: BenchObjective(), configuration: cfg)
        var data = Xoshiro(seed: 2)
        let batch = TrainingBatch(parameters: data.normalMatrix(rows: b, cols: dTheta),
                                  conditions: data.normalMatrix(rows: b, cols: summary.inputDimension))
        let s = stepSeconds(trainer, batch, targetSeconds: targetSeconds)
        let rate = Double(b) / s
        let count = "\(summary.parameters.count) + \(net.parameterCount)"
        training["\(name) \(th) \(b)"] = rate
        params[name] = count
        print("| \(name) | \(count) | \(th) | \(b) | \(fmt(rate, 0)) | \(String(format: "%.2f", s * 1e3)) |")
      }
    }
  }
  Threading.count = savedThreads
  guard let python = torchPython,
        let output = runTorchScript(python: python, script: "torch_summary.py", threads: threads, batches: batches,
                                    seconds: targetSeconds) else { return }
  // Rows `| network | summary params | TimeMLP params | threads | batch | train samples/s |`.
  var ratios: [String] = [], torchParams: [(String, String)] = []
  for line in output.split(separator: "\n") {
    let f = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
    guard f.count == 6, let sp = Int(f[1]), let tp = Int(f[2]), let th = Int(f[3]), let b = Int(f[4]),
          let torchRate = Double(f[5]) else { continue }
    if !torchParams.contains(where: { $0.0 == f[0] }) { torchParams.append((f[0], "\(sp) + \(tp)")) }
    guard let swiftRate = training["\(f[0]) \(th) \(b)"] else { continue }
    ratios.append("| \(f[0]) | \(th) | \(b) | \(fmt(swiftRate, 0)) | \(fmt(torchRate, 0)) | "
                  + "\(String(format: "%.2f", swiftRate / torchRate)) |")
  }
  print("\n| network | threads | batch | Swift samples/s | PyTorch samples/s | Swift ÷ PyTorch |")
  print("|---|---|---|---|---|---|")
  for row in ratios { print(row) }
  print("\n| network | Swift params (summary + TimeMLP) | PyTorch params (summary + TimeMLP) | equal |")
  print("|---|---|---|---|")
  for (name, count) in torchParams {
    let swift = params[name] ?? "–"
    print("| \(name) | \(swift) | \(count) | \(swift == count ? "yes" : "**no**") |")
  }
}

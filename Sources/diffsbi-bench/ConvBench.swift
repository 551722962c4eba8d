// `diffsbi-bench conv`: forward + backward speed of the convolutional summary network (ResNetSummary) next to the
// GEMM rate measured in the same run.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI

struct ConvBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "conv",
    abstract: "ResNetSummary forward + backward GFLOP/s against the GEMM rate of the same run.")
  @Option(help: "Image side S (images S × S, one channel).")
  var size = 64
  @Option(help: "Batch size.")
  var batch = 32
  @Option(help: "Comma-separated thread counts.")
  var threads = "1,2"
  @Option(help: "Also time the identical network in PyTorch with this Python (Benchmarks/torch_conv.py).")
  var torch: String?

  func run() throws {
    let counts = try parseList(threads, option: "--threads") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
    runConvBenchmark(size: size, batch: batch, threads: counts, torchPython: torch)
  }
}

/// Multiply-add FLOPs of one forward pass of the network's convolutions (2·rows·k²C_in·C_out each) and of its
/// backward pass (weight gradients for every convolution, input gradients for all but the first block's two
/// convolutions that read the data).
func convolutionFLOPs(_ c: ConvolutionalConfiguration, batch: Int) -> (forward: Double, backward: Double) {
  var forward = 0.0, backward = 0.0
  var cin = c.channels, h = c.height, w = c.width
  let k2 = Double(c.kernelSize * c.kernelSize)
  for (l, width) in c.widths.enumerated() {
    let rows = Double(batch * h * w)
    let layers = [2 * rows * k2 * Double(cin * width), 2 * rows * k2 * Double(width * width), 2 * rows * Double(cin * width)]
    forward += layers.reduce(0, +)
    backward += layers.reduce(0, +) + (l == 0 ? layers[1] : layers.reduce(0, +))
    (cin, h, w) = (width, h / 2, w / 2)
  }
  let head = 2 * Double(batch * h * w * cin * c.summaryDimension)
  return (forward + head, backward + 2 * head)
}

/// Times forward + backward of the review's ResNetSummary on S × S images (with several threads, the batch split
/// over replicas as in training) and the single-precision GEMM rate at
/// the patch-matrix shape of its 3 × 3 convolutions and at a square reference shape, for each thread count;
/// `torchPython` then times the identical network in PyTorch (`compareConvWithTorch`).
func runConvBenchmark(size: Int, batch: Int, threads: [Int], torchPython: String? = nil) {
  let config = ConvolutionalConfiguration(height: size, width: size)
  let flops = convolutionFLOPs(config, batch: batch)
  print("## Convolutional summary network: forward + backward (\(BLAS.backendDescription))\n")
  print("ResNetSummary for \(size) × \(size) × 1 images, blocks \(config.widths), summary width \(config.summaryDimension), "
        + "batch \(batch): \(fmt(flops.forward / 1e6, 1)) MFLOP forward, \(fmt(flops.backward / 1e6, 1)) MFLOP backward "
        + "in the convolutions. Median of 7 timed batches; 1 thread: thread CPU clock, 2 threads: wall clock; "
        + "\(machineDescription())\n")
  print("| threads | forward + backward ms | conv GFLOP/s | GEMM GFLOP/s, patch shape | GEMM GFLOP/s, 1024×512·512×512 | conv ÷ patch GEMM | conv ÷ square GEMM |")
  print("|---|---|---|---|---|---|---|")
  let saved = Threading.count
  var milliseconds: [Int: Double] = [:]  // threads → ms per step
  for th in threads {
    Threading.count = th
    var rng = Xoshiro(seed: 1)
    let net = ResNetSummary(configuration: config, rng: &rng)
    let x = rng.normalMatrix(rows: batch, cols: size * size)
    let dy = rng.normalMatrix(rows: batch, cols: config.summaryDimension)
    // Several threads split the batch as the trainer does (Trainer.step): one replica per shard, each on a
    // single-threaded BLAS, then the gradients summed into the first.
    let replicas = UncheckedSendableBox([net] + (1..<max(1, th)).map { _ in net.replica() })
    let ranges = chunkRanges(count: batch, chunks: th)
    let shards = UncheckedSendableBox(ranges.map { (x.rows($0), dy.rows($0)) })
    let step = {
      guard th > 1 else {
        var r = Xoshiro(seed: 2)
        _ = net.forward(x, training: true, rng: &r)
        net.backward(dy)
        return
      }
      let saved = BLAS.threads
      BLAS.threads = 1
      defer { BLAS.threads = saved }
      parallelFor(count: th, chunks: th) { _, range in
        for s in range {
          var r = Xoshiro(seed: 2)
          _ = replicas.value[s].forward(shards.value[s].0, training: true, rng: &r)
          replicas.value[s].backward(shards.value[s].1)
        }
      }
      let first = replicas.value[0].parameters
      for s in 1..<th {
        Kernels.axpy(count: first.count, alpha: 1, x: replicas.value[s].parameters.gradients, y: first.gradients)
      }
    }
    // One thread: the thread CPU clock, robust to other tenants; two threads: wall clock.
    let clock: () -> Double
    if th == 1 { clock = threadCPUTime } else { clock = now }
    let seconds = medianTime(inner: calibrate(step), clock: clock, step)
    milliseconds[th] = seconds * 1e3
    let convRate = (flops.forward + flops.backward) / seconds / 1e9
    // The patch GEMM of the second 3 × 3 convolution of the first block: [B·S², 9·16] · [9·16, 16].
    let patch = gemmRate(m: batch * size * size, k: 9 * 16, n: 16, clock: clock)
    let square = gemmRate(m: 1024, k: 512, n: 512, clock: clock)
    print("| \(th) | \(fmt(seconds * 1e3, 1)) | \(fmt(convRate)) | \(fmt(patch)) | \(fmt(square)) | "
          + "\(fmt(convRate / patch, 2)) | \(fmt(convRate / square, 2)) |")
  }
  Threading.count = saved
  if let python = torchPython {
    compareConvWithTorch(python: python, size: size, batch: batch, threads: threads, milliseconds: milliseconds)
  }
}

/// Runs Benchmarks/torch_conv.py at the same image side, batch and thread counts (same clocks), parses its lines
/// `conv <size> <threads> <batch> <ms per step>` and prints PyTorch's time ÷ ours for each thread count measured by
/// both (above 1: ours is faster).
func compareConvWithTorch(python: String, size: Int, batch: Int, threads: [Int], milliseconds: [Int: Double]) {
  let arguments = ["--size", "\(size)", "--batch", "\(batch)",
                   "--threads", threads.map(String.init).joined(separator: ",")]
  guard let output = runTorchScript(python: python, script: "torch_conv.py", arguments: arguments) else { return }
  print("\n| threads | DiffusionSBI ms | PyTorch ms | speed ratio (PyTorch ms ÷ ours) |")
  print("|---|---|---|---|")
  for line in output.split(separator: "\n") {
    let f = line.split(separator: " ")
    guard f.count == 5, f[0] == "conv", Int(f[1]) == size, let th = Int(f[2]), Int(f[3]) == batch,
          let torchMs = Double(f[4]), let ours = milliseconds[th] else { continue }
    print("| \(th) | \(fmt(ours, 1)) | \(fmt(torchMs, 1)) | \(fmt(torchMs / ours, 2)) |")
  }
}

/// GFLOP/s of row-major C = A·B (A m×k, B k×n) through the system BLAS.
func gemmRate(m: Int, k: Int, n: Int, clock: () -> Double) -> Double {
  var rng = Xoshiro(seed: 3)
  let a = rng.normalMatrix(rows: m, cols: k), b = rng.normalMatrix(rows: k, cols: n)
  var c = [Float](repeating: 0, count: m * n)
  let seconds = a.storage.withUnsafeBufferPointer { pa in
    b.storage.withUnsafeBufferPointer { pb in
      c.withUnsafeMutableBufferPointer { pc in
        let body = {
          BLAS.sgemm(
            transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: k, b: pb.baseAddress!,
            ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
        }
        return medianTime(inner: calibrate(body), clock: clock, body)
      }
    }
  }
  return 2 * Double(m * n * k) / seconds / 1e9
}

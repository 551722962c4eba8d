// diffsbi-bench: performance measurements for BENCHMARKS.md. Not run by CI.
//
//   diffsbi-bench gemm       GEMM GFLOP/s at the network's shapes, 1 and 2 threads, vs raw cblas_sgemm
//   diffsbi-bench kernels    ns/element of the elementwise kernels
//   diffsbi-bench all        everything above

import DiffusionSBI
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
let command = args.first ?? "all"
let rest = Array(args.dropFirst())
switch command {
case "gemm": runGEMMBenchmark(arguments: rest)
case "kernels": runKernelBenchmark(arguments: rest)
case "all":
  runGEMMBenchmark(arguments: rest)
  print()
  runKernelBenchmark(arguments: rest)
default:
  FileHandle.standardError.write("usage: diffsbi-bench [gemm | kernels | all]\n".data(using: .utf8)!)
  exit(2)
}

// diffsbi-bench: performance measurements for BENCHMARKS.md. Not run by CI.
//
//   diffsbi-bench gemm       GEMM GFLOP/s at the network's shapes, 1 and 2 threads, vs raw cblas_sgemm
//   diffsbi-bench kernels    ns/element of the elementwise kernels
//   diffsbi-bench train      TimeMLP training/inference throughput and FLOP utilization
//   diffsbi-bench sbibm      an estimator (any method) on sbibm tasks: C2ST per observation, times, evaluations
//   diffsbi-bench highdim    diffusion, flow matching (± OT) and consistency models on Gaussian linear 50/100
//   diffsbi-bench sweep      trained-model numerical sweep: every schedule × prediction × sampler, non-finite rows
//   diffsbi-bench composition  the review's composition ablation on the Gaussian model (exact scores)
//   diffsbi-bench hierarchical  hierarchical drift-diffusion with trained global/local networks (case study 4)
//   diffsbi-bench all        gemm, kernels and train

import DiffusionSBI
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
let command = args.first ?? "all"
let rest = Array(args.dropFirst())
switch command {
case "gemm": runGEMMBenchmark(arguments: rest)
case "kernels": runKernelBenchmark(arguments: rest)
case "train": runTrainBenchmark(arguments: rest)
case "sbibm": runSBIBMBenchmarkCommand(arguments: rest)
case "highdim": runHighDimBenchmark(arguments: rest)
case "sweep": runTrainedSweep(arguments: rest)
case "composition": runCompositionAblation(arguments: rest)
case "ddm-ablation": runDriftDiffusionAblation(arguments: rest)
case "coupling": runCouplingTiming(arguments: rest)
case "hierarchical": runHierarchicalBenchmark(arguments: rest)
case "checkpoint-probe": runCheckpointProbe(arguments: rest)  // hidden: crash-safety test
case "all":
  runGEMMBenchmark(arguments: rest)
  print()
  runKernelBenchmark(arguments: rest)
  print()
  runTrainBenchmark(arguments: rest)
default:
  FileHandle.standardError.write("usage: diffsbi-bench [gemm | kernels | train | sbibm | highdim | sweep | composition | hierarchical | all]\n".data(using: .utf8)!)
  exit(2)
}

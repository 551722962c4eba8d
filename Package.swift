// swift-tools-version: 6.0
// DiffusionSBI: amortized simulation-based inference with diffusion models.
//
// Layering (dependencies point downward only):
//   COpenBLAS (Linux) / Accelerate (Apple), CZlib (system zlib)
//   NumericCore        Matrix, BLAS shim, SIMD kernels, special functions, RNG and distributions
//   FileFormats        .npy / .npz / CSV / safetensors readers and writers, atomic writes
//   NeuralNet          layers with hand-written backward passes, TimeMLP, summary nets, optimizers, training
//   Plotting           self-contained SVG plots
//   Tasks              sbibm benchmark tasks and the review's case-study simulators
//   Diffusion          schedules, parameterizations, samplers, the diffusion posterior estimator
//   FlowMatching       flow matching and optimal-transport couplings
//   Consistency        consistency models (discrete CT and continuous sCM)
//   Composition        compositional inference, guidance, prior adaptation
//   Diagnostics        C2ST, SBC, calibration metrics
//   Estimation         the posterior estimator: network + objective + training + sampling + model files, the
//                      benchmark runner
//   DiffusionSBI       umbrella re-export
//   CommandLineOptions option groups shared by the two executables
//   diffsbi            the command-line tool
//   diffsbi-bench      benchmarks (never run by CI)
//
// No unsafeFlags here, so that other packages can depend on this one by version; speed flags are passed on
// the command line (see the Makefile).
import PackageDescription

let package = Package(
  name: "DiffusionSBI",
  platforms: [.macOS(.v14)],
  products: [
    .library(name: "DiffusionSBI", targets: ["DiffusionSBI"]),
    .executable(name: "diffsbi", targets: ["diffsbi"]),
    .executable(name: "diffsbi-bench", targets: ["diffsbi-bench"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    // MARK: - Implementation details
    .systemLibrary(
      name: "COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    // zlib: in the SDK on Apple platforms (the module map links "z"), zlib1g-dev on Debian/Ubuntu.
    .systemLibrary(
      name: "CZlib", pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]),

    // MARK: - Public API
    .target(
      name: "NumericCore",
      dependencies: [.target(name: "COpenBLAS", condition: .when(platforms: [.linux]))]),
    .target(name: "FileFormats", dependencies: ["NumericCore", "CZlib"]),
    .target(name: "NeuralNet", dependencies: ["NumericCore", "FileFormats"]),
    .target(name: "Plotting", dependencies: ["NumericCore"]),
    .target(name: "Tasks", dependencies: ["NumericCore", "FileFormats"]),
    .target(name: "Diffusion", dependencies: ["NumericCore", "NeuralNet", "FileFormats"]),
    .target(name: "FlowMatching", dependencies: ["NumericCore", "NeuralNet", "Diffusion"]),
    .target(name: "Consistency", dependencies: ["NumericCore", "NeuralNet", "Diffusion"]),
    .target(name: "Composition", dependencies: ["NumericCore", "NeuralNet", "Diffusion", "Tasks"]),
    .target(
      name: "Estimation",
      dependencies: [
        "NumericCore", "FileFormats", "NeuralNet", "Tasks", "Diffusion", "FlowMatching", "Consistency", "Composition",
        "Diagnostics",
      ]),
    .target(name: "Diagnostics", dependencies: ["NumericCore", "NeuralNet"]),
    .target(
      name: "DiffusionSBI",
      dependencies: [
        "NumericCore", "FileFormats", "NeuralNet", "Plotting", "Tasks", "Diffusion", "Diagnostics",
        "FlowMatching", "Consistency", "Composition", "Estimation",
      ]),
    .target(
      name: "CommandLineOptions",
      dependencies: ["DiffusionSBI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    .executableTarget(
      name: "diffsbi",
      dependencies: [
        "DiffusionSBI", "CommandLineOptions", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .executableTarget(
      name: "diffsbi-bench",
      dependencies: [
        "DiffusionSBI", "CommandLineOptions", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .target(name: "COpenBLAS", condition: .when(platforms: [.linux])),
      ]),

    // MARK: - Tests
    .testTarget(name: "NumericCoreTests", dependencies: ["NumericCore"]),
    .testTarget(name: "FileFormatsTests", dependencies: ["FileFormats"]),
    .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"]),
    .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "Tasks"]),
    .testTarget(name: "TasksTests", dependencies: ["Tasks"]),
    .testTarget(name: "DiagnosticsTests", dependencies: ["Diagnostics", "Tasks"]),
    .testTarget(name: "PlottingTests", dependencies: ["Plotting"]),
    .testTarget(name: "FlowMatchingTests", dependencies: ["FlowMatching"]),
    .testTarget(name: "ConsistencyTests", dependencies: ["Consistency"]),
    .testTarget(name: "CompositionTests", dependencies: ["Composition"]),
    .testTarget(
      name: "EstimationTests",
      dependencies: ["Estimation", "Tasks", "Diagnostics", "FlowMatching", "Consistency", "Composition", "Diffusion"]),
    .testTarget(name: "CLITests", dependencies: ["DiffusionSBI"]),
  ]
)

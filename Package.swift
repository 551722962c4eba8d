// swift-tools-version: 6.0
// DiffusionSBI: amortized simulation-based inference with diffusion models.
//
// Layering (dependencies point downward only):
//   COpenBLAS (Linux) / Accelerate (Apple), CZlib (system zlib), CSundials (SUNDIALS CVODE), CFFTW (Linux; vDSP
//   on Apple)
//   CKernels           the hot elementwise passes in C, AVX2+FMA or portable variant chosen at run time
//   NumericCore        Matrix, BLAS shim, SIMD kernels, special functions, RNG and distributions
//   FileFormats        .npy / .npz / CSV / safetensors readers and writers, atomic writes
//   NeuralNet          layers with hand-written backward passes, TimeMLP, summary nets, optimizers, training
//   Plotting           self-contained SVG plots
//   Tasks              sbibm benchmark tasks and the review's case-study simulators (stiff ones through CVODE)
//   Diffusion          schedules, parameterizations, samplers, the diffusion posterior estimator
//   FlowMatching       flow matching and optimal-transport couplings
//   Consistency        consistency models (discrete CT and continuous sCM)
//   Composition        compositional inference, guidance, prior adaptation
//   Diagnostics        C2ST, SBC, calibration metrics
//   ExternalSimulator  users' simulators as worker processes (the .npy pipe protocol), campaigns, online feeding
//   Estimation         the posterior estimator: network + objective + training loop entry + sampling + model
//                      files; task ↔ composition bridges; the benchmark runner (scored with Diagnostics)
//   DiffusionSBI       umbrella re-export (no code of its own)
//   CommandLineOptions option groups shared by the two executables
//   ExitCodes          the command-line tool's exit code for every library error type
//   diffsbi            the command-line tool
//   diffsbi-bench      benchmarks (never run by CI)
//
// No unsafeFlags here, so that other packages can depend on this one by version. No speed flags are needed
// either: the AVX2+FMA kernels are chosen at run time (CKernels), so a plain `swift build -c release` is as fast
// as a build for x86-64-v3 (Documentation/Numerics.md §6).
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
    // SUNDIALS CVODE for stiff ODE simulators: libsundials-dev on Debian/Ubuntu, which ships no pkg-config file
    // (the module map links libsundials_cvode by name; the headers are in the default include path).
    .systemLibrary(
      name: "CSundials",
      providers: [.apt(["libsundials-dev"])]),
    // FFTW 3 in single precision for the Gaussian random field simulator (Linux; Apple platforms use vDSP).
    .systemLibrary(
      name: "CFFTW", pkgConfig: "fftw3f",
      providers: [.apt(["libfftw3-dev"])]),

    // The networks' and the optimizer's elementwise passes in C, each compiled for the baseline target and (x86-64)
    // for AVX2+FMA through function attributes; the variant is picked when the program runs.
    .target(name: "CKernels"),
    // Persistent worker threads for `parallelFor` that spin briefly between loops instead of sleeping.
    .target(name: "CWorkerPool"),

    // MARK: - Public API
    .target(
      name: "NumericCore",
      dependencies: ["CKernels", "CWorkerPool", .target(name: "COpenBLAS", condition: .when(platforms: [.linux]))]),
    .target(name: "FileFormats", dependencies: ["NumericCore", "CZlib"]),
    .target(name: "NeuralNet", dependencies: ["NumericCore", "FileFormats", "CKernels"]),
    .target(name: "Plotting", dependencies: ["NumericCore"]),
    .target(
      name: "Tasks",
      dependencies: [
        "NumericCore", "FileFormats", "CSundials", .target(name: "CFFTW", condition: .when(platforms: [.linux])),
      ]),
    .target(name: "Diffusion", dependencies: ["NumericCore"]),
    .target(name: "FlowMatching", dependencies: ["NumericCore", "Diffusion"]),
    .target(name: "Consistency", dependencies: ["NumericCore", "NeuralNet", "Diffusion"]),
    .target(name: "Composition", dependencies: ["NumericCore", "Diffusion"]),
    .target(name: "Diagnostics", dependencies: ["NumericCore"]),
    .target(name: "ExternalSimulator", dependencies: ["NumericCore", "FileFormats", "NeuralNet", "Tasks"]),
    .target(
      name: "Estimation",
      dependencies: [
        "NumericCore", "FileFormats", "NeuralNet", "Tasks", "Diffusion", "FlowMatching", "Consistency", "Composition",
        "Diagnostics",
      ]),
    .target(
      name: "DiffusionSBI",
      dependencies: [
        "NumericCore", "FileFormats", "NeuralNet", "Plotting", "Tasks", "Diffusion", "Diagnostics",
        "FlowMatching", "Consistency", "Composition", "Estimation", "ExternalSimulator",
      ]),
    // Option groups shared by diffsbi and diffsbi-bench.
    .target(
      name: "CommandLineOptions",
      dependencies: ["DiffusionSBI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    // The command-line tool's exit codes for the library's error types (shared with the CLI tests).
    .target(name: "ExitCodes", dependencies: ["DiffusionSBI"]),
    .executableTarget(
      name: "diffsbi",
      dependencies: [
        "DiffusionSBI", "CommandLineOptions", "ExitCodes",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .executableTarget(
      name: "diffsbi-bench",
      dependencies: [
        "DiffusionSBI", "CommandLineOptions", "ExitCodes",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .target(name: "COpenBLAS", condition: .when(platforms: [.linux])),
      ]),

    // MARK: - Tests
    // Each test target declares exactly the modules it imports.
    // Temporary directories, tool probes (python3 with numpy, executables on PATH), the CLI runner and fixtures.
    .target(name: "TestSupport", dependencies: ["NumericCore"], path: "Tests/TestSupport"),
    .testTarget(name: "NumericCoreTests", dependencies: ["NumericCore"]),
    .testTarget(name: "FileFormatsTests", dependencies: ["FileFormats", "NumericCore", "TestSupport"]),
    .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "NumericCore", "FileFormats", "TestSupport"]),
    .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "NumericCore", "TestSupport"]),
    .testTarget(name: "TasksTests", dependencies: ["Tasks", "NumericCore"]),
    .testTarget(name: "DiagnosticsTests", dependencies: ["Diagnostics", "NumericCore", "Tasks"]),
    .testTarget(name: "PlottingTests", dependencies: ["Plotting", "NumericCore", "TestSupport"]),
    .testTarget(
      name: "FlowMatchingTests", dependencies: ["FlowMatching", "Diffusion", "NeuralNet", "NumericCore", "TestSupport"]),
    .testTarget(name: "ConsistencyTests", dependencies: ["Consistency", "NeuralNet", "NumericCore"]),
    .testTarget(name: "CompositionTests", dependencies: ["Composition", "Diffusion", "NumericCore"]),
    .testTarget(
      name: "EstimationTests",
      dependencies: [
        "Estimation", "Composition", "Consistency", "Diagnostics", "Diffusion", "FlowMatching", "NeuralNet",
        "NumericCore", "Tasks", "TestSupport",
      ]),
    .testTarget(
      name: "ExternalSimulatorTests",
      dependencies: ["ExternalSimulator", "FileFormats", "NeuralNet", "NumericCore", "Tasks", "TestSupport"]),
    .testTarget(name: "CLITests", dependencies: ["DiffusionSBI", "ExitCodes", "TestSupport"]),
  ]
)

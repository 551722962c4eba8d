// `diffsbi sample`: posterior samples for one or many observations.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import ExitCodes
import Foundation

/// Sampler options shared by sample, benchmark and demo.
struct SamplerArguments: ParsableArguments {
  @Option(help: "Sampler: \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: the model's).")
  var sampler: SamplerKind?
  @Option(help: "Fixed number of steps (default: the sampler's own step control).")
  var steps: Int?
  @Option(help: "Error norm of the adaptive samplers (two-step-adaptive, rk45, tsit5): max (the worst row of the batch decides each step) or rms (the root-mean-square over the batch).")
  var errorNorm: AdaptiveErrorNorm?
  @Option(help: "Least number of steps of the adaptive samplers (default: 10 for rk45 and tsit5, 50 for two-step-adaptive).")
  var minSteps: Int?

  func validate() throws {
    if let s = steps, s < 1 { throw ValidationError("--steps must be at least 1") }
    if let m = minSteps, m < 1 { throw ValidationError("--min-steps must be at least 1") }
    for (name, given) in [("--error-norm", errorNorm != nil), ("--min-steps", minSteps != nil)] where given {
      if steps != nil { throw ValidationError("\(name) applies to adaptive steps, not to --steps") }
      if let kind = sampler, case .fixed = kind.defaultSteps {
        throw ValidationError("\(name): \(kind.rawValue) has fixed steps")
      }
    }
  }

  var options: SamplerOptions {
    SamplerOptions(steps: steps.map { .fixed($0) }, errorNorm: errorNorm, minimumSteps: minSteps)
  }
}

/// Loads a model directory holding one estimator (an ensemble is refused with one line); a missing directory or
/// file is bad input naming the path.
func loadModel(_ path: String) throws -> PosteriorEstimator {
  try loadModelDirectory(path) { try PosteriorEstimator.load(from: $0) }
}

/// Loads a model directory holding one estimator or an ensemble (`train --ensemble K`).
func loadEnsemble(_ path: String) throws -> PosteriorEnsemble {
  try loadModelDirectory(path) { try PosteriorEnsemble.load(from: $0) }
}

private func loadModelDirectory<M>(_ path: String, _ load: (String) throws -> M) throws -> M {
  var isDir: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
    throw InputError("\(path): no such model directory")
  }
  guard isDir.boolValue else { throw InputError("\(path): a model is a directory (written by 'diffsbi train')") }
  do { return try load(path) } catch let e as FileFormatError {
    throw e
  } catch let e as UserInputError {
    throw InputError("\(path): \(String(describing: e).split(separator: "\n").first ?? "")")
  } catch {
    throw InputError("\(path): not a valid model directory: \(error)")
  }
}

/// Reads the observations for `estimator`, one data set per row, and refuses non-finite values and wrong shapes,
/// naming the file. Flat models read [R, D] (.npy, .npz, CSV) or [D]. Models with a summary network over items of
/// D features read one data set [N, D] or several [R, N, D] (.npy, or array `x` of an .npz with an optional 0/1
/// `x_mask` [R, N] or [N] marking the present items), or flat rows [R, N·D]; data sets with fewer items than the
/// model's N are padded. Models with a convolutional summary read images (`readImages`).
func readObservations(_ path: String, for estimator: PosteriorEstimator) throws -> Matrix {
  let expected = estimator.conditionDimension
  var obs: Matrix
  if case .convolutional(let c) = estimator.model.summary?.architecture, estimator.model.passthrough == 0,
    fileExtension(path) != "csv"
  {
    obs = try readImages(path, shape: c.inputShape)
  } else if let g = estimator.conditionChannels, estimator.model.passthrough == 0, fileExtension(path) != "csv" {
    obs = try readStructured(path, items: g.items, width: g.width)
  } else {
    obs = try readFlatObservations(path)
  }
  guard obs.rows > 0 else { throw InputError("\(path): no observation rows") }
  guard obs.cols == expected else {
    throw InputError("\(path): observations have \(obs.cols) columns, the model expects \(expected)")
  }
  do { try estimator.checkObservations(obs) } catch let e as EstimatorError {
    throw InputError("\(path): \(e)")
  }
  return obs
}

/// The array of an .npy observation file, or an .npz file's array `x` (else its only array); nil for other files.
private func readObservationArray(_ path: String) throws -> NDArray? {
  switch fileExtension(path) {
  case "npy": return try NPY.read(path)
  case "npz":
    let f = try NPZFile(path: path)
    guard let name = f.names.contains("x") ? "x" : (f.names.count == 1 ? f.names[0] : nil) else {
      throw InputError("\(path): expected an array named x, found \(f.names.joined(separator: ", "))")
    }
    return try f.array(name)
  default: return nil
  }
}

/// Observation rows of a model without a summary network: [R, D] or [D] (.npy; .npz: its array `x`, else its only
/// array; CSV with a header), or data sets [R, N, D] flattened to rows of N·D values (a model trained with
/// `--summary none` on sets or series).
private func readFlatObservations(_ path: String) throws -> Matrix {
  guard let a = try readObservationArray(path) else { return try readMatrix(path) }
  if a.rank == 1 { return Matrix(rows: 1, cols: a.shape[0], storage: a.data) }
  return try SimulationFile.flatRows(a, source: path)
}

/// Image observations for a model reading H × W × C images, as rows of H·W·C values: one image [H, W] (C = 1) or
/// [H, W, C], several [R, H, W] (C = 1) or [R, H, W, C], or flat rows [R, H·W·C] (.npy, or array `x` of an .npz).
private func readImages(_ path: String, shape s: ImageShape) throws -> Matrix {
  guard let a = try readObservationArray(path) else {
    throw InputError("\(path): unsupported file type (use .npy, .npz or .csv)")
  }
  let flat = s.count, one = s.channels == 1
  // The accepted shapes of one image, without and with the leading row axis.
  let image = [[s.height, s.width, s.channels], [flat]] + (one ? [[s.height, s.width]] : [])
  let rows: Int
  if image.contains(a.shape) {
    rows = 1
  } else if a.rank >= 2, image.contains(Array(a.shape.dropFirst())) {
    rows = a.shape[0]
  } else {
    throw InputError(
      "\(path): observations of shape \(a.shape); the model reads images of shape [\(s.height), \(s.width), \(s.channels)] "
        + "([H, W\(one ? "" : ", C")] for one, [R, H, W\(one ? "" : ", C")] for several, or [R, \(flat)])")
  }
  return Matrix(rows: rows, cols: flat, storage: a.data)
}

/// Structured observations (see `readObservations(_:for:)`) as rows of `items × width` values, NaN-padded.
private func readStructured(_ path: String, items: Int, width: Int) throws -> Matrix {
  var a: NDArray, mask: NDArray? = nil
  switch fileExtension(path) {
  case "npy": a = try NPY.read(path)
  case "npz":
    let f = try NPZFile(path: path)
    let data = f.names.filter { $0 != "x_mask" }
    guard let name = data.contains("x") ? "x" : (data.count == 1 ? data[0] : nil) else {
      throw InputError("\(path): expected an array named x (and optionally x_mask), found \(f.names.joined(separator: ", "))")
    }
    a = try f.array(name)
    if f.names.contains("x_mask") { mask = try f.array("x_mask") }
  default: throw InputError("\(path): unsupported file type (use .npy, .npz or .csv)")
  }
  let flat = items * width
  // Normalize to [R, N', D].
  let shape: [Int]
  switch a.rank {
  case 1 where a.shape[0] == flat: shape = [1, items, width]
  case 2 where a.shape[1] == width: shape = [1, a.shape[0], width]
  case 2 where a.shape[1] == flat: shape = [a.shape[0], items, width]
  case 3 where a.shape[2] == width: shape = a.shape
  default:
    throw InputError("\(path): observations of shape \(a.shape); the model reads data sets of shape [\(items), \(width)] "
                     + "([N, \(width)] for one, [R, N, \(width)] for several)")
  }
  let (r, n) = (shape[0], shape[1])
  guard n <= items else {
    throw InputError("\(path): data sets of \(n) items; the model was trained on at most \(items)")
  }
  guard n > 0 else { throw InputError("\(path): data sets without items") }
  var padded = Matrix(rows: r, cols: flat)
  padded.withUnsafeMutableBufferPointer { dst in
    dst.update(repeating: .nan)
    for i in 0..<r {
      for k in 0..<(n * width) { dst[i * flat + k] = a.data[i * n * width + k] }
    }
  }
  if let mask {
    guard mask.shape == [r, n] || (r == 1 && mask.shape == [n]) else {
      throw InputError("\(path): x_mask has shape \(mask.shape), expected [\(r), \(n)]")
    }
    var values = [Float](repeating: 0, count: r * items)
    for i in 0..<r { for k in 0..<n { values[i * items + k] = mask.data[i * n + k] } }
    try applyMask(try NDArray(shape: [r, items], data: values), to: &padded, width: width, source: "\(path)[x_mask]")
  }
  return padded
}

/// Composition settings shared by `diffsbi sample --compose` and `diffsbi diagnose --compose J`.
struct CompositionArguments: ParsableArguments {
  @Option(help: "Composition rule with --compose: auto-gauss (default), gauss, direct, jac (Documentation/Composition.md).")
  var composition: CompositionRule?
  /// The rule in effect: --composition, else auto-gauss (`CompositionOptions`' default).
  var rule: CompositionRule { composition ?? .autoGauss }
  @Option(help: "Observations per score evaluation with --compose (mini-batch M ≤ J; default: all).")
  var minibatch: Int?
  @Option(help: "Damping bridge b(t) = d0 (d1/d0)^t with --compose, as d0 or d0,d1 (default 1,1).")
  var damping: String?
  @Option(help: "Prior score in composition and prior adaptation: exact (diffused) or time-weighted.")
  var priorDiffusion: PriorDiffusion = .exact
  @Option(help: "Langevin refinement moves at a small time after sampling (the direct rule needs them; 0: none).")
  var refine = 0

  func validate() throws {
    if let m = minibatch, m < 1 { throw ValidationError("--minibatch must be at least 1") }
    if refine < 0 { throw ValidationError("--refine must be at least 0") }
    _ = try dampingValues()
  }

  /// (d0, d1) from --damping "d0" or "d0,d1".
  func dampingValues() throws -> (Double, Double) {
    guard let text = damping else { return (1, 1) }
    let v = try parseList(text, option: "--damping") { Double($0) }
    guard v.count <= 2, v.allSatisfy({ $0 > 0 && $0.isFinite }) else {
      throw InputError("--damping: give d0 or d0,d1 with positive values")
    }
    return (v[0], v.count == 2 ? v[1] : 1)
  }

  /// The composition of `j` observation rows.
  func compositionOptions(observations j: Int) throws -> CompositionOptions {
    if let m = minibatch, m > j { throw InputError("--minibatch \(m) exceeds the \(j) observation rows") }
    let (d0, d1) = try dampingValues()
    return CompositionOptions(method: rule.method, miniBatchSize: minibatch, dampingStart: d0, dampingEnd: d1)
  }
}

/// Composition, prior adaptation and guidance options of `diffsbi sample`.
struct InferenceArguments: ParsableArguments {
  @Flag(help: "Compose all observation rows into one posterior p(θ | y_1…y_J) (score composition).")
  var compose = false
  @Flag(help: """
    Sample a hierarchical model (train --hierarchical): the observation rows are J groups; global draws composed \
    over them, each group's local draws ancestrally; --out FILE.npz gets theta_global [N, G] and theta_local \
    [N, J, L]. --prior gives the hyperprior (default: the one stored with the model).
    """)
  var hierarchical = false
  @OptionGroup var compositionArguments: CompositionArguments
  var composition: CompositionRule { compositionArguments.rule }
  var priorDiffusion: PriorDiffusion { compositionArguments.priorDiffusion }
  var refine: Int { compositionArguments.refine }
  @Option(help: "New prior to sample under (JSON: gaussian, uniform, mixture, lognormal or product; Documentation/CLI.md §3.4).")
  var prior: String?
  @Option(help: "The prior the model was trained under (JSON as --prior; default: the one stated at training, or the task's).")
  var trainingPrior: String?
  @Option(help: "Constraint guidance (JSON: {\"intervals\": [{\"index\": 0, \"low\": a, \"high\": b}], \"strength\": λ}).")
  var constraints: String?
  @Option(help: "Classifier-free guidance scale w (needs a model trained with --condition-dropout; 1: off).")
  var cfgScale = 1.0

  func validate() throws {
    if !compose && !hierarchical
      && (compositionArguments.minibatch != nil || compositionArguments.damping != nil
        || compositionArguments.composition != nil)
    {
      throw ValidationError("--composition, --minibatch and --damping need --compose")
    }
    if hierarchical && (compose || trainingPrior != nil || constraints != nil || cfgScale != 1) {
      throw ValidationError("--hierarchical composes over the groups itself; --compose, --training-prior, "
                            + "--constraints and --cfg-scale do not apply (--prior gives the hyperprior)")
    }
    if !cfgScale.isFinite { throw ValidationError("--cfg-scale must be a finite number") }
  }

  /// The inference options for an estimator with `dimension` parameters and `observations` rows.
  func inferenceOptions(dimension d: Int, observations j: Int) throws -> InferenceOptions {
    var o = InferenceOptions(priorDiffusion: priorDiffusion, guidanceScale: cfgScale, refinementSteps: refine)
    if compose { o.composition = try compositionArguments.compositionOptions(observations: j) }
    if let p = prior { o.newPrior = try readPrior(p, dimension: d) }
    if let p = trainingPrior { o.trainingPrior = try readPrior(p, dimension: d) }
    if let c = constraints {
      do {
        let spec = try ConstraintSpecification.parse(try readSpecification(c), dimension: d)
        o.constraints = spec.constraints
        o.constraintGuidance = spec.options
      } catch let e as SpecificationError {
        throw InputError("\(c): \(e)")
      }
    }
    return o
  }

  func readPrior(_ path: String, dimension d: Int) throws -> any Prior {
    do { return try PriorSpecification.parse(try readSpecification(path), dimension: d) } catch let e as SpecificationError {
      throw InputError("\(path): \(e)")
    }
  }
}

/// Reads a small JSON specification file, as bad input naming the path when it cannot be read.
func readSpecification(_ path: String) throws -> Data {
  guard let data = FileManager.default.contents(atPath: path) else { throw InputError("\(path): cannot read the file") }
  return data
}

/// Composition rules as the command line spells them.
enum CompositionRule: String, ExpressibleByArgument, CaseIterable {
  case direct
  case gauss
  case autoGauss = "auto-gauss"
  case jac

  var method: CompositionMethod {
    switch self {
    case .direct: return .direct
    case .gauss: return .gauss(.priorScaled(2))
    case .autoGauss: return .autoGauss(AutoGaussOptions())
    case .jac: return .jacobian(.finiteDifference(step: 0.05))
    }
  }
}

extension PriorDiffusion: ExpressibleByArgument {}

struct SampleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sample",
    abstract: "Draw posterior samples for one or more observations.",
    discussion: """
      The observation file holds one observation per row (CSV with a header row, .npy [rows, D] or [D]). One row \
      gives samples [N, P]; several rows give [rows, N, P] (.npy) or a CSV with an observation column. \
      With --compose all rows are i.i.d. observations of one θ and form one posterior [N, P] (score composition, \
      diffusion and flow-matching models). --prior samples under a new prior without retraining, --constraints \
      guides samples into intervals, --cfg-scale applies classifier-free guidance. See Documentation/Composition.md.
      """)

  @Option(help: "Model directory written by 'diffsbi train'.")
  var model: String
  @Option(help: "Observation file (.csv with header, .npy).")
  var observation: String
  @Option(help: "Samples per observation.")
  var count = 1000
  @Option(help: "Output file (.npy or .csv).")
  var out: String
  @OptionGroup var samplerArguments: SamplerArguments
  @OptionGroup var inferenceArguments: InferenceArguments
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if count < 1 { throw ValidationError("--count must be at least 1") }
  }

  func run() throws {
    common.apply()
    if inferenceArguments.hierarchical { return try sampleHierarchical() }
    try checkOutputPath(out, allowed: ["npy", "csv"], option: "--out")
    let ensemble = try loadEnsemble(model)
    let estimator = ensemble.first
    if estimator.fieldArchitecture != nil {
      throw InputError("\(model) is a field generator (images given θ); draw fields with 'diffsbi generate --theta FILE'")
    }
    let method = estimator.settings.method
    if samplerArguments.sampler != nil && (method == .consistency || method == .stableConsistency) {
      throw ValidationError("--sampler: \(method.rawValue) models always use their own multistep sampler")
    }
    let obs = try readObservations(observation, for: estimator)
    if estimator.isOtherObservation(obs) {
      log("sample: warning: \(model) was trained sequentially for one observation; its posterior is valid for that "
          + "observation only, not for \(observation)")
    }
    let inference = try inferenceArguments.inferenceOptions(dimension: estimator.parameterDimension,
                                                           observations: obs.rows)
    let reporter = ProgressReporter(label: "sample", mode: common.progressMode)
    let result: PosteriorSamples
    if inference.isPlain {
      result = try ensemble.sample(
        observations: obs, count: count, sampler: samplerArguments.sampler, options: samplerArguments.options,
        seed: common.seed, progress: { done, total in reporter.update(done: done, total: total, unit: "batches") })
    } else {
      result = try ensemble.sample(
        observations: obs, count: count, inference: inference, sampler: samplerArguments.sampler,
        options: samplerArguments.options, seed: common.seed)
    }
    try writeSamples(result.samples, to: out)
    let kind = samplerArguments.sampler ?? estimator.defaultSampler(for: inference)
    // Consistency models always use their own multistep sampler.
    let samplerName: String
    switch estimator.settings.method {
    case .consistency: samplerName = "consistency-multistep"
    case .stableConsistency: samplerName = "stable-consistency-multistep"
    default: samplerName = kind.rawValue
    }
    var what = inference.composition == nil ? "\(obs.rows) observation(s)" : "\(obs.rows) composed observations"
    if ensemble.members.count > 1 { what += " from an ensemble of \(ensemble.members.count)" }
    reporter.finish("\(count) samples × \(what) with \(samplerName) in "
                    + "\(fmt(result.seconds, 2)) s (\(result.evaluations) network evaluations) → \(out)")
    if result.nonFiniteRows > 0 { common.info("sample: \(result.nonFiniteRows) samples came out non-finite (kept as NaN)") }
    try common.emit([
      "sample_seconds": result.seconds, "steps": result.steps, "evaluations": result.evaluations,
      "observations": obs.rows, "count": count, "sampler": samplerName, "non_finite_rows": result.nonFiniteRows,
      "out": out, "composed": inference.composition != nil, "ensemble": ensemble.members.count,
    ])
  }
}

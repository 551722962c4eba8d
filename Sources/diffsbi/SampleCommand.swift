// `diffsbi sample`: posterior samples for one or many observations.

import ArgumentParser
import DiffusionSBI
import Foundation

/// Sampler options shared by sample, benchmark and demo.
struct SamplerArguments: ParsableArguments {
  @Option(help: "Sampler: \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: the model's).")
  var sampler: SamplerKind?
  @Option(help: "Fixed number of steps (default: the sampler's own step control).")
  var steps: Int?

  func validate() throws {
    if let s = steps, s < 1 { throw ValidationError("--steps must be at least 1") }
  }

  var options: SamplerOptions { SamplerOptions(steps: steps.map { .fixed($0) }) }
}

/// Loads a model directory; a missing directory or file is bad input naming the path.
func loadModel(_ path: String) throws -> PosteriorEstimator {
  var isDir: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
    throw InputError("\(path): no such model directory")
  }
  guard isDir.boolValue else { throw InputError("\(path): a model is a directory (written by 'diffsbi train')") }
  do { return try PosteriorEstimator.load(from: path) } catch let e as FileFormatError {
    throw e
  } catch let e as UserInputError {
    throw InputError("\(path): \(String(describing: e).split(separator: "\n").first ?? "")")
  } catch {
    throw InputError("\(path): not a valid model directory: \(error)")
  }
}

/// Reads observations [R, D] and refuses non-finite values and wrong widths, naming the file.
func readObservations(_ path: String, expectedColumns: Int) throws -> Matrix {
  let obs = try readMatrix(path)
  guard obs.rows > 0 else { throw InputError("\(path): no observation rows") }
  guard obs.cols == expectedColumns else {
    throw InputError("\(path): observations have \(obs.cols) columns, the model expects \(expectedColumns)")
  }
  if let bad = NonFiniteRows.indices(in: obs).first {
    throw InputError("\(path): observation row \(bad + 1) contains NaN or infinity")
  }
  return obs
}

struct SampleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sample",
    abstract: "Draw posterior samples for one or more observations.",
    discussion: """
      The observation file holds one observation per row (CSV with a header row, .npy [rows, D] or [D]). One row \
      gives samples [N, P]; several rows give [rows, N, P] (.npy) or a CSV with an observation column.
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
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if count < 1 { throw ValidationError("--count must be at least 1") }
  }

  func run() throws {
    common.apply()
    try checkOutputPath(out, allowed: ["npy", "csv"], option: "--out")
    let estimator = try loadModel(model)
    let obs = try readObservations(observation, expectedColumns: estimator.conditionDimension)
    let reporter = ProgressReporter(label: "sample", mode: common.progressMode)
    let result = try estimator.sample(
      observations: obs, count: count, sampler: samplerArguments.sampler, options: samplerArguments.options,
      seed: common.seed, progress: { done, total in reporter.update(done: done, total: total, unit: "batches") })
    try writeSamples(result.samples, to: out)
    let kind = samplerArguments.sampler ?? estimator.defaultSampler
    // Consistency models always use their own multistep sampler.
    let samplerName: String
    switch estimator.settings.method {
    case .consistency: samplerName = "consistency-multistep"
    case .stableConsistency: samplerName = "stable-consistency-multistep"
    default: samplerName = kind.rawValue
    }
    reporter.finish("\(count) samples × \(obs.rows) observation(s) with \(samplerName) in "
                    + "\(fmt(result.seconds, 2)) s (\(result.evaluations) network evaluations) → \(out)")
    if result.nonFiniteRows > 0 { common.info("sample: \(result.nonFiniteRows) samples came out non-finite (kept as NaN)") }
    try common.emit([
      "sample_seconds": result.seconds, "steps": result.steps, "evaluations": result.evaluations,
      "observations": obs.rows, "count": count, "sampler": samplerName, "non_finite_rows": result.nonFiniteRows,
      "out": out,
    ])
  }
}

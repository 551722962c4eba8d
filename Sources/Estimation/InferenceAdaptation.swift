// Sampling a trained estimator with inference-time adaptations: score composition over J observations,
// prior adaptation, constraint guidance and classifier-free guidance (Documentation/Methods.md §8–9, §13.1).
//
// All of them act on the per-observation denoiser x̂(z, t; y) of the trained network in its network space
// u = (T(θ) − m)/s (constraint transform T, standardization m, s), in this order:
//
//   1. classifier-free guidance per (state, observation) pair:  x̂ = x̂_∅ + w (x̂_y − x̂_∅)   (s = s_∅ + w(s_y − s_∅));
//   2. composition over the J observations (`ScoreComposer`) with the training prior in network space, or one
//      posterior per observation row;
//   3. prior adaptation to a new prior (`priorGuided` with an exact or fitted Gaussian-mixture ratio, or the
//      diffused score difference when the ratio is not a Gaussian);
//   4. constraint guidance on the denoised estimate, constraints written on original parameters θ and carried
//      to network space with the chain rule ∇_u c = s ⊙ (dθ/dφ) ⊙ ∇_θ c (`ParameterSpace`);
//   5. optionally Langevin refinement at a small time (needed by the direct composition rule).
// Diffusion models use their own schedule; flow-matching models use the rectified-flow path, on which the
// velocity is a denoiser x̂ = z + σ v̂ (Singh & Fischer 2024), so every step above applies to them too.

import Composition
import Diffusion
import FlowMatching
import Foundation
import NeuralNet
import NumericCore
import Tasks

/// A constraint on original parameters θ, satisfied where c(θ) ≤ 0.
public enum ParameterGuidanceConstraint: @unchecked Sendable {
  /// lower ≤ θ_index ≤ upper (either bound may be nil).
  case interval(index: Int, lower: Double?, upper: Double?)
  /// A scalar c(θ) with a central finite-difference gradient (step 1e-4).
  case function(@Sendable ([Double]) -> Double)
  /// Values and gradients on original-space rows.
  case custom(GuidanceConstraint)

  /// The constraint(s) in network space.
  func networkConstraints(space: ParameterSpace) throws -> [GuidanceConstraint] {
    let d = space.dimension
    switch self {
    case .interval(let j, let lo, let hi):
      guard (0..<d).contains(j) else {
        throw EstimatorError.shapeMismatch("interval constraint on parameter \(j), the model has \(d) (0-based)")
      }
      guard lo != nil || hi != nil, (lo ?? -.infinity) < (hi ?? .infinity) else {
        throw EstimatorError.unsupported("interval constraint on parameter \(j) needs low < high")
      }
      return GuidanceConstraint.interval(coordinate: j, lower: lo, upper: hi, dimension: d)
        .map { $0.inOriginalSpace(space) }
    case .function(let f): return [GuidanceConstraint.function(f).inOriginalSpace(space)]
    case .custom(let c): return [c.inOriginalSpace(space)]
    }
  }
}

/// How a new prior is imposed (see `PriorAdaptationMethod`).
public struct PriorAdaptationOptions: @unchecked Sendable {
  /// Backward-kernel covariance of ratio guidance; the default estimates it from the network (Tweedie).
  public var kernel: KernelCovariance
  /// Mixture components of a fitted ratio (nil: 3, or the new mixture prior's component count + 1).
  public var components: Int?
  /// Draws from the new prior for the fit.
  public var fitSamples: Int
  public var seed: UInt64

  public init(kernel: KernelCovariance = .tweedie(step: 0.05), components: Int? = nil, fitSamples: Int = 4000,
              seed: UInt64 = 1) {
    self.kernel = kernel
    self.components = components
    self.fitSamples = fitSamples
    self.seed = seed
  }
}

/// Inference-time adaptations of a trained estimator (all off by default: plain posterior sampling).
public struct InferenceOptions: @unchecked Sendable {
  /// Compose all observation rows into one posterior p(θ | y_1…y_J); nil samples each row separately.
  public var composition: CompositionOptions?
  /// Exactly diffused or time-weighted prior score in composition and score-difference adaptation.
  public var priorDiffusion: PriorDiffusion
  /// The prior the network was trained under (nil: the prior of the model's task).
  public var trainingPrior: (any Prior)?
  /// Sample under this prior instead of the training prior.
  public var newPrior: (any Prior)?
  public var priorAdaptation: PriorAdaptationOptions
  /// Constraints on original parameters, imposed by guidance on the denoised estimate.
  public var constraints: [ParameterGuidanceConstraint]
  public var constraintGuidance: ConstraintGuidanceOptions
  /// Classifier-free guidance scale w (1: the conditional model; needs a model trained with condition dropout).
  public var guidanceScale: Double
  /// Unadjusted Langevin moves at a small time after sampling (`langevinRefine`); 0 for none.
  public var refinementSteps: Int
  /// Log-SNR of the refinement time, default 2 ln 10 (σ/α = 0.1). A trained network's denoising error e becomes a
  /// score error ~e/σ², J-fold in a composed score: at the exact-score setting σ/α = 10⁻³ refinement diverges.
  public var refinementLogSNR: Double

  public init(
    composition: CompositionOptions? = nil, priorDiffusion: PriorDiffusion = .exact, trainingPrior: (any Prior)? = nil,
    newPrior: (any Prior)? = nil, priorAdaptation: PriorAdaptationOptions = PriorAdaptationOptions(),
    constraints: [ParameterGuidanceConstraint] = [],
    constraintGuidance: ConstraintGuidanceOptions = ConstraintGuidanceOptions(), guidanceScale: Double = 1,
    refinementSteps: Int = 0, refinementLogSNR: Double = 2 * log(10.0)
  ) {
    self.composition = composition
    self.priorDiffusion = priorDiffusion
    self.trainingPrior = trainingPrior
    self.newPrior = newPrior
    self.priorAdaptation = priorAdaptation
    self.constraints = constraints
    self.constraintGuidance = constraintGuidance
    self.guidanceScale = guidanceScale
    self.refinementSteps = refinementSteps
    self.refinementLogSNR = refinementLogSNR
  }

  /// True when nothing is adapted.
  public var isPlain: Bool {
    composition == nil && newPrior == nil && constraints.isEmpty && guidanceScale == 1 && refinementSteps == 0
  }
}

extension PosteriorEstimator {
  /// The network space of the estimator: constraint transforms, then the parameter standardization (the identity
  /// before training).
  public var parameterSpace: ParameterSpace {
    get throws {
      try ParameterSpace(constraints: transform,
                         standardizer: parameterStandardizer ?? Standardizer(dimension: parameterDimension))
    }
  }

  /// The prior the network was trained under: `given`, else the prior stored with the model (`train --prior`),
  /// else the prior of the model's built-in task.
  public func trainingPrior(_ given: (any Prior)?) throws -> any Prior {
    if let p = given {
      guard p.dimension == parameterDimension else {
        throw EstimatorError.shapeMismatch("training prior of dimension \(p.dimension), the model has \(parameterDimension)")
      }
      return p
    }
    if let json = settings.trainingPrior {
      return try PriorSpecification.parse(Data(json.utf8), dimension: parameterDimension)
    }
    guard let name = settings.task, let task = try? TaskRegistry.task(named: name) else {
      throw EstimatorError.unsupported(
        "the model was not trained on a built-in task or with a stated prior: give its training prior "
          + "(--training-prior FILE)")
    }
    return task.prior
  }

  /// The schedule sampling integrates on: the model's diffusion schedule, or the rectified-flow path.
  func inferenceSchedule() throws -> any NoiseSchedule {
    switch settings.method {
    case .diffusion: return try settings.diffusion.makeSchedule()
    case .flowMatching: return RectifiedFlowSchedule()
    case .consistency, .stableConsistency:
      throw EstimatorError.unsupported("composition and guidance need a diffusion or flow-matching model")
    }
  }

  /// The trained denoiser x̂(z, t) for one condition row per state row (nil: no condition), or for the rows'
  /// condition features (`TimeMLP.ConditionFeatures`, used instead of `condition` when given).
  func networkDenoiser(
    condition: Matrix?, features: TimeMLP.ConditionFeatures? = nil, schedule: any NoiseSchedule
  ) -> Denoiser {
    let network = model.network
    let predict: (Matrix, Float) -> Matrix = { input, tau in
      let time = [Float](repeating: tau, count: input.rows)
      if let features, let mlp = network as? TimeMLP { return mlp.predict(input, time: time, conditionFeatures: features) }
      return network.predict(input, time: time, condition: condition)
    }
    if settings.method == .flowMatching {
      // x̂ = z + σ v̂(z, α) on the rectified-flow path (flow-matching time s = α).
      return { z, t in
        let (a, sigma) = schedule.alphaSigma(t)
        return VelocityConversion.denoised(velocity: predict(z, Float(a)), state: z, sigma: sigma)
      }
    }
    return settings.diffusion.prediction.denoiser(schedule: schedule, network: predict)
  }

  /// The per-observation denoiser on (state, observation) pairs, with classifier-free guidance of scale w:
  /// x̂ = x̂_∅ + w(x̂_y − x̂_∅), x̂_∅ the denoiser under the null condition.
  public func pairedDenoiser(embedded: Matrix?, guidanceScale w: Double = 1) throws -> PairedDenoiser {
    guard let mlp = model.timeMLP else {
      throw EstimatorError.unsupported("composition and guidance need a posterior estimator's TimeMLP network")
    }
    let schedule = try inferenceSchedule()
    if w != 1 {
      guard settings.conditionDropout > 0 else {
        throw EstimatorError.unsupported(
          "classifier-free guidance needs a model trained with condition dropout (diffsbi train --condition-dropout P)")
      }
      guard embedded != nil else { throw EstimatorError.unsupported("classifier-free guidance needs conditions") }
    }
    // The observations' part of the network's input stage, once for all calls (each call indexes it by row).
    let table = embedded.map { mlp.conditionFeatures(distinct: $0, index: []) }
    let nullTable = w == 1 ? nil
      : embedded.map { mlp.conditionFeatures(distinct: Matrix(rows: 1, cols: $0.cols), index: []) }
    return { [self] z, obs, t in
      let conditional = self.networkDenoiser(condition: nil, features: table?.indexed(obs), schedule: schedule)
      guard let nullTable else { return conditional(z, t) }
      let unconditional = self.networkDenoiser(
        condition: nil, features: nullTable.indexed([Int](repeating: 0, count: obs.count)), schedule: schedule)
      return classifierFreeGuided(conditional: conditional, unconditional: unconditional, scale: w,
                                  schedule: schedule)(z, t)
    }
  }

  /// Draws posterior samples with inference-time adaptations (see the file header).
  ///
  /// With `inference.composition` all rows of `observations` [J, d_x] form one composed posterior and the result
  /// holds one matrix [count, d_θ]; otherwise one matrix per row. Rows are processed in chunks of at most
  /// `maxBatchRows` network rows (pairs for composition); chunk k uses the random stream (seed, k).
  public func sample(
    observations: Matrix, count: Int, inference: InferenceOptions, sampler: SamplerKind? = nil,
    options: SamplerOptions = SamplerOptions(), seed: UInt64 = 0, maxBatchRows: Int = 16_384
  ) throws -> PosteriorSamples {
    try sample(observations: observations, count: count, inference: inference, sampler: sampler, options: options,
               seed: seed, firstStream: 0, maxBatchRows: maxBatchRows)
  }

  /// `sample(observations:count:inference:...)` with chunk k drawing from the stream (seed, firstStream + k).
  /// `paired`, when given, replaces the estimator's own per-observation denoiser (an ensemble's averaged one,
  /// `PosteriorEnsemble.averagedPairedDenoiser`), counting `evaluationsPerCall` network evaluations per call; it
  /// must work in this estimator's network space and run its networks with their sampling weights itself.
  func sample(
    observations: Matrix, count: Int, inference: InferenceOptions, sampler: SamplerKind?, options: SamplerOptions,
    seed: UInt64, firstStream: UInt64, maxBatchRows: Int, paired supplied: (PairedDenoiser, Int)? = nil
  ) throws -> PosteriorSamples {
    if inference.isPlain {
      return try sample(observations: observations, count: count, sampler: sampler, options: options, seed: seed,
                        firstStream: firstStream, maxBatchRows: maxBatchRows, progress: nil)
    }
    guard observations.cols == conditionDimension else {
      throw EstimatorError.shapeMismatch(
        "observations have \(observations.cols) columns, the model expects \(conditionDimension)")
    }
    guard observations.rows > 0 else { throw EstimatorError.shapeMismatch("no observation rows") }
    try checkObservations(observations)
    guard inference.guidanceScale.isFinite, inference.refinementSteps >= 0 else {
      throw EstimatorError.unsupported("guidance scale must be finite and refinement steps ≥ 0")
    }
    let start = Date()
    let schedule = try inferenceSchedule()
    let space = try parameterSpace
    let d = parameterDimension
    let kind = sampler ?? defaultSampler(for: inference)
    let network: PairedDenoiser
    let evaluationsPerCall: Int
    if let supplied {
      (network, evaluationsPerCall) = supplied
    } else {
      // The summary network reads the observations with the sampling (EMA) weights, as the inference network does.
      let embedded = withSamplingWeights { embedObservations(observations) }
      network = try pairedDenoiser(embedded: embedded, guidanceScale: inference.guidanceScale)
      evaluationsPerCall = inference.guidanceScale == 1 ? 1 : 2
    }
    var calls = 0
    let paired: PairedDenoiser = { z, obs, t in
      calls += evaluationsPerCall
      return network(z, obs, t)
    }
    let constraints = try inference.constraints.flatMap { try $0.networkConstraints(space: space) }
    var adapt: ((@escaping Denoiser) -> Denoiser)? = nil
    if let newPrior = inference.newPrior {
      adapt = try priorAdaptation(
        newPrior: newPrior, trainingPrior: try trainingPrior(inference.trainingPrior), space: space,
        schedule: schedule, diffusion: inference.priorDiffusion, options: inference.priorAdaptation)
    }
    var compositionPriorInSpace: (any CompositionPrior)? = nil
    if inference.composition != nil {
      compositionPriorInSpace = try compositionPrior(
        try trainingPrior(inference.trainingPrior), space: space, diffusion: inference.priorDiffusion)
    }

    // Chunks of state rows; `owner[i]` is the observation of flat row i (unused for composition).
    let j = observations.rows
    let perPair = inference.composition.map { $0.miniBatchSize ?? j } ?? 1
    let chunkRows = max(1, maxBatchRows / max(1, perPair))
    let total = inference.composition == nil ? j * count : count
    var flat = Matrix(rows: total, cols: d)
    var steps = 0, chunks = 0
    try withSamplingWeights {
      // auto-gauss: the per-observation precisions are estimated once for all chunks.
      var composition = inference.composition
      if case .autoGauss(let o)? = composition?.method {
        composition!.method = .gauss(.perObservation(try estimatePosteriorPrecisions(
          denoiser: paired, observations: j, dimension: d, schedule: schedule, options: o)))
      }
      var begin = 0, k = 0
      while begin < total {
        let end = min(total, begin + chunkRows)
        var base: Denoiser
        if let comp = composition {
          let composer = try ScoreComposer(
            denoiser: paired, observations: j, prior: compositionPriorInSpace!, schedule: schedule, options: comp,
            seed: seed &+ firstStream &+ UInt64(k))
          base = composer.denoiser
        } else {
          // Guidance may evaluate tiled copies of the batch (finite-difference Jacobians): row i is row i mod B.
          let owner = (begin..<end).map { $0 / count }
          base = { z, t in
            paired(z, z.rows == owner.count ? owner : (0..<z.rows).map { owner[$0 % owner.count] }, t)
          }
        }
        if let a = adapt { base = a(base) }
        if !constraints.isEmpty {
          base = constraintGuided(base, constraints: constraints, schedule: schedule,
                                  options: inference.constraintGuidance)
        }
        var rng = Xoshiro(seed: seed, stream: firstStream &+ UInt64(k))
        let initial = priorSample(rows: end - begin, cols: d, schedule: schedule, rng: &rng)
        let result = try Diffusion.sample(kind, denoiser: base, initial: initial, schedule: schedule,
                                          options: options, rng: &rng)
        var x = result.samples
        if inference.refinementSteps > 0 {
          x = langevinRefine(x, denoiser: base, schedule: schedule, logSNR: inference.refinementLogSNR,
                             steps: inference.refinementSteps, rng: &rng)
        }
        x.withUnsafeBufferPointer { src in
          flat.withUnsafeMutableBufferPointer { dst in
            (dst.baseAddress! + begin * d).update(from: src.baseAddress!, count: (end - begin) * d)
          }
        }
        steps += result.steps
        begin = end
        k += 1
      }
      chunks = k
    }
    let evaluations = calls
    let theta = toParameterSpace(flat)
    let nonFinite = (0..<theta.rows).filter { r in (0..<d).contains { !theta[r, $0].isFinite } }.count
    let samples = inference.composition == nil
      ? (0..<j).map { theta.rows(($0 * count)..<(($0 + 1) * count)) } : [theta]
    return PosteriorSamples(samples: samples, evaluations: evaluations, steps: steps, nonFiniteRows: nonFinite,
                            seconds: Date().timeIntervalSince(start), streams: chunks)
  }
}

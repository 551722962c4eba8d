// The networks trained together, and the protocols the training loop works with.

import NumericCore

/// A network that compresses raw observations into fixed-size summary statistics, trained jointly with the
/// inference network through the gradient of the condition.
public protocol SummaryNetwork: AnyObject, Sendable {
  /// Width of one input row (for a set: set size × features, flattened).
  var inputDimension: Int { get }
  /// Width of the summary.
  var outputDimension: Int { get }
  var parameters: ParameterBuffer { get }
  /// Forward pass over rows of raw data; keeps a cache for `backward`.
  func forward(_ x: Matrix, training: Bool, rng: inout Xoshiro) -> Matrix
  /// Accumulates parameter gradients for the last `forward` given ∂L/∂summary.
  func backward(_ outputGradient: Matrix)
  /// A network reading the same parameter values with its own gradients and caches.
  func replica() -> any SummaryNetwork
  /// Architecture description for model files.
  var architecture: SummaryArchitecture { get }
}

/// The inference network plus an optional summary network and optional auxiliary parameters, with all their
/// parameter buffers.
///
/// The auxiliary buffer holds parameters that an objective trains beside the networks (the stable consistency
/// model's adaptive loss-weight network); it is optimized, checkpointed, averaged and saved like the others, and
/// its owner interprets its tensors.
public final class TrainableModel: @unchecked Sendable {
  public let network: TimeMLP
  public let summary: (any SummaryNetwork)?
  public let auxiliary: ParameterBuffer?

  public init(network: TimeMLP, summary: (any SummaryNetwork)? = nil, auxiliary: ParameterBuffer? = nil) {
    if let summary {
      precondition(summary.outputDimension == network.configuration.conditionDimension,
                   "summary output \(summary.outputDimension) ≠ network condition \(network.configuration.conditionDimension)")
    }
    self.network = network
    self.summary = summary
    self.auxiliary = auxiliary
  }

  /// Parameter buffers in a fixed order (network, then summary, then auxiliary).
  public var buffers: [ParameterBuffer] {
    [network.parameters] + (summary.map { [$0.parameters] } ?? []) + (auxiliary.map { [$0] } ?? [])
  }

  /// The names of `buffers` ("network", "summary", "auxiliary"), used as tensor-name prefixes in model files.
  public var bufferNames: [String] {
    ["network"] + (summary == nil ? [] : ["summary"]) + (auxiliary == nil ? [] : ["auxiliary"])
  }

  /// Total trainable parameters.
  public var parameterCount: Int { buffers.reduce(0) { $0 + $1.count } }

  /// A model sharing parameter values, with separate gradients and caches.
  public func replica() -> TrainableModel {
    TrainableModel(network: network.replica(), summary: summary?.replica(), auxiliary: auxiliary?.sharingValues())
  }

  /// The condition the inference network sees: the summary of `conditions`, or `conditions` itself.
  public func embed(_ conditions: Matrix?, training: Bool, rng: inout Xoshiro) -> Matrix? {
    guard let conditions else { return nil }
    guard let summary else { return conditions }
    return summary.forward(conditions, training: training, rng: &rng)
  }

  /// Passes ∂L/∂condition (from `network.backward`) on to the summary network, if any.
  public func backpropagateCondition(_ gradient: Matrix?) {
    if let summary, let gradient { summary.backward(gradient) }
  }

  /// Sets every gradient to zero.
  public func zeroGradients() { for b in buffers { b.zeroGradients() } }
}

/// One batch in standardized, unconstrained coordinates.
public struct TrainingBatch: Sendable {
  /// Standardized parameters θ [B, dθ].
  public var parameters: Matrix
  /// Conditions [B, dc] (standardized data, or raw input of a summary network), or nil.
  public var conditions: Matrix?
  public init(parameters: Matrix, conditions: Matrix?) {
    self.parameters = parameters
    self.conditions = conditions
  }
  public var count: Int { parameters.rows }
}

/// A training loss (diffusion, flow matching, consistency, …) over a model.
public protocol TrainingObjective: Sendable {
  /// The mean loss over `batch`; accumulates ∂(mean loss)/∂parameters into the model's gradient buffers
  /// (the network's and, through `model.backpropagateCondition`, the summary network's).
  func lossAndGradient(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float
  /// The mean loss over `batch` in evaluation mode, without gradients.
  func validationLoss(model: TrainableModel, batch: TrainingBatch, rng: inout Xoshiro) -> Float
}

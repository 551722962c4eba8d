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

/// A network over rows of the target (θ, or an image) given a time and an optional condition: the interface the
/// training objectives and samplers use. The TimeMLP is the inference network of posterior estimators;
/// `ConditionalUNet` serves image targets.
public protocol ConditionalNetwork: AnyObject, Sendable {
  /// Width of a target row (input and output).
  var inputDimension: Int { get }
  /// Width of a condition row (0 for none).
  var conditionDimension: Int { get }
  var parameters: ParameterBuffer { get }
  /// Training or evaluation forward pass over B rows (`time`: B values, `condition` [B, dc] or nil); keeps what
  /// `backward` needs.
  func forward(_ x: Matrix, time: [Float], condition: Matrix?, training: Bool, rng: inout Xoshiro) -> Matrix
  /// Accumulates parameter gradients for the last `forward` and returns ∂L/∂condition (nil without a condition).
  @discardableResult func backward(_ outputGradient: Matrix) -> Matrix?
  /// Inference-only forward pass; does not disturb the caches of the last `forward`.
  func predict(_ x: Matrix, time: [Float], condition: Matrix?) -> Matrix
  /// A network reading the same parameter values, with its own gradients and caches (for another thread).
  func replicaNetwork() -> any ConditionalNetwork
}

extension ConditionalNetwork {
  /// Traps unless `x` is [B, inputDimension] with B times and, with a condition, `condition` is [B, conditionDimension].
  func checkShapes(_ x: Matrix, time: [Float], condition: Matrix?, network name: String) {
    precondition(x.cols == inputDimension, "\(name) expects rows of \(inputDimension) values, got \(x.cols)")
    precondition(time.count == x.rows, "one time per row")
    if conditionDimension > 0 {
      precondition(condition?.rows == x.rows && condition?.cols == conditionDimension,
                   "condition must be [B, \(conditionDimension)]")
    }
  }
}

/// The inference pass of networks that keep per-pass buffers in a workspace: `rows` rows in chunks of
/// `chunkRows`, spread over `Threading.count` threads, each thread with its own workspace (made by `make` when
/// `workspaces` has too few) and a single-threaded BLAS. `run(workspace, rows, out)` writes the output rows
/// `rows` of an [rows, columns] result. Every chunk goes through the same operations whatever the thread count, so
/// the output does not depend on it.
func chunkedInference<W>(
  rows: Int, columns: Int, chunkRows size: Int, workspaces: inout [W], make: () -> W,
  run: @escaping (W, Range<Int>, UnsafeMutablePointer<Float>) -> Void
) -> Matrix {
  var out = Matrix(rows: rows, cols: columns)
  let chunks = (rows + size - 1) / size
  let threads = max(1, min(Threading.count, chunks))
  while workspaces.count < threads { workspaces.append(make()) }
  let boxed = UncheckedSendableBox(workspaces)
  let body = UncheckedSendableBox(run)
  out.withUnsafeMutableBufferPointer { o in
    let target = UnsafeSendablePointer(o.baseAddress!)
    withSingleThreadedBLAS(threads > 1) {
      parallelFor(count: chunks, chunks: threads) { thread, range in
        for c in range { body.value(boxed.value[thread], (c * size)..<min(rows, (c + 1) * size), target.base) }
      }
    }
  }
  return out
}

extension TimeMLP: ConditionalNetwork {
  public var inputDimension: Int { configuration.inputDimension }
  public var conditionDimension: Int { configuration.conditionDimension }
  public func replicaNetwork() -> any ConditionalNetwork { replica() }
}

/// The inference network plus an optional summary network and optional auxiliary parameters, with all their
/// parameter buffers.
///
/// The auxiliary buffer holds parameters that an objective trains beside the networks (the stable consistency
/// model's adaptive loss-weight network); it is optimized, checkpointed, averaged and saved like the others, and
/// its owner interprets its tensors.
public final class TrainableModel: @unchecked Sendable {
  public let network: any ConditionalNetwork
  public let summary: (any SummaryNetwork)?
  public let auxiliary: ParameterBuffer?

  /// With a summary network, the network's condition is the summary followed by `passthrough` raw columns
  /// (`passthrough = conditionDimension − summary output`), which the summary does not see: the local network of
  /// a hierarchical model reads [summary(y_j), η].
  public init(network: any ConditionalNetwork, summary: (any SummaryNetwork)? = nil, auxiliary: ParameterBuffer? = nil) {
    if let summary {
      precondition(summary.outputDimension <= network.conditionDimension,
                   "summary output \(summary.outputDimension) > network condition \(network.conditionDimension)")
    }
    self.network = network
    self.summary = summary
    self.auxiliary = auxiliary
  }

  /// The network as a TimeMLP (the posterior estimators' network), or nil for another network.
  public var timeMLP: TimeMLP? { network as? TimeMLP }

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
    TrainableModel(network: network.replicaNetwork(), summary: summary?.replica(), auxiliary: auxiliary?.sharingValues())
  }

  /// Raw condition columns after the summary network's input that go to the network unchanged.
  public var passthrough: Int {
    guard let summary else { return 0 }
    return network.conditionDimension - summary.outputDimension
  }

  /// Width of one raw condition row: the summary network's input plus the passed-through columns, or the
  /// network's condition width without a summary network.
  public var conditionDimension: Int {
    guard let summary else { return network.conditionDimension }
    return summary.inputDimension + passthrough
  }

  /// The item structure of raw condition rows (the summary network's set elements or time steps), whose
  /// standardization is per feature channel; nil without a summary network.
  public var conditionChannels: ChannelGroups? { summary?.architecture.channelGroups }

  /// The condition the inference network sees: [summary(first columns), passed-through columns], or
  /// `conditions` itself without a summary network.
  public func embed(_ conditions: Matrix?, training: Bool, rng: inout Xoshiro) -> Matrix? {
    guard let conditions else { return nil }
    guard let summary else { return conditions }
    let k = passthrough
    guard k > 0 else { return summary.forward(conditions, training: training, rng: &rng) }
    let n = summary.inputDimension
    let s = summary.forward(conditions.columns(0..<n), training: training, rng: &rng)
    return Matrix.hstack([s, conditions.columns(n..<(n + k))])
  }

  /// Passes ∂L/∂condition (from `network.backward`) on to the summary network, if any (the columns of the
  /// summary; passed-through columns have no parameters behind them).
  public func backpropagateCondition(_ gradient: Matrix?) {
    guard let summary, let gradient else { return }
    summary.backward(passthrough > 0 ? gradient.columns(0..<summary.outputDimension) : gradient)
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

// The adaptive loss weight w(t) of the stable consistency model (Lu & Song 2024, §4.2; BayesFlow
// `StableConsistencyModel` with `WEIGHT_MLP_DEFAULTS`): a small network of the time alone, trained jointly with the
// consistency network through the loss L = e^{w(t)}/d ‖F − F⁻ − g‖² − w(t), whose minimizer over w is the log of the
// inverse per-time loss scale, so the network learns to balance the loss across times.
//
//     e = [t, sin(2π s t ω), cos(2π s t ω)]     trainable random Fourier features (ω ~ N(0, 0.05²))
//     h = mish(e W₁ + b₁)                        width 256, He normal
//     w = h W₂ + b₂                              zero-initialized head, so w ≡ 0 at the start
//
// BayesFlow feeds t to an MLP with dropout 0.05; here the time passes through Fourier features first and there is
// no dropout.

import Foundation
import NeuralNet
import NumericCore

/// Architecture of the adaptive weight network.
public struct AdaptiveWeightConfiguration: Sendable, Codable, Equatable {
  /// Width of the Fourier embedding of t (even); the identity t is appended.
  public var embedDimension: Int = 16
  /// Scale s of the Fourier frequencies 2π s ω.
  public var fourierScale: Double = 10
  /// Width of the hidden layer.
  public var width: Int = 256
  public var activation: Activation = .mish

  public init() {}

  public func validate() throws {
    guard embedDimension >= 2, embedDimension % 2 == 0, embedDimension <= 4096, width >= 1, width <= 1 << 16,
          fourierScale > 0
    else {
      throw ConsistencyError.invalidOption(
        "the weight network needs an even embedding width ≥ 2, a positive Fourier scale and a positive width")
    }
  }
}

/// The adaptive weight network w(t): Fourier features → Dense + activation → Dense(1) (zero head).
///
/// Its parameters live in their own `ParameterBuffer` (tensors "weight.*"), which a `TrainableModel` carries as its
/// auxiliary buffer so that they are optimized, checkpointed and saved with the model.
public struct AdaptiveWeightNetwork: Sendable, Equatable {
  public let configuration: AdaptiveWeightConfiguration
  let embedding: FourierEmbedding
  let hidden: Dense
  let head: Dense

  /// Registers the tensors in `layout`.
  public init(configuration: AdaptiveWeightConfiguration, layout: inout ParameterLayout) throws {
    try configuration.validate()
    self.configuration = configuration
    embedding = FourierEmbedding(
      "weight.embedding", embedDimension: configuration.embedDimension, scale: Float(configuration.fourierScale),
      includeIdentity: true, layout: &layout)
    hidden = Dense("weight.hidden", inputs: embedding.outputs, outputs: configuration.width, layout: &layout)
    head = Dense("weight.head", inputs: configuration.width, outputs: 1, initializer: .zeros, layout: &layout)
  }

  /// The tensor layout of a network with this configuration (offsets from 0).
  public static func layout(_ configuration: AdaptiveWeightConfiguration) throws -> ParameterLayout {
    var layout = ParameterLayout()
    _ = try AdaptiveWeightNetwork(configuration: configuration, layout: &layout)
    return layout
  }

  /// A network and its freshly initialized parameter buffer.
  public static func make(configuration: AdaptiveWeightConfiguration, seed: UInt64) throws
    -> (network: AdaptiveWeightNetwork, parameters: ParameterBuffer)
  {
    var layout = ParameterLayout()
    let net = try AdaptiveWeightNetwork(configuration: configuration, layout: &layout)
    var rng = Xoshiro(seed: seed, stream: 0x5745_4947)  // "WEIG"
    return (net, ParameterBuffer(layout: layout, rng: &rng))
  }

  /// The network reading `buffer`, or an error when the buffer's tensors differ from this configuration's layout.
  public static func attach(configuration: AdaptiveWeightConfiguration, to buffer: ParameterBuffer) throws
    -> AdaptiveWeightNetwork
  {
    var layout = ParameterLayout()
    let net = try AdaptiveWeightNetwork(configuration: configuration, layout: &layout)
    guard layout.tensors == buffer.tensors else {
      throw ConsistencyError.shapeMismatch("the weight network's saved tensors do not match its configuration")
    }
    return net
  }

  /// Intermediate values of a forward pass, for `backward`.
  public struct Cache: Sendable {
    var times: [Float]
    var features: Matrix
    var preactivationDerivative: Matrix
    var hidden: Matrix
  }

  /// w(t_i) for each time, and the cache for `backward`.
  public func forward(_ t: [Float], parameters: ParameterBuffer) -> (logWeight: [Float], cache: Cache) {
    let e = embedding.forward(t, parameters: parameters)
    var h = hidden.forward(e, parameters: parameters)
    var derivative = Matrix(rows: h.rows, cols: h.cols)
    let n = h.count
    h.withUnsafeMutableBufferPointer { hp in
      derivative.withUnsafeMutableBufferPointer { dp in
        configuration.activation.forward(count: n, hp.baseAddress!, into: hp.baseAddress!, derivative: dp.baseAddress!)
      }
    }
    let w = head.forward(h, parameters: parameters)
    return (w.storage, Cache(times: t, features: e, preactivationDerivative: derivative, hidden: h))
  }

  /// Accumulates ∂L/∂parameters into `parameters.gradients` given ∂L/∂w_i.
  public func backward(_ logWeightGradient: [Float], cache: Cache, parameters: ParameterBuffer) {
    let dw = Matrix(rows: logWeightGradient.count, cols: 1, storage: logWeightGradient)
    var dh = head.backward(input: cache.hidden, outputGradient: dw, parameters: parameters)
    dh.multiply(cache.preactivationDerivative)
    let de = hidden.backward(input: cache.features, outputGradient: dh, parameters: parameters)
    embedding.backward(cache.times, embedding: cache.features, embeddingGradient: de, parameters: parameters)
  }
}

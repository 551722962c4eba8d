// All trainable parameters of a network in one contiguous Float buffer, with a parallel gradient buffer.
//
// Layers hold offsets into the buffer. One flat buffer makes the optimizer update, global-norm clipping, the
// power EMA and the safetensors export single passes over contiguous memory.

import Foundation
import NumericCore

/// How a parameter tensor is initialized.
///
/// - `heNormal`: truncated normal (cut at ±2σ) with σ = √(2/fanIn) / 0.87962566 (Keras `he_normal`).
/// - `glorotUniform`: U(−a, a), a = √(6/(fanIn + fanOut)) (Keras `glorot_uniform`).
/// - `normal(std)`: N(0, std²) (Keras `random_normal` uses std 0.05).
public enum ParameterInitializer: Sendable, Equatable {
  case zeros
  case ones
  case heNormal(fanIn: Int)
  case glorotUniform(fanIn: Int, fanOut: Int)
  case normal(std: Float)

  func fill(_ p: UnsafeMutablePointer<Float>, count: Int, rng: inout Xoshiro) {
    switch self {
    case .zeros: p.update(repeating: 0, count: count)
    case .ones: p.update(repeating: 1, count: count)
    case .heNormal(let fanIn):
      let std = (2.0 / Double(max(fanIn, 1))).squareRoot() / 0.87962566103423978
      for i in 0..<count {
        var z = rng.nextNormal()
        while abs(z) > 2 { z = rng.nextNormal() }
        p[i] = Float(z * std)
      }
    case .glorotUniform(let fanIn, let fanOut):
      let a = (6.0 / Double(max(fanIn + fanOut, 1))).squareRoot()
      for i in 0..<count { p[i] = Float((2 * rng.nextDouble() - 1) * a) }
    case .normal(let std):
      for i in 0..<count { p[i] = Float(rng.nextNormal()) * std }
    }
  }
}

/// A named tensor inside a parameter buffer: `shape` row-major at `offset`.
public struct ParameterTensor: Sendable, Codable, Equatable {
  public var name: String
  public var shape: [Int]
  public var offset: Int
  public var count: Int { shape.reduce(1, *) }
}

/// The list of tensors of a network, in registration order; building it assigns offsets.
public struct ParameterLayout: Sendable {
  public private(set) var tensors: [ParameterTensor] = []
  var initializers: [ParameterInitializer] = []
  /// Total number of scalars.
  public private(set) var count = 0

  public init() {}

  /// Registers a tensor and returns its offset.
  @discardableResult
  public mutating func add(_ name: String, shape: [Int], initializer: ParameterInitializer) -> Int {
    let offset = count
    tensors.append(ParameterTensor(name: name, shape: shape, offset: offset))
    initializers.append(initializer)
    count += shape.reduce(1, *)
    return offset
  }
}

/// Heap storage for parameter values, shared by replicas of a network.
final class FloatStorage: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Float>
  let count: Int
  init(count: Int) {
    self.count = count
    pointer = .allocate(capacity: max(count, 1))
    pointer.initialize(repeating: 0, count: max(count, 1))
  }
  deinit { pointer.deallocate() }
}

/// Parameter values (possibly shared with replicas) and this instance's own gradient accumulator.
///
/// Replicas made with `sharingValues()` read the same values but accumulate into separate gradients, so
/// shards of a batch can run backward passes on different threads and be reduced in a fixed order.
public final class ParameterBuffer: @unchecked Sendable {
  let valueStorage: FloatStorage
  let gradientStorage: FloatStorage
  /// The tensors, with offsets into `values` and `gradients`.
  public let tensors: [ParameterTensor]
  /// Number of scalars.
  public let count: Int

  public var values: UnsafeMutablePointer<Float> { valueStorage.pointer }
  public var gradients: UnsafeMutablePointer<Float> { gradientStorage.pointer }

  /// Allocates and initializes the layout's tensors in order from `rng`.
  public init(layout: ParameterLayout, rng: inout Xoshiro) {
    tensors = layout.tensors
    count = layout.count
    valueStorage = FloatStorage(count: count)
    gradientStorage = FloatStorage(count: count)
    for (t, initializer) in zip(layout.tensors, layout.initializers) {
      initializer.fill(valueStorage.pointer + t.offset, count: t.count, rng: &rng)
    }
  }

  private init(values: FloatStorage, tensors: [ParameterTensor]) {
    self.tensors = tensors
    count = values.count
    valueStorage = values
    gradientStorage = FloatStorage(count: count)
  }

  /// A zero-filled buffer with the given tensors (offsets must tile 0..<count in order), for loading saved values.
  public init(zeroedTensors tensors: [ParameterTensor]) {
    self.tensors = tensors
    count = tensors.reduce(0) { $0 + $1.count }
    valueStorage = FloatStorage(count: count)
    gradientStorage = FloatStorage(count: count)
  }

  /// A buffer reading the same values with its own zeroed gradients.
  public func sharingValues() -> ParameterBuffer { ParameterBuffer(values: valueStorage, tensors: tensors) }

  /// Sets every gradient to zero.
  public func zeroGradients() { gradients.update(repeating: 0, count: count) }

  /// A copy of the values.
  public var valueArray: [Float] {
    get { Array(UnsafeBufferPointer(start: values, count: count)) }
    set {
      precondition(newValue.count == count, "expected \(count) parameter values, got \(newValue.count)")
      newValue.withUnsafeBufferPointer { values.update(from: $0.baseAddress!, count: count) }
    }
  }

  /// A copy of the gradients.
  public var gradientArray: [Float] { Array(UnsafeBufferPointer(start: gradients, count: count)) }

  /// The tensor called `name`, if any.
  public func tensor(named name: String) -> ParameterTensor? { tensors.first { $0.name == name } }
}

// Choosing a summary network for structured data: the kind (DeepSet, SetTransformer, time-series network,
// convolutional network for images), the summary width and the hidden widths, turned into an architecture once the
// data's item shape is known (Documentation/Methods.md §14).

import NeuralNet

/// The summary network families, as `--summary` spells them.
public enum SummaryKind: String, Sendable, Codable, CaseIterable {
  case deepSet = "deepset"
  case setTransformer = "set-transformer"
  case timeSeries = "time-series"
  case conv2d
}

/// A summary network to attach to an estimator, before the data shape is known.
///
/// `widths` means, per kind: DeepSet, the widths of both the per-element network φ and the pooled network ρ
/// (default 64, 64); SetTransformer, the attention width (first value, a multiple of the 4 heads) and one
/// self-attention block per value (default 64, 64: width 64, two blocks); time-series network, the convolution
/// filters and the GRU width (first and last value; default 32, 64); convolutional network, one residual block per
/// value with that many filters (default by image side, `ConvolutionalConfiguration.defaultWidths`).
///
/// `stride` (time-series network only) is the convolution's stride S; with S > 1 the kernel is S + 2 steps wide
/// (neighbouring windows overlap by two steps, as the unit-stride kernel of 3), so that the GRU reads
/// ⌊(T − S − 2)/S⌋ + 1 windows instead of T − 2. nil chooses S = 1 for series of up to 128 steps and ⌈T/128⌉
/// beyond (714 steps: S = 6, kernel 8, 118 windows).
public struct SummaryChoice: Sendable, Equatable {
  public var kind: SummaryKind
  /// Width of the learned summary (default 16, as BayesFlow's summary networks).
  public var summaryDimension: Int
  public var widths: [Int]?
  public var stride: Int?

  public init(kind: SummaryKind, summaryDimension: Int = 16, widths: [Int]? = nil, stride: Int? = nil) {
    self.kind = kind
    self.summaryDimension = summaryDimension
    self.widths = widths
    self.stride = stride
  }

  /// The stride chosen for a series of `steps` steps when none is given: the smallest that leaves the GRU at most
  /// 128 convolution windows (about; 1 up to 128 steps).
  public static func automaticStride(steps: Int) -> Int { steps <= 128 ? 1 : (steps + 127) / 128 }

  /// The architecture for data sets of `items` items with `width` features each; throws on sizes the network
  /// cannot take (a time series shorter than the convolution kernel, attention widths not divisible by the heads).
  public func architecture(items: Int, width: Int) throws -> SummaryArchitecture {
    guard items > 0, width > 0 else {
      throw EstimatorError.shapeMismatch("a summary network needs data of shape [items, features], got [\(items), \(width)]")
    }
    guard summaryDimension > 0 else { throw EstimatorError.unsupported("the summary dimension must be positive") }
    if let w = widths, w.isEmpty || w.contains(where: { $0 <= 0 }) {
      throw EstimatorError.unsupported("summary widths must be positive integers")
    }
    let arch: SummaryArchitecture
    switch kind {
    case .deepSet:
      var c = DeepSetConfiguration(elementDimension: width, setSize: items, summaryDimension: summaryDimension)
      if let w = widths {
        c.innerWidths = w
        c.outerWidths = w
      }
      arch = .deepSet(c)
    case .setTransformer:
      var c = SetTransformerConfiguration(elementDimension: width, setSize: items, summaryDimension: summaryDimension)
      if let w = widths {
        guard w[0] % c.heads == 0 else {
          throw EstimatorError.unsupported("the set-transformer width \(w[0]) must be a multiple of its \(c.heads) heads")
        }
        c.width = w[0]
        c.blocks = w.count
      }
      arch = .setTransformer(c)
    case .conv2d:
      return try architecture(dataShape: [items, width])
    case .timeSeries:
      var c = TimeSeriesConfiguration(featureDimension: width, steps: items, summaryDimension: summaryDimension)
      if let w = widths {
        c.filters = w[0]
        c.recurrentDimension = w[w.count - 1]
      }
      let s = stride ?? Self.automaticStride(steps: items)
      guard s >= 1 else { throw EstimatorError.unsupported("the convolution stride must be positive") }
      if s > 1 {
        c.stride = s
        c.kernelSize = s + 2
      }
      guard items >= c.kernelSize else {
        throw EstimatorError.shapeMismatch("a time series needs at least \(c.kernelSize) steps, the data have \(items)")
      }
      arch = .timeSeries(c)
    }
    guard arch.isValidShape else { throw EstimatorError.unsupported("summary network shape out of range") }
    return arch
  }
}

extension SummaryChoice {
  /// The architecture for data sets of shape `dataShape`: [items, features] for the set and series networks,
  /// [H, W] (one channel) or [H, W, C] images for `conv2d`; flat data ([d]) are refused.
  public func architecture(dataShape: [Int]) throws -> SummaryArchitecture {
    if kind == .conv2d { return try imageArchitecture(dataShape: dataShape) }
    guard dataShape.count == 2 else {
      throw EstimatorError.shapeMismatch(
        "a \(kind.rawValue) summary network needs data sets of shape [items, features], got \(dataShape)")
    }
    return try architecture(items: dataShape[0], width: dataShape[1])
  }
}

extension SummaryChoice {
  /// The ResNet summary for images of shape [H, W] or [H, W, C]; each residual block halves the image.
  func imageArchitecture(dataShape: [Int]) throws -> SummaryArchitecture {
    guard dataShape.count == 2 || dataShape.count == 3, dataShape.allSatisfy({ $0 > 0 }) else {
      throw EstimatorError.shapeMismatch("a conv2d summary network needs images of shape [H, W] or [H, W, C], got \(dataShape)")
    }
    guard summaryDimension > 0 else { throw EstimatorError.unsupported("the summary dimension must be positive") }
    if let w = widths, w.isEmpty || w.contains(where: { $0 <= 0 }) {
      throw EstimatorError.unsupported("summary widths must be positive integers")
    }
    let c = ConvolutionalConfiguration(
      height: dataShape[0], width: dataShape[1], channels: dataShape.count == 3 ? dataShape[2] : 1,
      summaryDimension: summaryDimension, widths: widths)
    guard c.height >> c.widths.count > 0 && c.width >> c.widths.count > 0 else {
      throw EstimatorError.shapeMismatch(
        "\(c.widths.count) residual blocks halve a \(c.height) × \(c.width) image below one pixel")
    }
    let arch = SummaryArchitecture.convolutional(c)
    guard arch.isValidShape else { throw EstimatorError.unsupported("summary network shape out of range") }
    return arch
  }
}

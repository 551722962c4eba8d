// Architecture descriptions of summary networks, for model files.

import NumericCore

/// Which summary network a model uses, with its configuration.
public enum SummaryArchitecture: Sendable, Codable, Equatable {
  case deepSet(DeepSetConfiguration)
  case setTransformer(SetTransformerConfiguration)
  case timeSeries(TimeSeriesConfiguration)
  case convolutional(ConvolutionalConfiguration)

  /// Builds the network with parameters from `rng`.
  public func makeNetwork(rng: inout Xoshiro) -> any SummaryNetwork {
    switch self {
    case .deepSet(let c): return DeepSet(configuration: c, rng: &rng)
    case .setTransformer(let c): return SetTransformer(configuration: c, rng: &rng)
    case .timeSeries(let c): return TimeSeriesNetwork(configuration: c, rng: &rng)
    case .convolutional(let c): return ResNetSummary(configuration: c, rng: &rng)
    }
  }
}

extension SummaryArchitecture {
  /// The number of parameters, counted on the network's parameter layout (shapes only, nothing allocated).
  /// Model loading checks the configuration's shapes against their limits first, so that the count cannot
  /// overflow, and refuses networks above its parameter limit before building them.
  public var parameterCount: Int {
    switch self {
    case .deepSet(let c): return DeepSet.makeLayout(c).0.count
    case .setTransformer(let c): return SetTransformer.makeLayout(c).0.count
    case .timeSeries(let c): return TimeSeriesNetwork.makeLayout(c).0.count
    case .convolutional(let c): return ResNetSummary.makeLayout(c).0.count
    }
  }
}

extension SummaryArchitecture {
  /// The items of one input row: set elements, time steps or pixels, each `width` features (channels) wide.
  public var channelGroups: ChannelGroups {
    switch self {
    case .deepSet(let c): return ChannelGroups(items: c.setSize, width: c.elementDimension)
    case .setTransformer(let c): return ChannelGroups(items: c.setSize, width: c.elementDimension)
    case .timeSeries(let c): return ChannelGroups(items: c.steps, width: c.featureDimension)
    case .convolutional(let c): return ChannelGroups(items: c.height * c.width, width: c.channels)
    }
  }
}

extension SummaryArchitecture {
  /// Whether every size is positive and bounded (and heads divide the attention width, the kernel fits the
  /// series): model loading refuses other shapes, and `makeNetwork` may only be called on valid ones.
  public var isValidShape: Bool {
    switch self {
    case .deepSet(let d):
      let sizes = [d.elementDimension, d.setSize, d.summaryDimension] + d.innerWidths + d.outerWidths
      return sizes.allSatisfy({ $0 > 0 && $0 <= 1 << 20 }) && !d.innerWidths.isEmpty
        && d.innerWidths.count + d.outerWidths.count <= 100 && d.elementDimension * d.setSize <= 1 << 24
    case .setTransformer(let t):
      return [t.elementDimension, t.setSize, t.summaryDimension, t.width, t.heads].allSatisfy({ $0 > 0 && $0 <= 1 << 16 })
        && t.blocks >= 0 && t.blocks <= 64 && t.width % t.heads == 0
    case .timeSeries(let t):
      return [t.featureDimension, t.steps, t.summaryDimension, t.filters, t.kernelSize, t.recurrentDimension, t.stride]
        .allSatisfy({ $0 > 0 && $0 <= 1 << 16 }) && t.kernelSize <= t.steps
    case .convolutional(let c):
      // Each block halves the image, so the image must keep at least one pixel through all of them.
      return [c.height, c.width, c.channels, c.summaryDimension, c.kernelSize].allSatisfy({ $0 > 0 && $0 <= 1 << 16 })
        && !c.widths.isEmpty && c.widths.count <= 16 && c.widths.allSatisfy({ $0 > 0 && $0 <= 1 << 12 })
        && c.kernelSize % 2 == 1 && c.kernelSize <= 15 && c.height >> c.widths.count > 0
        && c.width >> c.widths.count > 0 && c.height * c.width * c.channels <= 1 << 24
    }
  }

  /// The width of one input row (items × features).
  public var inputDimension: Int { channelGroups.items * channelGroups.width }

  /// The width of the summary.
  public var summaryDimension: Int {
    switch self {
    case .deepSet(let c): return c.summaryDimension
    case .setTransformer(let c): return c.summaryDimension
    case .timeSeries(let c): return c.summaryDimension
    case .convolutional(let c): return c.summaryDimension
    }
  }
}

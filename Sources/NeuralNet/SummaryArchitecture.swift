// Architecture descriptions of summary networks, for model files.

import NumericCore

/// Which summary network a model uses, with its configuration.
public enum SummaryArchitecture: Sendable, Codable, Equatable {
  case deepSet(DeepSetConfiguration)
  case setTransformer(SetTransformerConfiguration)
  case timeSeries(TimeSeriesConfiguration)

  /// Builds the network with parameters from `rng`.
  public func makeNetwork(rng: inout Xoshiro) -> any SummaryNetwork {
    switch self {
    case .deepSet(let c): return DeepSet(configuration: c, rng: &rng)
    case .setTransformer(let c): return SetTransformer(configuration: c, rng: &rng)
    case .timeSeries(let c): return TimeSeriesNetwork(configuration: c, rng: &rng)
    }
  }
}

extension SummaryArchitecture {
  /// An upper bound on the number of parameters, computed in floating point so that absurd configurations
  /// (read from a corrupt model file) cannot overflow it; model loading refuses networks above its limit before
  /// allocating anything.
  public var parameterUpperBound: Double {
    func chain(_ widths: [Int]) -> Double {
      zip(widths, widths.dropFirst()).reduce(0) { $0 + (Double($1.0) + 1) * Double($1.1) }
    }
    switch self {
    case .deepSet(let c):
      return chain([c.elementDimension] + c.innerWidths) + chain([c.innerWidths.last ?? 0] + c.outerWidths + [c.summaryDimension])
        + 4 * Double(c.summaryDimension + (c.outerWidths.last ?? 0))
    case .setTransformer(let c):
      let w = Double(c.width)
      // Embedding, per block (attention projections, feed-forward, layer norms), pooling and output.
      return (Double(c.elementDimension) + 1) * w + Double(c.blocks + 2) * (12 * w * w + 16 * w) + (w + 1) * Double(c.summaryDimension)
    case .timeSeries(let c):
      let f = Double(c.filters), r = Double(c.recurrentDimension)
      return (Double(c.kernelSize * c.featureDimension) + 1) * f * 2 + 3 * (f + r + 2) * r + (r + 1) * Double(c.summaryDimension)
        + 4 * (f + r)
    }
  }
}

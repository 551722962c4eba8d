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
  /// The number of parameters, counted on the network's parameter layout (shapes only, nothing allocated).
  /// Model loading checks the configuration's shapes against their limits first, so that the count cannot
  /// overflow, and refuses networks above its parameter limit before building them.
  public var parameterCount: Int {
    switch self {
    case .deepSet(let c): return DeepSet.makeLayout(c).0.count
    case .setTransformer(let c): return SetTransformer.makeLayout(c).0.count
    case .timeSeries(let c): return TimeSeriesNetwork.makeLayout(c).0.count
    }
  }
}

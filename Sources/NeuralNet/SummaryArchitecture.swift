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

// Bridges from the task layer (priors) and the estimator layer (constraint transforms, standardizer) to the
// composition layer's network-space priors and parameter space.

import Composition
import Foundation
import NeuralNet
import NumericCore
import Tasks

extension ParameterConstraint {
  /// The per-coordinate constraint transforms an estimator should use for a prior with this support.
  public func constraints(dimension d: Int) -> [Constraint] {
    switch self {
    case .unbounded: return Array(repeating: .unbounded, count: d)
    case .positive: return Array(repeating: .positive, count: d)
    case .box(let lower, let upper):
      return (0..<d).map { .interval(lower: lower[$0], upper: upper[$0]) }
    }
  }
}

extension ParameterSpace {
  /// The network space of an estimator: its constraint transforms (unbounded → identity, positive → log,
  /// interval → logit with the same ε padding) followed by its standardizer.
  public init(constraints: ConstraintTransform, standardizer: Standardizer) throws {
    let t = constraints.constraints.map { c -> CoordinateTransform in
      switch c {
      case .unbounded: return .identity
      case .positive: return .log
      case .interval(let lo, let hi): return .logit(lower: lo, upper: hi)
      }
    }
    try self.init(transforms: t, shift: standardizer.mean, scale: standardizer.std)
  }
}

/// A task prior seen in network space: Gaussian and box-uniform priors under an affine space keep their closed
/// forms (exactly diffused or time-weighted as asked); every other case uses the prior's original-space score
/// through the chain rule (time-weighted), with a N(0, I)-scaled Gaussian approximation from the prior's moments.
public func compositionPrior(_ prior: any Prior, space: ParameterSpace, diffusion: PriorDiffusion = .exact) throws
  -> any CompositionPrior
{
  guard prior.dimension == space.dimension else {
    throw CompositionError.shapeMismatch("prior of dimension \(prior.dimension), parameter space \(space.dimension)")
  }
  if space.isAffine, let g = prior as? GaussianPrior {
    return try GaussianCompositionPrior(mean: g.meanVector, covariance: g.covariance, space: space, diffusion: diffusion)
  }
  if space.isAffine, let b = prior as? BoxUniformPrior {
    return try BoxUniformCompositionPrior(lower: b.lower, upper: b.upper, space: space, diffusion: diffusion)
  }
  guard prior.score(Matrix(rows: 1, cols: prior.dimension, storage: prior.mean.map(Float.init))) != nil else {
    throw CompositionError.invalidOption("the prior has no score; pass a CompositionPrior directly")
  }
  let d = prior.dimension
  let score: @Sendable (Matrix) -> Matrix = { theta in prior.score(theta) ?? Matrix(rows: theta.rows, cols: d) }
  return TransformedCompositionPrior(space: space, originalScore: score)
}

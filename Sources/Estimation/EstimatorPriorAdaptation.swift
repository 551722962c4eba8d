// Prior adaptation of a trained estimator: the ratio r = p̃/p of the new and the training prior in network space,
// exact for Gaussian (and Gaussian-mixture) new priors over a Gaussian training prior, fitted otherwise
// (PriorGuide, arXiv:2510.13763; Documentation/Methods.md §9.3; Composition/PriorAdaptation.swift: the guidance).
//
// Exact ratio per component: N(θ; a, A)/N(θ; b, B) = c·N(θ; m, R) with R = (A⁻¹ − B⁻¹)⁻¹, m = R(A⁻¹a − B⁻¹b)
// and log c = log N(m; a, A) − log N(m; b, B) − log N(m; m, R) (the quadratic forms agree at every θ, so at m).
// Fitted ratio: draws u_i of the new prior in network space with weights 1/p_u(u_i),
// log p_u(u) = log p_θ(θ(u)) + log|det ∂θ/∂u|, fitted by weighted EM (`GaussianMixtureRatio.fit`).

import Composition
import Diffusion
import Foundation
import NumericCore
import Tasks

/// A Gaussian of original parameters seen in an affine network space u = (θ − shift)/scale.
func networkGaussian(_ g: GaussianPrior, space: ParameterSpace) -> (mean: [Double], covariance: DMatrix) {
  let d = g.dimension
  var c = g.covariance
  for i in 0..<d { for j in 0..<d { c[i, j] /= space.scale[i] * space.scale[j] } }
  return ((0..<d).map { (g.meanVector[$0] - space.shift[$0]) / space.scale[$0] }, c)
}

/// log N(x; μ, C).
func gaussianLogDensity(_ x: [Double], mean: [Double], covariance: DMatrix) throws -> Double {
  let l = try covariance.cholesky()
  let y = l.solveLower(zip(x, mean).map { $0 - $1 })
  var logDet = 0.0
  for i in 0..<x.count { logDet += 2 * log(l[i, i]) }
  return -0.5 * (logDet + Double(x.count) * log(2 * Double.pi) + y.reduce(0) { $0 + $1 * $1 })
}

/// The exact ratio Σ_k w_k N_k / N_train as a Gaussian mixture (nil when some component is not narrower than
/// the training prior, so that its ratio is not a Gaussian).
func exactMixtureRatio(new components: [(weight: Double, mean: [Double], covariance: DMatrix)],
                       trainingMean b: [Double], trainingCovariance bc: DMatrix) -> GaussianMixtureRatio? {
  var logWeights: [Double] = []
  var means: [[Double]] = []
  var covs: [DMatrix] = []
  for c in components {
    guard let r = try? GaussianMixtureRatio.gaussianRatio(newMean: c.mean, newCovariance: c.covariance,
                                                          trainingMean: b, trainingCovariance: bc),
          let la = try? gaussianLogDensity(r.means[0], mean: c.mean, covariance: c.covariance),
          let lb = try? gaussianLogDensity(r.means[0], mean: b, covariance: bc),
          let lm = try? gaussianLogDensity(r.means[0], mean: r.means[0], covariance: r.covariances[0])
    else { return nil }
    logWeights.append(log(c.weight) + la - lb - lm)
    means.append(r.means[0])
    covs.append(r.covariances[0])
  }
  let lse = Special.logSumExp(logWeights)
  return try? GaussianMixtureRatio(weights: logWeights.map { exp($0 - lse) }, means: means, covariances: covs)
}

/// How a new prior was imposed.
public enum PriorAdaptationMethod: String, Sendable {
  /// Ratio guidance with the exact Gaussian(-mixture) ratio.
  case exactRatio = "exact-ratio"
  /// The diffused score difference s_p̃,t − s_p,t (Gaussian priors whose ratio is not a Gaussian).
  case scoreDifference = "score-difference"
  /// Ratio guidance with a fitted Gaussian-mixture ratio.
  case fittedRatio = "fitted-ratio"
}

extension PosteriorEstimator {
  /// The method `priorAdaptation` picks for these priors: exact for Gaussian or Gaussian-mixture new priors over a
  /// Gaussian training prior in an affine network space, fitted otherwise.
  public func priorAdaptationMethod(newPrior: any Prior, trainingPrior: any Prior) throws -> PriorAdaptationMethod {
    let space = try parameterSpace
    guard space.isAffine, let gt = trainingPrior as? GaussianPrior,
          let comps = gaussianComponents(newPrior, space: space) else { return .fittedRatio }
    let t = networkGaussian(gt, space: space)
    if exactMixtureRatio(new: comps, trainingMean: t.mean, trainingCovariance: t.covariance) != nil {
      return .exactRatio
    }
    return newPrior is GaussianPrior ? .scoreDifference : .fittedRatio
  }

  func gaussianComponents(_ prior: any Prior, space: ParameterSpace)
    -> [(weight: Double, mean: [Double], covariance: DMatrix)]?
  {
    let parts: [(Double, GaussianPrior)]
    if let g = prior as? GaussianPrior { parts = [(1, g)] }
    else if let m = prior as? GaussianMixturePrior { parts = Array(zip(m.weights, m.components)) }
    else { return nil }
    return parts.map { w, g in
      let n = networkGaussian(g, space: space)
      return (w, n.mean, n.covariance)
    }
  }

  /// The map base denoiser → denoiser under `newPrior` (see the file header and `priorAdaptationMethod`).
  func priorAdaptation(
    newPrior: any Prior, trainingPrior: any Prior, space: ParameterSpace, schedule: any NoiseSchedule,
    diffusion: PriorDiffusion, options: PriorAdaptationOptions
  ) throws -> (@escaping Denoiser) -> Denoiser {
    guard newPrior.dimension == parameterDimension else {
      throw EstimatorError.shapeMismatch("new prior of dimension \(newPrior.dimension), the model has \(parameterDimension)")
    }
    let kernel = options.kernel
    switch try priorAdaptationMethod(newPrior: newPrior, trainingPrior: trainingPrior) {
    case .exactRatio:
      let t = networkGaussian(trainingPrior as! GaussianPrior, space: space)
      let ratio = exactMixtureRatio(new: gaussianComponents(newPrior, space: space)!, trainingMean: t.mean,
                                    trainingCovariance: t.covariance)!
      return { priorGuided($0, ratio: ratio, schedule: schedule, kernel: kernel) }
    case .scoreDifference:
      let g = newPrior as! GaussianPrior, gt = trainingPrior as! GaussianPrior
      let np = try GaussianCompositionPrior(mean: g.meanVector, covariance: g.covariance, space: space, diffusion: diffusion)
      let tp = try GaussianCompositionPrior(mean: gt.meanVector, covariance: gt.covariance, space: space,
                                            diffusion: diffusion)
      return { priorAdapted($0, newPrior: np, trainingPrior: tp, schedule: schedule) }
    case .fittedRatio:
      let draws = newPrior.sample(count: options.fitSamples, seed: options.seed)
      let u = space.toNetwork(draws)
      let logP = trainingPrior.logDensity(draws)
      let logJ = space.logAbsJacobian(u)
      var rows: [Int] = []
      var logW: [Double] = []
      for r in 0..<u.rows where (0..<u.cols).allSatisfy({ u[r, $0].isFinite }) && logJ[r].isFinite {
        guard logP[r] > -.infinity else {
          throw EstimatorError.unsupported("the new prior puts mass where the training prior has none")
        }
        rows.append(r)
        logW.append(-logP[r] - logJ[r])
      }
      let k = options.components ?? ((newPrior as? GaussianMixturePrior).map { $0.weights.count + 1 } ?? 3)
      let ratio = try GaussianMixtureRatio.fit(samples: u.gatherRows(rows), logWeights: logW, components: k,
                                               iterations: 100, seed: options.seed)
      return { priorGuided($0, ratio: ratio, schedule: schedule, kernel: kernel) }
    }
  }
}

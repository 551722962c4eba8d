// Shared fixtures of the composition tests.

import Foundation
import NumericCore
import Diffusion
import Composition

/// A correlated 2-D Gaussian model in original units, seen by the network through a standardization.
struct GaussianFixture {
  let model: GaussianIIDModel
  let space: ParameterSpace
  let schedule: any NoiseSchedule = EDMSchedule(variance: .preserving)

  init() {
    var pc = DMatrix(rows: 2, cols: 2)
    pc[0, 0] = 4; pc[1, 1] = 1; pc[0, 1] = 0.6; pc[1, 0] = 0.6
    var nc = DMatrix(rows: 2, cols: 2)
    nc[0, 0] = 4; nc[1, 1] = 2; nc[0, 1] = -0.5; nc[1, 0] = -0.5
    model = try! GaussianIIDModel(priorMean: [1, -2], priorCovariance: pc, noiseCovariance: nc)
    space = try! ParameterSpace(transforms: [.identity, .identity], shift: [1, -2], scale: [2, 1])
  }

  func observations(_ n: Int, seed: UInt64 = 3) -> Matrix {
    var rng = Xoshiro(seed: seed)
    return model.simulate(theta: [1.8, -1.5], count: n, rng: &rng)
  }

  var prior: GaussianCompositionPrior {
    try! GaussianCompositionPrior(mean: model.priorMean, covariance: model.priorCovariance, space: space)
  }
}

/// The worst |mean error|/posterior std and the worst relative error of the standard deviations and the
/// correlation error, of samples against a Gaussian.
func momentErrors(_ x: Matrix, mean: [Double], covariance c: DMatrix) -> (mean: Double, std: Double, corr: Double) {
  let (m, s) = sampleMoments(x)
  var me = 0.0, se = 0.0
  for i in 0..<mean.count {
    me = max(me, abs(m[i] - mean[i]) / c[i, i].squareRoot())
    se = max(se, abs(s[i, i].squareRoot() / c[i, i].squareRoot() - 1))
  }
  var ce = 0.0
  if mean.count > 1 {
    let rs = s[0, 1] / (s[0, 0] * s[1, 1]).squareRoot()
    let rc = c[0, 1] / (c[0, 0] * c[1, 1]).squareRoot()
    ce = abs(rs - rc)
  }
  return (me, se, ce)
}

import Foundation
import Testing
import NumericCore
import Diffusion
import Composition

/// Diffused prior scores and the standardization / constraint chain rule against finite differences.
@Suite struct PriorTests {
  let schedule = EDMSchedule(variance: .preserving)

  /// log p_t for a box prior by quadrature: p_t(z) = ∫_a^b N(z; αθ, σ²) dθ/(b − a).
  func boxLogDensity(_ z: Double, a: Double, b: Double, alpha: Double, sigma: Double) -> Double {
    let n = 20000
    let logs = (0..<n).map { i -> Double in
      let th = a + (b - a) * (Double(i) + 0.5) / Double(n)
      let u = (z - alpha * th) / sigma
      return -0.5 * u * u
    }
    return Special.logSumExp(logs)
  }

  @Test func diffusedBoxScoreMatchesQuadrature() throws {
    let prior = try BoxUniformCompositionPrior(lower: [-1], upper: [2])
    for t in [0.2, 0.5, 0.8] {
      let p = schedule.point(t)
      for z in [-1.5, -0.3, 0.7, 1.9, 2.6] {
        let s = Double(prior.score(Matrix(rows: 1, cols: 1, storage: [Float(z)]), at: p)[0, 0])
        let h = 1e-3
        let fd = (boxLogDensity(z + h, a: -1, b: 2, alpha: p.alpha, sigma: p.sigma)
          - boxLogDensity(z - h, a: -1, b: 2, alpha: p.alpha, sigma: p.sigma)) / (2 * h)
        #expect(abs(s - fd) < 2e-3 * max(1, abs(fd)), "t=\(t) z=\(z): \(s) vs \(fd)")
      }
    }
    // Far in the tail the score stays finite and points back to the box.
    let far = prior.score(Matrix(rows: 1, cols: 1, storage: [40]), at: schedule.point(0.01))[0, 0]
    #expect(far.isFinite && far < 0)
  }

  /// The diffused Gaussian prior score equals the exact Gaussian denoiser's score, also after standardization.
  @Test func diffusedGaussianScoreMatchesOracle() throws {
    var c = DMatrix(rows: 2, cols: 2)
    c[0, 0] = 4; c[1, 1] = 1; c[0, 1] = 0.6; c[1, 0] = 0.6
    let space = try ParameterSpace(transforms: [.identity, .identity], shift: [1, -2], scale: [2, 1])
    let prior = try GaussianCompositionPrior(mean: [1, -2], covariance: c, space: space)
    var cs = c
    cs[0, 0] = 1; cs[0, 1] = 0.3; cs[1, 0] = 0.3
    let oracle = try GaussianDenoiser(mean: [0, 0], covariance: cs, schedule: schedule)
    var rng = Xoshiro(seed: 2)
    let z = rng.normalMatrix(rows: 5, cols: 2)
    for t in [0.1, 0.5, 0.9] {
      let p = schedule.point(t)
      let want = Tweedie.scaledScore(denoised: oracle.denoise(z, t), z: z, alpha: p.alpha)
      let got = prior.scaledScore(z, at: p)
      for i in 0..<10 { #expect(abs(got.storage[i] - want.storage[i]) < 1e-4) }
    }
  }

  /// ∇_u log p_u(u) of a log-normal and a box prior seen through log / logit transforms and standardization,
  /// against finite differences of log p_u(u) = log p_θ(θ(u)) + log|dθ/du|.
  @Test func transformedScoreMatchesFiniteDifferences() throws {
    let space = try ParameterSpace(transforms: [.log, .logit(lower: -1, upper: 3)], shift: [0.2, 0.1],
                                   scale: [0.7, 1.6])
    // θ₀ ~ LogNormal(0.3, 0.5²), θ₁ ~ U(−1, 3).
    func logP(_ th: [Double]) -> Double {
      let l = log(th[0])
      return -l - 0.5 * pow((l - 0.3) / 0.5, 2)
    }
    let score: @Sendable (Matrix) -> Matrix = { th in
      var g = Matrix(rows: th.rows, cols: 2)
      for r in 0..<th.rows {
        let x = Double(th[r, 0])
        g[r, 0] = Float(-(1 + (log(x) - 0.3) / 0.25) / x)
      }
      return g
    }
    func logPU(_ u: [Double]) -> Double {
      let phi = (0..<2).map { space.shift[$0] + space.scale[$0] * u[$0] }
      let a = -1 - 1e-6, b = 3 + 1e-6
      let s = 1 / (1 + exp(-phi[1]))
      let th = [exp(phi[0]), a + (b - a) * s]
      let logJac = phi[0] + log((b - a) * s * (1 - s)) + log(space.scale[0]) + log(space.scale[1])
      return logP(th) + logJac
    }
    for u in [[0.3, -0.4], [-1.0, 1.2], [0.8, 0.0]] {
      let got = space.networkScore(Matrix(rows: 1, cols: 2, storage: u.map(Float.init)), originalScore: score)
      for j in 0..<2 {
        var up = u, dn = u
        up[j] += 1e-5
        dn[j] -= 1e-5
        let fd = (logPU(up) - logPU(dn)) / 2e-5
        #expect(abs(Double(got[0, j]) - fd) < 2e-3 * max(1, abs(fd)), "u=\(u) j=\(j)")
      }
    }
  }

  @Test func tweedieRoundTrip() {
    var rng = Xoshiro(seed: 3)
    let z = rng.normalMatrix(rows: 4, cols: 3)
    let x = rng.normalMatrix(rows: 4, cols: 3)
    let s = Tweedie.score(denoised: x, z: z, alpha: 0.8, sigma: 0.6)
    let back = Tweedie.denoised(score: s, z: z, alpha: 0.8, sigma: 0.6)
    for i in 0..<12 { #expect(abs(back.storage[i] - x.storage[i]) < 1e-5) }
  }
}

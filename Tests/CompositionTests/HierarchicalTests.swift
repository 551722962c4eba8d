import Foundation
import Testing
import NumericCore
import Diffusion
import Composition

/// Hierarchical Gaussian: μ ~ N(0, τ₀²), m_g | μ ~ N(μ, τ²), y_gi | m_g ~ N(m_g, σ²), i ≤ n, g ≤ G.
/// Per group ȳ_g | μ ~ N(μ, v), v = τ² + σ²/n, so μ | Y has precision 1/τ₀² + G/v and mean (Σ ȳ_g/v)/precision;
/// m_g | μ, y_g ~ N((μ/τ² + nȳ_g/σ²)/P, 1/P), P = 1/τ² + n/σ².
@Suite struct HierarchicalTests {
  @Test func composedGlobalAndAncestralLocalsMatchClosedForm() throws {
    let (tau0, tau, sigma, n, groups) = (1.0, 0.5, 1.0, 10, 20)
    let v = tau * tau + sigma * sigma / Double(n)
    var rng = Xoshiro(seed: 9)
    let mu = 0.7
    let ybar: [Double] = (0..<groups).map { _ in
      let m = mu + tau * rng.nextNormal()
      return m + sigma / Double(n).squareRoot() * rng.nextNormal()
    }
    let schedule = EDMSchedule(variance: .preserving)
    // Global: the per-group posterior of μ is the i.i.d. Gaussian model with "observation" ȳ_g and noise v.
    let globalModel = try GaussianIIDModel(priorMean: [0], priorCovariance: DMatrix.diagonal([tau0 * tau0]),
                                           noiseCovariance: DMatrix.diagonal([v]))
    let y = Matrix(rows: groups, cols: 1, storage: ybar.map(Float.init))
    let hyperprior = try GaussianCompositionPrior(mean: [0], covariance: DMatrix.diagonal([tau0 * tau0]))
    let p = 1 / (tau * tau) + Double(n) / (sigma * sigma)
    let local: LocalDenoiser = { z, global, group, t in
      let (a, s) = schedule.alphaSigma(t)
      let varL = 1 / p
      let gain = a * varL / (a * a * varL + s * s)
      var out = Matrix(rows: z.rows, cols: 1)
      for r in 0..<z.rows {
        let m = (Double(global[r, 0]) / (tau * tau) + Double(n) * ybar[group[r]] / (sigma * sigma)) / p
        out[r, 0] = Float(m + gain * (Double(z[r, 0]) - a * m))
      }
      return out
    }
    let result = try sampleHierarchical(
      global: globalModel.pairedDenoiser(observations: y, schedule: schedule), hyperprior: hyperprior, local: local,
      groups: groups, localDimension: 1, samples: 1000, schedule: schedule,
      composition: CompositionOptions(method: .gauss(.shared(globalModel.singleObservationPrecision())), clip: nil),
      globalOptions: SamplerOptions(steps: .fixed(200)), localOptions: SamplerOptions(steps: .fixed(100)), seed: 4)
    let pMu = 1 / (tau0 * tau0) + Double(groups) / v
    let meanMu = ybar.reduce(0, +) / v / pMu
    let varMu = 1 / pMu
    let g = sampleMoments(result.global)
    print("global: mean \(g.mean[0]) vs \(meanMu), var \(g.covariance[0, 0]) vs \(varMu)")
    #expect(abs(g.mean[0] - meanMu) < 0.1 * varMu.squareRoot())
    #expect(abs(g.covariance[0, 0].squareRoot() / varMu.squareRoot() - 1) < 0.08)
    var worstMean = 0.0, worstStd = 0.0
    for j in 0..<groups {
      let rows = (0..<1000).map { $0 * groups + j }
      let m = sampleMoments(result.local.gatherRows(rows))
      let shrink = 1 / (tau * tau * p)
      let want = (meanMu / (tau * tau) + Double(n) * ybar[j] / (sigma * sigma)) / p
      let wantVar = shrink * shrink * varMu + 1 / p
      worstMean = max(worstMean, abs(m.mean[0] - want) / wantVar.squareRoot())
      worstStd = max(worstStd, abs(m.covariance[0, 0].squareRoot() / wantVar.squareRoot() - 1))
    }
    print("local: worst mean error \(worstMean) sd, worst std error \(worstStd)")
    #expect(worstMean < 0.15 && worstStd < 0.1)
  }
}

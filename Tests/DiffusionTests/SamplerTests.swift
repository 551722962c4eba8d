import Foundation
import NumericCore
import Testing
import Diffusion

/// Step settings for the sampler matrix: fewer steps than the defaults where the discretization error is still
/// well below the statistical tolerance.
func matrixOptions(_ kind: SamplerKind) -> SamplerOptions {
  switch kind {
  case .twoStepAdaptive, .rk45, .tsit5: return SamplerOptions()
  case .langevin: return SamplerOptions(steps: .fixed(2000))
  case .dpmSolver2M: return SamplerOptions(steps: .fixed(50))
  case .heun, .edmStochastic, .shark: return SamplerOptions(steps: .fixed(100))
  default: return SamplerOptions(steps: .fixed(500))
  }
}

@Suite("Samplers recover Gaussian targets through the exact denoiser")
struct SamplerTests {
  @Test("Every sampler × every schedule, correlated 3-d Gaussian, 4000 samples", arguments: SamplerKind.allCases)
  func matrix(kind: SamplerKind) throws {
    let (mean, cov) = correlatedGaussian(dimension: 3)
    for (k, (name, s)) in samplerSchedules.enumerated() {
      let oracle = try GaussianDenoiser(mean: mean, covariance: cov, schedule: s)
      var rng = Xoshiro(seed: 100 + UInt64(k))
      let z1 = priorSample(rows: 4000, cols: 3, schedule: s, rng: &rng)
      let r = try sample(kind, denoiser: oracle.denoiser, initial: z1, schedule: s, options: matrixOptions(kind), rng: &rng)
      let (zm, zc) = worstZScore(r.samples, mean: mean, covariance: cov)
      print("MATRIX \(kind.rawValue) \(name): z_mean=\(String(format: "%.2f", zm)) z_cov=\(String(format: "%.2f", zc)) evals=\(r.evaluations) rejected=\(r.rejectedSteps)")
      #expect(r.nonFiniteRows == 0)
      #expect(zm < 5 && zc < 5, "\(kind.rawValue) on \(name): worst z-scores \(zm), \(zc)")
    }
  }
}

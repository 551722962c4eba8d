import Foundation
import Testing
import NumericCore
import Diffusion
import Composition

@Suite struct GuidanceTests {
  let schedule = EDMSchedule(variance: .preserving)

  func guidedSamples(_ constraints: [GuidanceConstraint], options: ConstraintGuidanceOptions) throws -> Matrix {
    let oracle = try GaussianDenoiser(mean: [0, 0], covariance: DMatrix.identity(2), schedule: schedule)
    let d = constraintGuided(oracle.denoiser, constraints: constraints, schedule: schedule, options: options)
    var rng = Xoshiro(seed: 8)
    let z1 = priorSample(rows: 2000, cols: 2, schedule: schedule, rng: &rng)
    return try sample(.eulerMaruyama, denoiser: d, initial: z1, schedule: schedule,
                      options: SamplerOptions(steps: .fixed(200)), rng: &rng).samples
  }

  /// Half-plane x₀ + x₁ ≥ 1 (c = 1 − x₀ − x₁ ≤ 0, prior mass 24%) on a standard normal.
  @Test(arguments: [0, 1])
  func halfPlaneGuidanceIsFeasible(jacobian: Int) throws {
    let c = GuidanceConstraint.halfPlane(normal: [-1, -1], offset: -1)
    let x = try guidedSamples([c], options: ConstraintGuidanceOptions(
      jacobian: jacobian == 0 ? .identity : .finiteDifferenceJVP(step: 1e-2)))
    let feasible = (0..<x.rows).filter { x[$0, 0] + x[$0, 1] >= 1 }.count
    print("half-plane feasible (\(jacobian)): \(Double(feasible) / Double(x.rows))")
    #expect(Double(feasible) / Double(x.rows) >= 0.99)
  }

  /// Interval 0.5 ≤ x₀ ≤ 1.5 (prior mass 24%).
  @Test func intervalGuidanceIsFeasible() throws {
    let cs = GuidanceConstraint.interval(coordinate: 0, lower: 0.5, upper: 1.5, dimension: 2)
    let x = try guidedSamples(cs, options: ConstraintGuidanceOptions())
    let feasible = (0..<x.rows).filter { x[$0, 0] >= 0.5 && x[$0, 0] <= 1.5 }.count
    print("interval feasible: \(Double(feasible) / Double(x.rows))")
    #expect(Double(feasible) / Double(x.rows) >= 0.99)
  }

  /// The finite-difference JVP equals the exact (∂x̂/∂z)ᵀ g of the Gaussian denoiser, supplied as a closure.
  @Test func finiteDifferenceJVPMatchesSuppliedJacobian() throws {
    var cov = DMatrix.identity(2)
    cov[0, 1] = 0.5; cov[1, 0] = 0.5
    let oracle = try GaussianDenoiser(mean: [0.3, -0.2], covariance: cov, schedule: schedule)
    let c = GuidanceConstraint.halfPlane(normal: [1, 2], offset: 0.2)
    let exact: GuidanceJacobian = .supplied { z, v, t in
      // ∂x̂/∂z = α Σ (α² Σ + σ² I)⁻¹ (symmetric); probe it with the denoiser's linearity.
      var zp = z
      zp.add(v)
      var jv = oracle.denoise(zp, t)
      jv.add(oracle.denoise(z, t), scale: -1)
      return jv
    }
    var rng = Xoshiro(seed: 4)
    let z = rng.normalMatrix(rows: 6, cols: 2)
    for t in [0.3, 0.7] {
      let a = constraintGuided(oracle.denoiser, constraints: [c], schedule: schedule,
                               options: ConstraintGuidanceOptions(jacobian: exact))(z, t)
      let b = constraintGuided(oracle.denoiser, constraints: [c], schedule: schedule,
                               options: ConstraintGuidanceOptions(jacobian: .finiteDifferenceJVP(step: 1e-2)))(z, t)
      for i in 0..<12 { #expect(abs(a.storage[i] - b.storage[i]) < 1e-3 * max(1, abs(a.storage[i]))) }
    }
  }

  /// Classifier-free guidance: w = 1 gives the conditional denoiser, w = 0 the unconditional one, and the score
  /// is γ s_u + w (s_c − s_u).
  @Test func classifierFreeGuidanceFormula() throws {
    let cond = try GaussianDenoiser(mean: [1, 0], covariance: DMatrix.identity(2, scale: 0.3), schedule: schedule)
    let uncond = try GaussianDenoiser(mean: [0, 0], covariance: DMatrix.identity(2), schedule: schedule)
    var rng = Xoshiro(seed: 6)
    let z = rng.normalMatrix(rows: 5, cols: 2)
    let t = 0.4
    let p = schedule.point(t)
    for (w, g) in [(1.0, 1.0), (0.0, 1.0), (2.5, 0.7)] {
      let x = classifierFreeGuided(conditional: cond.denoiser, unconditional: uncond.denoiser, scale: w,
                                   priorScale: g, schedule: schedule)(z, t)
      let sc = Tweedie.score(denoised: cond.denoise(z, t), z: z, alpha: p.alpha, sigma: p.sigma)
      let su = Tweedie.score(denoised: uncond.denoise(z, t), z: z, alpha: p.alpha, sigma: p.sigma)
      let s = Tweedie.score(denoised: x, z: z, alpha: p.alpha, sigma: p.sigma)
      for i in 0..<10 {
        let want = Double(g) * Double(su.storage[i]) + w * Double(sc.storage[i] - su.storage[i])
        #expect(abs(Double(s.storage[i]) - want) < 1e-3 * max(1, abs(want)))
      }
    }
  }
}

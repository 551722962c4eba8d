import Foundation
import NumericCore
import Testing
import Diffusion

@Suite("Log-density through the probability-flow ODE")
struct LogDensityTests {
  @Test("Exact divergence and Hutchinson match the Gaussian log-density", arguments: ["edm-vp", "edm-ve", "cosine", "rectified-flow"])
  func gaussian(name: String) throws {
    let s = samplerSchedules.first { $0.name == name }!.schedule
    // Zero mean, so that the N(0, s²I) prior at t = 1 matches the true marginal up to α₁²(Σ − I) ≈ 1e-4 (a
    // non-zero mean adds an error ≈ α₁ μ·z₁ that is the method's, not the integrator's).
    let cov = correlatedGaussian(dimension: 3).covariance
    let mean = [0.0, 0.0, 0.0]
    let oracle = try GaussianDenoiser(mean: mean, covariance: cov, schedule: s)
    var rng = Xoshiro(seed: 3)
    let l = try cov.cholesky()
    var x = Matrix(rows: 100, cols: 3)
    for r in 0..<100 {
      let v = rng.nextMultivariateNormal(mean: mean, choleskyFactor: l)
      for j in 0..<3 { x[r, j] = Float(v[j]) }
    }
    let truth = try oracle.logDensity(x)
    let exact = try logDensity(of: x, denoiser: oracle.denoiser, schedule: s, steps: 60, rng: &rng)
    let errExact = zip(exact.logDensity, truth).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
    let hutch = try logDensity(
      of: x, denoiser: oracle.denoiser, schedule: s, steps: 60, divergence: .hutchinson(probes: 4), rng: &rng)
    let diffs = zip(hutch.logDensity, truth).map { $0 - $1 }
    let meanErr = diffs.reduce(0, +) / Double(diffs.count)
    let sd = (diffs.reduce(0) { $0 + ($1 - meanErr) * ($1 - meanErr) } / Double(diffs.count - 1)).squareRoot()
    print("log-density \(name): exact max error \(String(format: "%.2e", errExact)) (\(exact.evaluations) evaluations), Hutchinson mean error \(String(format: "%.2e", meanErr)) sd \(String(format: "%.2e", sd))")
    #expect(errExact < 1e-2, "exact divergence on \(name): \(errExact)")
    // Hutchinson is unbiased: its mean error is within 4 standard errors of 0 (plus the exact method's error).
    #expect(abs(meanErr) < 4 * sd / Double(diffs.count).squareRoot() + 5e-3, "Hutchinson on \(name): \(meanErr)")
  }
}

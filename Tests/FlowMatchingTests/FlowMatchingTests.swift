import Diffusion
import Foundation
import NumericCore
import Testing
import TestSupport

import FlowMatching

@Suite struct FlowMatchingTests {
  let target = GaussianFlow.example

  /// The flow map of a Gaussian target is affine, x₁ = b + M x₀: integrating the rows 0, e₁, …, e_d gives b and M,
  /// and the pushed-forward N(0, I) is N(b, M Mᵀ) exactly.
  func affineMap(_ out: Matrix) -> (b: [Double], cov: DMatrix) {
    let d = out.cols
    let b = (0..<d).map { Double(out[0, $0]) }
    var m = DMatrix(rows: d, cols: d)
    for k in 0..<d { for j in 0..<d { m[j, k] = Double(out[k + 1, j]) - b[j] } }
    return (b, m * m.transposed)
  }

  @Test("Every ODE solver integrates the exact Gaussian velocity to the target mean and covariance",
    arguments: [
      (SamplerKind.odeEuler, StepControl.fixed(1000), 5e-3), (.heun, .fixed(200), 2e-3),
      (.rk45, .adaptive(.bayesFlowODE), 2e-3), (.tsit5, .adaptive(.bayesFlowODE), 2e-3), (.rk45, .fixed(50), 2e-3),
      (.tsit5, .adaptive(.ode), 2e-3),
      (.dpmSolver2M, .fixed(200), 5e-3),
    ])
  func solvers(kind: SamplerKind, steps: StepControl, tolerance: Double) throws {
    let d = target.d
    var initial = Matrix(rows: d + 1, cols: d)
    for k in 0..<d { initial[k + 1, k] = 1 }
    var rng = Xoshiro(seed: 1)
    let flow = target
    let r = try sampleFlowMatching(
      kind, velocity: { flow.velocity($0, $1) }, initial: initial, options: SamplerOptions(steps: steps), rng: &rng)
    let (b, cov) = affineMap(r.samples)
    for j in 0..<d { #expect(abs(b[j] - target.mean[j]) < tolerance, "\(kind) mean \(j): \(b[j])") }
    for i in 0..<(d * d) {
      #expect(abs(cov.values[i] - target.covariance.values[i]) < 2 * tolerance, "\(kind) cov \(i): \(cov.values[i])")
    }
  }

  @Test("Stochastic samplers with the velocity-derived score draw the Gaussian target (4000 samples, 5 SE)",
    arguments: [SamplerKind.eulerMaruyama, .twoStepAdaptive])
  func stochastic(kind: SamplerKind) throws {
    var rng = Xoshiro(seed: 2)
    let flow = target
    let x0 = rng.normalMatrix(rows: 4000, cols: target.d)
    let steps: StepControl? = kind == .eulerMaruyama ? .fixed(300) : nil
    let r = try sampleFlowMatching(
      kind, velocity: { flow.velocity($0, $1) }, initial: x0, options: SamplerOptions(steps: steps), rng: &rng)
    let z = worstZ(r.samples)
    #expect(z.mean < 5 && z.cov < 5, "\(kind): z-scores \(z)")
  }

  func worstZ(_ x: Matrix) -> (mean: Double, cov: Double) {
    let (n, d) = (Double(x.rows), x.cols)
    let (m, v) = x.columnMeanVariance()
    var zm = 0.0, zc = 0.0
    for i in 0..<d {
      let s = target.covariance[i, i]
      zm = max(zm, abs(m[i] - target.mean[i]) / (s / n).squareRoot())
      for j in 0..<d {
        var c = 0.0
        for r in 0..<x.rows { c += (Double(x[r, i]) - m[i]) * (Double(x[r, j]) - m[j]) }
        c /= n - 1
        let se = ((s * target.covariance[j, j] + pow(target.covariance[i, j], 2)) / n).squareRoot()
        zc = max(zc, abs(c - target.covariance[i, j]) / se)
      }
      _ = v
    }
    return (zm, zc)
  }

  @Test("velocity → score matches the exact Gaussian score; score → velocity and velocity ↔ denoised round-trip")
  func conversions() throws {
    var rng = Xoshiro(seed: 3)
    let x = rng.normalMatrix(rows: 16, cols: target.d, std: 1.5)
    for s in [0.01, 0.2, 0.5, 0.8, 0.97] {
      let v = target.velocity(x, s)
      let sc = VelocityConversion.score(velocity: v, state: x, flowTime: s)
      let exact = target.score(x, s)
      #expect(maxDifference(sc, exact) < 2e-4 * max(1, 1 / (1 - s)), "s = \(s)")
      let back = VelocityConversion.velocity(score: exact, state: x, flowTime: s)
      #expect(maxDifference(back, v) < 1e-3 / s, "s = \(s)")
      let xh = VelocityConversion.denoised(velocity: v, state: x, flowTime: s)
      #expect(maxDifference(VelocityConversion.velocity(denoised: xh, state: x, flowTime: s), v) < 1e-3)
    }
  }

  @Test("The velocity as a denoiser equals the Diffusion module's exact Gaussian denoiser on the rectified-flow path")
  func denoiserAdapter() throws {
    let schedule = RectifiedFlowSchedule()
    let oracle = try GaussianDenoiser(mean: target.mean, covariance: target.covariance, schedule: schedule)
    let flow = target
    let den = try denoiser(velocity: { flow.velocity($0, $1) }, schedule: schedule)
    let sc = try score(velocity: { flow.velocity($0, $1) }, schedule: schedule)
    var rng = Xoshiro(seed: 4)
    let z = rng.normalMatrix(rows: 8, cols: target.d)
    for t in [0.05, 0.3, 0.6, 0.95] {
      #expect(maxDifference(den(z, t), oracle.denoise(z, t)) < 1e-4, "t = \(t)")
      let s = flowTime(diffusionTime: t, schedule: schedule)
      #expect(maxDifference(sc(z, t), target.score(z, s)) < 1e-3, "t = \(t)")
    }
    let v = try velocity(score: sc, schedule: schedule)
    #expect(maxDifference(v(z, 0.4), target.velocity(z, 0.4)) < 1e-3)
    #expect(throws: FlowMatchingError.self) { try denoiser(velocity: { x, _ in x }, schedule: EDMSchedule()) }
  }

  @Test("Log-density through the flow-matching ODE matches the Gaussian log-density")
  func logDensityMatches() throws {
    var rng = Xoshiro(seed: 5)
    let flow = target
    var x = rng.normalMatrix(rows: 6, cols: target.d)
    for r in 0..<x.rows { for j in 0..<target.d { x[r, j] += Float(target.mean[j]) } }
    let res = try flowMatchingLogDensity(of: x, velocity: { flow.velocity($0, $1) }, steps: 60, rng: &rng)
    let exact = target.logDensity(x)
    for r in 0..<x.rows { #expect(abs(res.logDensity[r] - exact[r]) < 0.02, "row \(r): \(res.logDensity[r]) vs \(exact[r])") }
  }

  @Test("Loss inputs follow the linear path; the loss gradient matches finite differences; zero at the target")
  func lossInputs() throws {
    var rng = Xoshiro(seed: 6)
    let x1 = rng.normalMatrix(rows: 5, cols: 3)
    let x0 = rng.normalMatrix(rows: 5, cols: 3)
    let times = [0.0, 0.25, 0.5, 0.9, 1.0]
    let b = try flowMatchingLossInputs(data: x1, noise: x0, times: times)
    for i in 0..<5 {
      for j in 0..<3 {
        let s = Float(times[i])
        #expect(abs(b.networkInput[i, j] - (s * x1[i, j] + (1 - s) * x0[i, j])) < 1e-6)
        #expect(abs(b.target[i, j] - (x1[i, j] - x0[i, j])) < 1e-6)
      }
    }
    #expect(try flowMatchingLoss(b, output: b.target).loss == 0)
    let out = rng.normalMatrix(rows: 5, cols: 3)
    let (l0, g) = try flowMatchingLoss(b, output: out)
    for k in [0, 4, 7, 14] {
      var p = out
      p.withUnsafeMutableBufferPointer { $0[k] += 1e-2 }
      var m = out
      m.withUnsafeMutableBufferPointer { $0[k] -= 1e-2 }
      let fd = (try flowMatchingLoss(b, output: p).loss - flowMatchingLoss(b, output: m).loss) / 2e-2
      #expect(abs(fd - Double(g.storage[k])) < 1e-3, "k = \(k)")
    }
    #expect(l0 > 0)
    #expect(throws: FlowMatchingError.self) { try flowMatchingLossInputs(data: x1, noise: x0, times: [0.5]) }
  }

  @Test("Power-law times: E[s] = 1/(2 + α), density integrates to one, α ≤ −1 is rejected")
  func timeSampling() throws {
    var rng = Xoshiro(seed: 7)
    for sampling in [FlowTimeSampling.uniform, .edm, .powerLaw(alpha: 1)] {
      let ts = try sampling.times(count: 20_000, rng: &rng)
      let mean = ts.reduce(0, +) / Double(ts.count)
      #expect(abs(mean - 1 / (1 + sampling.exponent)) < 2e-3, "\(sampling): \(mean)")
      #expect(ts.allSatisfy { $0 >= 0 && $0 <= 1 })
      let n = 100_000
      let integral = (0..<n).reduce(0.0) { $0 + sampling.density((Double($1) + 0.5) / Double(n)) } / Double(n)
      #expect(abs(integral - 1) < 1e-2, "\(sampling): ∫ density = \(integral)")
    }
    #expect(throws: FlowMatchingError.self) { _ = try FlowTimeSampling.powerLaw(alpha: -1).times(count: 4, rng: &rng) }
  }
}

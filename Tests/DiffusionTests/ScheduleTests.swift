import Foundation
import NumericCore
import Testing
import Diffusion

@Suite("Noise schedules")
struct ScheduleTests {
  @Test("λ decreases strictly, and everything is finite at both ends", arguments: allSchedules.map(\.name))
  func monotoneAndFinite(name: String) {
    let s = allSchedules.first { $0.name == name }!.schedule
    var previous = Double.infinity
    for i in 0...2000 {
      let t = Double(i) / 2000
      let l = s.logSNR(t)
      #expect(l < previous, "λ not decreasing at t=\(t) for \(name)")
      previous = l
    }
    for t in [0.0, 1.0] {
      let p = s.point(t)
      for v in [p.logSNR, p.alpha, p.sigma, p.dLogSNR, p.drift, p.diffusionSquared, s.trainingLogSNR(t)] {
        #expect(v.isFinite, "\(name) not finite at t=\(t)")
      }
      #expect(p.sigma > 0 && p.alpha > 0 && p.dLogSNR < 0)
    }
    #expect(abs(s.logSNR(1) - s.logSNRMin) < 1e-9 * max(1, abs(s.logSNRMin)))
    #expect(abs(s.logSNR(0) - s.logSNRMax) < 1e-9 * max(1, abs(s.logSNRMax)))
    #expect(abs(s.timeInput(logSNR: s.logSNRMin) + 1) < 1e-12 && abs(s.timeInput(logSNR: s.logSNRMax) - 1) < 1e-12)
  }

  @Test("t(λ(t)) = t", arguments: allSchedules.map(\.name))
  func inverse(name: String) {
    let s = allSchedules.first { $0.name == name }!.schedule
    for i in 0...400 {
      let t = Double(i) / 400
      #expect(abs(s.time(logSNR: s.logSNR(t)) - t) < 1e-8, "\(name) at t=\(t)")
    }
  }

  @Test("α, σ follow the variance type", arguments: allSchedules.map(\.name))
  func alphaSigma(name: String) {
    let s = allSchedules.first { $0.name == name }!.schedule
    for i in 0...100 {
      let t = Double(i) / 100
      let l = s.logSNR(t)
      let (a, sg) = s.alphaSigma(t)
      #expect(abs(log(a * a / (sg * sg)) - l) < 1e-9 * max(1, abs(l)), "λ = log α²/σ² for \(name)")
      switch s.variance {
      case .preserving: #expect(abs(a * a + sg * sg - 1) < 1e-12)
      case .exploding: #expect(a == 1)
      case .subPreserving: #expect(abs(sg - (1 - a * a)) < 1e-12)
      case .rectifiedFlow: #expect(abs(a + sg - 1) < 1e-12)
      }
    }
  }

  @Test("dλ/dt, f and g² match finite differences", arguments: allSchedules.map(\.name))
  func derivatives(name: String) {
    let s = allSchedules.first { $0.name == name }!.schedule
    for i in 1..<50 {
      let t = Double(i) / 50
      let h = 1e-6
      let fdL = (s.logSNR(t + h) - s.logSNR(t - h)) / (2 * h)
      #expect(abs(fdL - s.dLogSNR(t)) < 1e-5 * abs(s.dLogSNR(t)), "\(name) dλ/dt at \(t)")
      // f = d log α/dt, g² = dσ²/dt − 2 f σ².
      let la = { (u: Double) in log(s.alphaSigma(u).alpha) }
      let s2 = { (u: Double) in pow(s.alphaSigma(u).sigma, 2) }
      let fdF = (la(t + h) - la(t - h)) / (2 * h)
      #expect(abs(fdF - s.driftCoefficient(t)) < 1e-5 * max(1, abs(fdF)), "\(name) f at \(t)")
      let fdS2 = (s2(t + h) - s2(t - h)) / (2 * h)
      let g2 = fdS2 - 2 * fdF * s2(t)
      #expect(abs(g2 - s.diffusionSquared(t)) < 1e-5 * max(1, abs(g2)), "\(name) g² at \(t)")
      #expect(s.diffusionSquared(t) > 0)
    }
  }

  @Test("EDM constants: λ range, lognormal training map, correct VE SDE and prior")
  func edmConstants() {
    let vp = EDMSchedule(variance: .preserving), ve = EDMSchedule(variance: .exploding)
    #expect(abs(vp.logSNRMin - (-2 * log(80.0))) < 1e-12 && abs(vp.logSNRMax - (-2 * log(1e-4))) < 1e-12)
    // λ ~ N(2.4, 2.4²): the median is 2.4 and Φ(1) sits one standard deviation away.
    #expect(abs(vp.trainingLogSNR(0.5) - 2.4) < 1e-9)
    #expect(abs(vp.trainingLogSNR(1 - Special.normalCDF(1)) - 4.8) < 1e-6)
    #expect(vp.trainingLogSNR(0) == vp.logSNRMax + 1 && vp.trainingLogSNR(1) == vp.logSNRMin - 1)
    // ρ-schedule: σ_e(t) = (σ_max^{1/ρ} + (1 − t)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ.
    let t = 0.3
    let sigmaE = pow(pow(80, 1 / 7.0) + 0.7 * (pow(1e-4, 1 / 7.0) - pow(80, 1 / 7.0)), 7)
    #expect(abs(ve.alphaSigma(t).sigma - sigmaE) < 1e-10 * sigmaE)
    // VE: f = 0, g² = dσ²/dt (not β), prior ≈ N(0, σ_max²).
    let h = 1e-6
    let ds2 = (pow(ve.alphaSigma(t + h).sigma, 2) - pow(ve.alphaSigma(t - h).sigma, 2)) / (2 * h)
    #expect(ve.driftCoefficient(t) == 0)
    #expect(abs(ve.diffusionSquared(t) - ds2) < 1e-6 * ds2)
    #expect(abs(ve.priorStandardDeviation - 80) < 0.01)
    #expect(abs(vp.priorStandardDeviation - 1) < 1e-12)
  }

  @Test("Cosine truncation: λ ∈ [−15, 15] and t_min ≈ 3.5e-4")
  func cosineConstants() {
    let c = CosineSchedule()
    #expect(abs(c.logSNR(0) - 15) < 1e-9 && abs(c.logSNR(1) + 15) < 1e-9)
    #expect(abs(2 / Double.pi * atan(exp(-7.5)) - 3.5e-4) < 1e-5)
    // Untruncated midpoint λ(t̃ = ½) = 0 sits at the middle of the symmetric range.
    #expect(abs(c.logSNR(0.5)) < 1e-9)
  }

  @Test("Linear-β VP matches its closed form α² = exp(−β_min s − ½Δβ s²)")
  func linearClosedForm() {
    let s = LinearBetaSchedule(variance: .preserving)
    for t in [0.1, 0.5, 0.9] {
      let u = 1e-5 + (1 - 1e-5) * t
      let a2 = exp(-(0.1 * u + 0.5 * 19.9 * u * u))
      #expect(abs(pow(s.alphaSigma(t).alpha, 2) - a2) < 1e-12)
      // VP SDE: f = −½β, g² = β.
      let beta = 0.1 + 19.9 * u
      #expect(abs(s.driftCoefficient(t) + 0.5 * beta * (1 - 1e-5)) < 1e-9)
      #expect(abs(s.diffusionSquared(t) - beta * (1 - 1e-5)) < 1e-9)
    }
  }

  @Test("Schedule kinds map the command-line names")
  func kinds() throws {
    #expect(try ScheduleKind(rawValue: "sub-vp")!.make().variance == .subPreserving)
    #expect(try ScheduleKind.edm.make(variance: .exploding).variance == .exploding)
    #expect(throws: DiffusionError.self) { try ScheduleKind.edm.make(variance: .rectifiedFlow) }
  }
}

@Test("Time grids run from 1 to 0, uniform in t or in λ")
func timeGrids() {
  let u = TimeGrid.uniform(steps: 4)
  #expect(u == [1, 0.75, 0.5, 0.25, 0])
  for (name, s) in allSchedules {
    let g = TimeGrid.uniformLogSNR(steps: 20, schedule: s)
    #expect(g.first == 1 && g.last == 0 && g.count == 21)
    let l = g.map { s.logSNR($0) }
    let step = (s.logSNRMax - s.logSNRMin) / 20
    for i in 1..<l.count { #expect(abs(l[i] - l[i - 1] - step) < 1e-6 * max(1, abs(step)), "\(name)") }
  }
}

@Test("The default configuration is the review's recommendation with the measured default sampler, and round-trips through JSON")
func configuration() throws {
  let c = DiffusionConfiguration()
  #expect(c.schedule == .edm && c.variance == .preserving && c.prediction == .F && c.weighting == .edm)
  #expect(c.sampler == .edmStochastic && SamplerKind.edmStochastic.defaultSteps == .fixed(25))
  let s = try c.makeSchedule()
  #expect(s is EDMSchedule && s.variance == .preserving)
  let data = try JSONEncoder().encode(DiffusionConfiguration(schedule: .subVP, prediction: .eps, sampler: .dpmSolver2M))
  let back = try JSONDecoder().decode(DiffusionConfiguration.self, from: data)
  #expect(back.schedule == .subVP && back.prediction == .eps && back.sampler == .dpmSolver2M)
  #expect(String(data: data, encoding: .utf8)!.contains("\"sub-vp\""))
}

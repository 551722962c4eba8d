import Foundation
import NumericCore
import Testing
import Diffusion

@Suite("Fused sampler updates, error norms and sampler choices")
struct SamplerFusionTests {
  @Test("Kernels.linearCombination equals the chain of axpy passes, also in place over an operand")
  func linearCombination() {
    var rng = Xoshiro(seed: 4)
    for n in [0, 1, 7, 8, 9, 1003] {
      let x = (0..<n).map { _ in Float(rng.nextNormal()) }
      let y1 = (0..<n).map { _ in Float(rng.nextNormal()) }
      let y2 = (0..<n).map { _ in Float(rng.nextNormal()) }
      var expected = x.map { 0.7 * $0 }
      for i in 0..<n { expected[i] += -1.5 * y1[i] }
      for i in 0..<n { expected[i] += 0.25 * y2[i] }
      var out = [Float](repeating: .nan, count: n)
      x.withUnsafeBufferPointer { px in
        y1.withUnsafeBufferPointer { p1 in
          y2.withUnsafeBufferPointer { p2 in
            out.withUnsafeMutableBufferPointer { po in
              guard let o = po.baseAddress else { return }
              Kernels.linearCombination(
                count: n, 0.7, px.baseAddress!, terms: [(-1.5, p1.baseAddress!), (0.25, p2.baseAddress!)], into: o)
            }
          }
        }
      }
      for i in 0..<n { #expect(abs(out[i] - expected[i]) <= 1e-6 * (1 + abs(expected[i])), "n \(n) i \(i)") }
      // In place: z = 2z + 1·y1 over z's own storage.
      var z = x
      y1.withUnsafeBufferPointer { p1 in
        z.withUnsafeMutableBufferPointer { pz in
          guard let b = pz.baseAddress else { return }
          Kernels.linearCombination(count: n, 2, UnsafePointer(b), terms: [(1, p1.baseAddress!)], into: b)
        }
      }
      for i in 0..<n { #expect(abs(z[i] - (2 * x[i] + y1[i])) <= 1e-6 * (1 + abs(z[i]))) }
    }
  }

  @Test("fillNormal draws exactly the values of nextNormal, in turn, tails included")
  func fillNormalMatchesScalarDraws() {
    var a = Xoshiro(seed: 12)
    var b = Xoshiro(seed: 12)
    let n = 200_003
    var buffer = [Float](repeating: 0, count: n)
    buffer.withUnsafeMutableBufferPointer { a.fillNormal($0, mean: 0.5, std: 2) }
    var tails = 0
    for i in 0..<n {
      let v = b.nextNormal()
      if abs(v) > 3.44 { tails += 1 }
      #expect(buffer[i] == 0.5 + 2 * Float(v))
      if buffer[i] != 0.5 + 2 * Float(v) { break }
    }
    #expect(tails > 0, "the run must reach the ziggurat's tail")
    #expect(a == b, "both streams end in the same state")
    var m = Matrix(rows: 3, cols: 5)
    var c = Xoshiro(seed: 3), d = Xoshiro(seed: 3)
    c.fillNormal(&m)
    #expect(m.storage == d.normalMatrix(rows: 3, cols: 5).storage)
  }

  @Test("The RMS error norm: exact in law, and its step count does not grow with the batch as the maximum's does")
  func rmsNorm() throws {
    let (mean, cov) = correlatedGaussian(dimension: 3)
    let s = EDMSchedule()
    let oracle = try GaussianDenoiser(mean: mean, covariance: cov, schedule: s)
    for kind in [SamplerKind.tsit5, .rk45, .twoStepAdaptive] {
      var evaluations: [String: Int] = [:]
      for norm in AdaptiveErrorNorm.allCases {
        for rows in [500, 20_000] {
          var rng = Xoshiro(seed: 21)
          let z1 = priorSample(rows: rows, cols: 3, schedule: s, rng: &rng)
          let r = try sample(kind, denoiser: oracle.denoiser, initial: z1, schedule: s,
                             options: SamplerOptions(errorNorm: norm, minimumSteps: 4), rng: &rng)
          let (zm, zc) = worstZScore(r.samples, mean: mean, covariance: cov)
          print("\(kind.rawValue) \(norm.rawValue) \(rows) rows: evaluations \(r.evaluations), z_mean \(format(zm)), z_cov \(format(zc))")
          #expect(r.nonFiniteRows == 0)
          if rows > 500 { #expect(zm < 5 && zc < 5, "\(kind.rawValue) \(norm.rawValue): \(zm), \(zc)") }
          evaluations["\(norm.rawValue) \(rows)"] = r.evaluations
        }
      }
      let (small, large) = (evaluations["rms 500"]!, evaluations["rms 20000"]!)
      #expect(Double(large) <= 1.25 * Double(small) + 6, "\(kind.rawValue): \(evaluations)")
    }
  }

  @Test("The least number of adaptive steps is honoured: 10 by default for rk45/tsit5, 50 with BayesFlow's rule")
  func minimumSteps() throws {
    let (mean, cov) = correlatedGaussian(dimension: 2)
    let s = EDMSchedule()
    let oracle = try GaussianDenoiser(mean: mean, covariance: cov, schedule: s)
    var rng = Xoshiro(seed: 2)
    let z1 = priorSample(rows: 500, cols: 2, schedule: s, rng: &rng)
    let plain = try sample(.tsit5, denoiser: oracle.denoiser, initial: z1, schedule: s, rng: &rng)
    #expect(plain.steps >= 10)
    let bayesFlow = try sample(.tsit5, denoiser: oracle.denoiser, initial: z1, schedule: s,
                               options: SamplerOptions(steps: .adaptive(.bayesFlowODE)), rng: &rng)
    #expect(bayesFlow.steps >= 50)
    let review = try sample(.twoStepAdaptive, denoiser: oracle.denoiser, initial: z1, schedule: s, rng: &rng)
    #expect(review.steps >= 50, "the two-step sampler keeps the review's control")
    let few = try sample(.tsit5, denoiser: oracle.denoiser, initial: z1, schedule: s,
                         options: SamplerOptions(errorNorm: .rms, minimumSteps: 3), rng: &rng)
    #expect(few.steps >= 3 && few.steps < 50, "\(few.steps) steps")
  }

  @Test("Sampler choices parse NAME, NAME:N and NAME:rms[:MIN], and refuse the rest")
  func choices() {
    #expect(SamplerChoice(parsing: "heun") == SamplerChoice(.heun))
    #expect(SamplerChoice(parsing: "dpm-solver-2m:25") == SamplerChoice(.dpmSolver2M, steps: 25))
    #expect(SamplerChoice(parsing: "tsit5:rms") == SamplerChoice(.tsit5, errorNorm: .rms))
    #expect(SamplerChoice(parsing: "tsit5:rms:4") == SamplerChoice(.tsit5, errorNorm: .rms, minimumSteps: 4))
    #expect(SamplerChoice(parsing: "two-step-adaptive:max")?.errorNorm == .batchMaximum)
    for bad in ["", "nope", "heun:0", "heun:rms", "tsit5:rms:0", "tsit5:abc", "heun:25:3", "tsit5:rms:4:1"] {
      #expect(SamplerChoice(parsing: bad) == nil, "\(bad)")
    }
    #expect(SamplerChoice(parsing: "tsit5:rms:4")!.description == "tsit5:rms:4")
    #expect(SamplerChoice().label(default: .dpmSolver2M) == "dpm-solver-2m")
    let o = SamplerChoice(.tsit5, errorNorm: .rms, minimumSteps: 4).options
    #expect(o.errorNorm == .rms && o.minimumSteps == 4 && o.steps == nil)
    #expect(SamplerChoice(.heun, steps: 7).options.steps == .fixed(7))
  }
}

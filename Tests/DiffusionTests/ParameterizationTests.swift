import Foundation
import NumericCore
import Testing
import TestSupport
import Diffusion

@Suite("Parameterizations, weightings and the training loss")
struct ParameterizationTests {
  @Test("x̂ → prediction → x̂ is the identity, and the target gives x̂ = θ", arguments: Prediction.allCases)
  func roundTrip(prediction: Prediction) throws {
    var rng = Xoshiro(seed: 1)
    let theta = rng.normalMatrix(rows: 16, cols: 3)
    let eps = rng.normalMatrix(rows: 16, cols: 3)
    for (name, s) in allSchedules {
      for t in [0.0, 0.05, 0.3, 0.7, 1.0] {
        let (a, sg) = s.alphaSigma(t)
        let c = prediction.coefficients(alpha: a, sigma: sg, sigmaData: s.sigmaData)
        var z = theta
        z.scale(by: Float(a))
        z.add(eps, scale: Float(sg))
        let oracle = try GaussianDenoiser(mean: [0, 0, 0], covariance: .identity(3), schedule: s)
        let xhat = oracle.denoise(z, t)
        let back = c.denoised(output: c.output(denoised: xhat, z: z), z: z)
        let scale = 1 + Double(maxAbsolute(z)) * abs(c.a) + 1
        #expect(maxDifference(back, xhat) < 1e-5 * scale, "\(prediction) \(name) t=\(t)")
        // target = p θ + q ε is the output whose x̂ is θ (compare in θ units).
        var target = theta
        target.scale(by: Float(c.p))
        target.add(eps, scale: Float(c.q))
        let fromTarget = c.denoised(output: target, z: z)
        if sg / a < 1e3 && a / sg < 1e3 {
          #expect(maxDifference(fromTarget, theta) < 2e-4 * scale, "\(prediction) \(name) t=\(t)")
        }
      }
    }
  }

  @Test("EDM preconditioning equals Karras et al. Table 1 for variance exploding")
  func edmPreconditioning() {
    for sigma in [0.01, 0.5, 2.0, 80.0] {
      let sd = 0.5
      let e = EDMPreconditioning(alpha: 1, sigma: sigma, sigmaData: sd)
      #expect(abs(e.cSkip - sd * sd / (sigma * sigma + sd * sd)) < 1e-14)
      #expect(abs(e.cOut - sigma * sd / (sigma * sigma + sd * sd).squareRoot()) < 1e-14)
      #expect(abs(e.cIn - 1 / (sigma * sigma + sd * sd).squareRoot()) < 1e-14)
      #expect(abs(e.cNoise - log(sigma) / 4) < 1e-14)
      let c = Prediction.F.coefficients(alpha: 1, sigma: sigma, sigmaData: sd)
      #expect(abs(c.inputScale - e.cIn) < 1e-14 && abs(c.a - e.cSkip) < 1e-14 && abs(c.b - e.cOut) < 1e-14)
    }
  }

  @Test("EDM weighting turns the ε-loss of F-prediction into the unit-weight F-loss")
  func edmWeightingIsFLoss() throws {
    var rng = Xoshiro(seed: 2)
    for variance in [VarianceType.preserving, .exploding] {
      let s = EDMSchedule(variance: variance, sigmaData: 0.8)
      let theta = rng.normalMatrix(rows: 64, cols: 2)
      let batch = try diffusionLossInputs(
        theta: theta, noise: rng.normalMatrix(rows: 64, cols: 2), times: stratifiedTimes(count: 64, rng: &rng),
        schedule: s, prediction: .F, weighting: .edm)
      for v in batch.rowScale { #expect(abs(v - 1) < 1e-5) }
    }
  }

  @Test("Loss value equals w·mean(ε̂ − ε)² through x̂, and dLoss/dOutput matches finite differences",
        arguments: Prediction.allCases)
  func lossAndGradient(prediction: Prediction) throws {
    var rng = Xoshiro(seed: 3)
    for (name, s) in allSchedules {
      for weighting in LossWeighting.allCases {
        let (n, d) = (8, 3)
        let theta = rng.normalMatrix(rows: n, cols: d)
        let eps = rng.normalMatrix(rows: n, cols: d)
        // Times away from the extreme ends, where ε̂ through x̂ loses Float precision.
        let times = (0..<n).map { 0.1 + 0.8 * Double($0) / Double(n - 1) }
        let batch = try diffusionLossInputs(
          theta: theta, noise: eps, times: times, schedule: s, prediction: prediction, weighting: weighting)
        var output = batch.target
        output.add(rng.normalMatrix(rows: n, cols: d, std: 0.3))
        let (loss, grad) = diffusionLoss(batch, output: output)
        // Reference in Double: ε̂ = (z − α x̂)/σ with x̂ = a z + b·output.
        var ref = 0.0
        for i in 0..<n {
          let l = batch.logSNR[i]
          let (a, sg) = s.variance.alphaSigma(logSNR: l)
          let c = prediction.coefficients(alpha: a, sigma: sg, sigmaData: s.sigmaData)
          var sq = 0.0
          for j in 0..<d {
            let z = a * Double(theta[i, j]) + sg * Double(eps[i, j])
            #expect(abs(Double(batch.noisy[i, j]) - z) < 1e-5 * (1 + abs(z)))
            #expect(abs(Double(batch.networkInput[i, j]) - c.inputScale * z) < 1e-5 * (1 + abs(z)))
            let xh = c.a * z + c.b * Double(output[i, j])
            let e = (z - a * xh) / sg
            sq += (e - Double(eps[i, j])) * (e - Double(eps[i, j]))
          }
          ref += weighting.weight(logSNR: l, schedule: s) * sq / Double(d)
          #expect(abs(Double(batch.timeInput[i]) - s.timeInput(logSNR: l)) < 1e-6)
        }
        ref /= Double(n)
        #expect(abs(loss - ref) < 2e-3 * ref + 1e-9, "\(prediction) \(name) \(weighting): \(loss) vs \(ref)")
        // Central differences on a few entries (the loss is quadratic, so only rounding remains).
        for (i, j) in [(0, 0), (3, 1), (7, 2)] {
          let h: Float = 1e-2 * max(1, abs(output[i, j]))
          var plus = output, minus = output
          plus[i, j] += h
          minus[i, j] -= h
          let fd = (diffusionLoss(batch, output: plus).loss - diffusionLoss(batch, output: minus).loss) / Double(2 * h)
          let g = Double(grad[i, j])
          #expect(abs(fd - g) < 1e-3 * max(abs(g), loss / 10) + 1e-7, "\(prediction) \(name) \(weighting) (\(i),\(j))")
        }
      }
    }
  }

  @Test("Weightings: sigmoid(2 − λ), likelihood = g²/σ², EDM 1 + e^{−λ}/σ_d²")
  func weightings() {
    let s = CosineSchedule()
    for t in [0.1, 0.5, 0.9] {
      let l = s.logSNR(t)
      let sg = s.alphaSigma(t).sigma
      #expect(abs(LossWeighting.sigmoid.weight(logSNR: l, schedule: s) - 1 / (1 + exp(l - 2))) < 1e-12)
      let lik = LossWeighting.likelihood.weight(logSNR: l, schedule: s)
      #expect(abs(lik - s.diffusionSquared(t) / (sg * sg)) < 1e-6 * lik)
      #expect(abs(LossWeighting.edm.weight(logSNR: l, schedule: s) - (1 + exp(-l))) < 1e-12)
      #expect(LossWeighting.unit.weight(logSNR: l, schedule: s) == 1)
    }
  }

  @Test("Stratified times: one per stratum of width 1/B")
  func stratified() {
    var rng = Xoshiro(seed: 4)
    let t = stratifiedTimes(count: 128, rng: &rng).sorted()
    #expect(t.allSatisfy { $0 >= 0 && $0 < 1 })
    for i in 1..<t.count { #expect(abs(t[i] - t[i - 1] - 1.0 / 128) < 1e-12) }
  }

  @Test("The network wrapper feeds c_in·z and τ, and maps the output to x̂", arguments: Prediction.allCases)
  func networkWrapper(prediction: Prediction) throws {
    let s = EDMSchedule(variance: .exploding)
    let oracle = try GaussianDenoiser(mean: [0.3, -0.2], covariance: .identity(2), schedule: s)
    nonisolated(unsafe) var seenTau: Float = .nan
    let t = 0.6
    let network: NetworkFunction = { input, tau in
      seenTau = tau
      let (a, sg) = s.alphaSigma(t)
      let c = prediction.coefficients(alpha: a, sigma: sg)
      var z = input
      z.scale(by: Float(1 / c.inputScale))
      return c.output(denoised: oracle.denoise(z, t), z: z)
    }
    var rng = Xoshiro(seed: 5)
    let z = rng.normalMatrix(rows: 10, cols: 2, std: 5)
    let xhat = prediction.denoiser(schedule: s, network: network)(z, t)
    #expect(maxDifference(xhat, oracle.denoise(z, t)) < 1e-3)
    #expect(abs(Double(seenTau) - s.timeInput(logSNR: s.logSNR(t))) < 1e-6)
  }
}

func maxAbsolute(_ a: Matrix) -> Float { a.storage.reduce(0) { max($0, abs($1)) } }

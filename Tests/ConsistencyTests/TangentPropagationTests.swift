import Foundation
import NeuralNet
import NumericCore
import Testing
import Consistency

@Suite struct TangentPropagationTests {
  static let configurations: [(String, TimeMLPConfiguration)] = {
    var plain = TimeMLPConfiguration(inputDimension: 3, conditionDimension: 0)
    plain.widths = [32, 32]
    var conditioned = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 4)
    conditioned.widths = [24, 16, 16]
    var scaled = conditioned
    scaled.filmUseScale = true
    scaled.activation = .silu
    return [("plain", plain), ("condition + projector", conditioned), ("FiLM scale, silu", scaled)]
  }()

  @Test("TimeMLP JVP: output equals predict, tangent matches central finite differences", arguments: [0, 1, 2])
  func jvpMatchesFiniteDifferences(index: Int) {
    let (name, cfg) = Self.configurations[index]
    var rng = Xoshiro(seed: 40)
    let net = TimeMLP(configuration: cfg, rng: &rng)
    // Non-trivial LayerNorm and bias parameters.
    for i in 0..<net.parameterCount { net.parameters.values[i] += Float(rng.nextNormal() * 0.05) }
    let b = 6
    let x = rng.normalMatrix(rows: b, cols: cfg.inputDimension)
    let c = cfg.conditionDimension > 0 ? rng.normalMatrix(rows: b, cols: cfg.conditionDimension) : nil
    let t = (0..<b).map { _ in Float(rng.nextDouble() * 1.5) }
    let dx = rng.normalMatrix(rows: b, cols: cfg.inputDimension)
    let dt = (0..<b).map { _ in Float(rng.nextNormal()) }
    let (out, tangent) = net.jvp(x, time: t, condition: c, xTangent: dx, timeTangent: dt)
    let reference = net.predict(x, time: t, condition: c)
    #expect(zip(out.storage, reference.storage).allSatisfy { abs($0 - $1) < 1e-4 * max(1, abs($1)) }, "\(name)")
    // Fourth-order central differences (Richardson) in Float32.
    func eval(_ h: Float) -> Matrix {
      var xp = x
      xp.add(dx, scale: h)
      return net.predict(xp, time: zip(t, dt).map { $0 + h * $1 }, condition: c)
    }
    let h: Float = 2e-3
    let (p1, m1, p2, m2) = (eval(h), eval(-h), eval(2 * h), eval(-2 * h))
    var worst: Float = 0
    for i in 0..<tangent.count {
      let fd = (8 * (p1.storage[i] - m1.storage[i]) - (p2.storage[i] - m2.storage[i])) / (12 * h)
      worst = max(worst, abs(fd - tangent.storage[i]) / max(1, abs(fd)))
    }
    #expect(worst < 1e-2, "\(name): worst relative error \(worst)")
  }
}

extension TangentPropagationTests {
  @Test("sCM teacher on a TimeMLP: its derivative matches the finite-difference JVP of the same network")
  func teacher() throws {
    var cfg = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 3)
    cfg.widths = [16, 16]
    var rng = Xoshiro(seed: 41)
    let net = TimeMLP(configuration: cfg, rng: &rng)
    let theta = rng.normalMatrix(rows: 5, cols: 2)
    let z = rng.normalMatrix(rows: 5, cols: 2)
    let c = rng.normalMatrix(rows: 5, cols: 3)
    let sc = StableConsistencyConfiguration()
    let b = try stableConsistencyInputs(theta: theta, noise: z, times: sc.trainingTimes(count: 5, rng: &rng),
      configuration: sc)
    let (f, j) = stableConsistencyTeacher(network: net, batch: b, condition: c)
    let fd = finiteDifferenceJVP(network: { net.predict($0, time: $1, condition: c) }, input: b.networkInput,
      times: b.timeInput, inputTangent: b.inputTangent, step: 2e-3)
    #expect(zip(fd.storage, j.storage).allSatisfy { abs($0 - $1) < 2e-2 * max(1, abs($1)) })
    #expect(f.rows == 5 && f.cols == 2)
  }
}

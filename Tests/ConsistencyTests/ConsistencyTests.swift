import Foundation
import NumericCore
import Testing

import Consistency

/// θ ~ N(μ, U diag(λ) Uᵀ) in 2-d (U a rotation). Every 1-d Gaussian flow map is the monotone scaling, so the
/// exact consistency functions are affine:
/// - VE (x_t = θ + t z): f(x, t) = μ + U diag(√((λ + ε²)/(λ + t²))) Uᵀ (x − μ);
/// - TrigFlow (x_t = cos t θ + sin t σ_d z): f(x, t) = μ + U diag(√(λ/(cos²t λ + sin²t σ_d²))) Uᵀ (x − cos t μ).
struct GaussianOracle {
  let mean = [0.7, -1.2]
  let lambda = [2.0, 0.3]
  let angle = 0.6
  var covariance: [[Double]] {
    let (c, s) = (cos(angle), sin(angle))
    let u = [[c, -s], [s, c]]
    return (0..<2).map { i in (0..<2).map { j in (0..<2).reduce(0) { $0 + u[i][$1] * lambda[$1] * u[j][$1] } } }
  }

  func affine(_ x: Matrix, shift: [Double], scales: [Double]) -> Matrix {
    let (c, s) = (cos(angle), sin(angle))
    var out = Matrix(rows: x.rows, cols: 2)
    for r in 0..<x.rows {
      let y0 = Double(x[r, 0]) - shift[0], y1 = Double(x[r, 1]) - shift[1]
      let (a, b) = ((c * y0 + s * y1) * scales[0], (-s * y0 + c * y1) * scales[1])
      out[r, 0] = Float(mean[0] + c * a - s * b)
      out[r, 1] = Float(mean[1] + s * a + c * b)
    }
    return out
  }

  func ve(_ x: Matrix, _ t: Double, epsilon: Double) -> Matrix {
    affine(x, shift: mean, scales: lambda.map { (($0 + epsilon * epsilon) / ($0 + t * t)).squareRoot() })
  }

  func trig(_ x: Matrix, _ t: Double, sigmaData sd: Double = 1) -> Matrix {
    affine(x, shift: mean.map { $0 * cos(t) }, scales: lambda.map {
      ($0 / (cos(t) * cos(t) * $0 + sin(t) * sin(t) * sd * sd)).squareRoot()
    })
  }

  /// The largest z-score of the sample mean and covariance entries against N(μ, Σ + extra·I).
  func worstZ(_ x: Matrix, extraVariance: Double = 0) -> Double {
    let n = Double(x.rows)
    let (m, _) = x.columnMeanVariance()
    var cov = covariance
    for i in 0..<2 { cov[i][i] += extraVariance }
    var z = 0.0
    for i in 0..<2 {
      z = max(z, abs(m[i] - mean[i]) / (cov[i][i] / n).squareRoot())
      for j in 0..<2 {
        var c = 0.0
        for r in 0..<x.rows { c += (Double(x[r, i]) - m[i]) * (Double(x[r, j]) - m[j]) }
        c /= n - 1
        z = max(z, abs(c - cov[i][j]) / ((cov[i][i] * cov[j][j] + cov[i][j] * cov[i][j]) / n).squareRoot())
      }
    }
    return z
  }
}

@Suite struct DiscreteConsistencyTests {
  let cfg = ConsistencyConfiguration(totalSteps: 128_000)

  @Test("iCT curriculum 11 → 151 grid points, Karras grid ends, interval probabilities, boundary condition")
  func schedule() {
    // K' = ⌊128000/(log₂ 15 + 1)⌋ = 26085.
    #expect(cfg.gridPoints(atStep: 0) == 11)
    #expect(cfg.gridPoints(atStep: 26_084) == 11)
    #expect(cfg.gridPoints(atStep: 26_085) == 21)
    #expect(cfg.gridPoints(atStep: 52_170) == 41)
    #expect(cfg.gridPoints(atStep: 78_255) == 81)
    #expect(cfg.gridPoints(atStep: 104_340) == 151)
    #expect(cfg.gridPoints(atStep: 10_000_000) == 151)
    let g = cfg.karrasGrid(count: 11)
    #expect(abs(g[0] - 0.001) < 1e-12 && abs(g[10] - 80) < 1e-9)
    #expect(zip(g, g.dropFirst()).allSatisfy { $0 < $1 })
    let p = cfg.intervalProbabilities(g)
    #expect(abs(p.reduce(0, +) - 1) < 1e-12)
    // Direct: normal CDF of ln t differences.
    let raw = (0..<10).map { Special.normalCDF((log(g[$0 + 1]) + 1.1) / 2) - Special.normalCDF((log(g[$0]) + 1.1) / 2) }
    let s = raw.reduce(0, +)
    for i in 0..<10 { #expect(abs(p[i] - raw[i] / s) < 1e-9) }
    let (skip, out) = cfg.skipOut(cfg.epsilon)
    #expect(skip == 1 && out == 0)
    #expect(abs(ConsistencyConfiguration.huberConstant(dimension: 4) - 0.00108) < 1e-12)
  }

  @Test("Training inputs: shared noise, grid-adjacent times, index frequencies follow the interval probabilities")
  func trainingInputs() throws {
    var rng = Xoshiro(seed: 20)
    let theta = rng.normalMatrix(rows: 20_000, cols: 2)
    let z = rng.normalMatrix(rows: 20_000, cols: 2)
    let b = try consistencyTrainingInputs(theta: theta, noise: z, step: 0, configuration: cfg, rng: &rng)
    let grid = cfg.karrasGrid(count: 11)
    var counts = [Int](repeating: 0, count: 10)
    for r in 0..<theta.rows {
      let tn = Double(b.teacherTimeInput[r]) * 80, tn1 = Double(b.studentTimeInput[r]) * 80
      let i = grid.firstIndex { abs($0 - tn) < 1e-4 * max(1, $0) }!
      #expect(abs(grid[i + 1] - tn1) < 1e-4 * tn1)
      counts[i] += 1
      for j in 0..<2 {
        #expect(abs(b.teacherInput[r, j] - (theta[r, j] + Float(grid[i]) * z[r, j])) < 1e-4 * (1 + Float(grid[i])))
        #expect(abs(b.studentInput[r, j] - (theta[r, j] + Float(grid[i + 1]) * z[r, j])) < 1e-4 * (1 + Float(grid[i + 1])))
      }
      if r > 50 { break }
    }
    counts = [Int](repeating: 0, count: 10)
    for r in 0..<theta.rows {
      let tn = Double(b.teacherTimeInput[r]) * 80
      counts[grid.firstIndex { abs($0 - tn) < 1e-4 * max(1, $0) }!] += 1
    }
    let p = cfg.intervalProbabilities(grid)
    for i in 0..<10 {
      let se = (p[i] * (1 - p[i]) / 20_000).squareRoot()
      #expect(abs(Double(counts[i]) / 20_000 - p[i]) < 5 * se + 1e-4, "interval \(i)")
    }
  }

  @Test("Pseudo-Huber loss: zero when student equals teacher; gradient matches finite differences")
  func loss() throws {
    var rng = Xoshiro(seed: 21)
    let theta = rng.normalMatrix(rows: 6, cols: 3)
    let z = rng.normalMatrix(rows: 6, cols: 3)
    let b = try consistencyTrainingInputs(theta: theta, noise: z, step: 100_000, configuration: cfg, rng: &rng)
    let fs = rng.normalMatrix(rows: 6, cols: 3, std: 0.01)
    let ft = rng.normalMatrix(rows: 6, cols: 3, std: 0.01)
    let (l, g) = try consistencyLoss(b, studentOutput: fs, teacherOutput: ft)
    #expect(l > 0)
    for k in [0, 5, 9, 17] {
      var p = fs, m = fs
      let h: Float = 1e-3
      p.withUnsafeMutableBufferPointer { $0[k] += h }
      m.withUnsafeMutableBufferPointer { $0[k] -= h }
      let fd = (try consistencyLoss(b, studentOutput: p, teacherOutput: ft).loss
        - consistencyLoss(b, studentOutput: m, teacherOutput: ft).loss) / Double(2 * h)
      #expect(abs(fd - Double(g.storage[k])) < 2e-2 * abs(Double(g.storage[k])) + 1e-6, "k = \(k): \(fd) vs \(g.storage[k])")
    }
    // Student and teacher consistency outputs equal ⇒ zero loss: F_s chosen so that f_s = f_t.
    let ftOut = consistencyOutput(network: ft, state: b.teacherInput, skip: b.teacherSkip, out: b.teacherOut)
    var fsMatch = ftOut
    for r in 0..<6 {
      for j in 0..<3 {
        fsMatch[r, j] = (ftOut[r, j] - b.studentSkip[r] * b.studentInput[r, j]) / b.studentOut[r]
      }
    }
    #expect(try consistencyLoss(b, studentOutput: fsMatch, teacherOutput: ft).loss < 1e-6)
  }

  @Test("Multistep sampler with the exact Gaussian consistency function: 11 evaluations, N(μ, Σ + ε²I)")
  func sampler() throws {
    let oracle = GaussianOracle()
    var rng = Xoshiro(seed: 22)
    let z = rng.normalMatrix(rows: 20_000, cols: 2)
    let eps = cfg.epsilon
    let r = try sampleConsistency(consistency: { oracle.ve($0, $1, epsilon: eps) }, initial: z, configuration: cfg,
      rng: &rng)
    #expect(r.evaluations == 11)
    #expect(r.nonFiniteRows == 0)
    let zs = oracle.worstZ(r.samples, extraVariance: eps * eps)
    #expect(zs < 5, "z = \(zs)")
    // The network form f = c_skip x + c_out F with F solved from the exact f gives the same samples.
    let network: ConsistencyNetwork = { x, tau in
      let t = Double(tau) * 80
      let (s, o) = self.cfg.skipOut(t)
      var f = oracle.ve(x, t, epsilon: eps)
      f.add(x, scale: Float(-s))
      f.scale(by: Float(1 / o))
      return f
    }
    var r1 = Xoshiro(seed: 23), r2 = Xoshiro(seed: 23)
    let a = try sampleConsistency(consistency: consistencyFunction(network: network, configuration: cfg),
      initial: z.rows(0..<100), configuration: cfg, rng: &r1)
    let b = try sampleConsistency(consistency: { oracle.ve($0, $1, epsilon: eps) }, initial: z.rows(0..<100),
      configuration: cfg, rng: &r2)
    #expect(zip(a.samples.storage, b.samples.storage).allSatisfy { abs($0 - $1) < 1e-3 })
  }
}

@Suite struct StableConsistencyTests {
  let cfg = StableConsistencyConfiguration()

  @Test("Sampling times: 15, from π/2 down to 0, ρ = 3.5; training times have ln tan t ~ N(−1, 1.6²)")
  func times() {
    let s = cfg.samplingTimes()
    #expect(s.count == 15)
    #expect(abs(s[0] - Double.pi / 2) < 1e-12 && s[14] == 0)
    #expect(zip(s, s.dropFirst()).allSatisfy { $0 > $1 })
    #expect(abs(s[13] - exp((Double.pi / 28 - Double.pi / 2) * 3.5) * Double.pi / 2) < 1e-12)
    var rng = Xoshiro(seed: 30)
    let t = cfg.trainingTimes(count: 40_000, rng: &rng)
    let tau = t.map { log(tan($0)) }
    let m = tau.reduce(0, +) / 40_000
    let v = tau.reduce(0) { $0 + ($1 - m) * ($1 - m) } / 39_999
    #expect(abs(m + 1) < 0.03 && abs(v.squareRoot() - 1.6) < 0.03)
    #expect(t.allSatisfy { $0 > 0 && $0 < Double.pi / 2 })
  }

  @Test("Sampler with the exact TrigFlow consistency function draws the target; 14 evaluations (f(x, 0) = x)",
    arguments: [1.0, 0.5])
  func sampler(sigmaData: Double) throws {
    var c = cfg
    c.sigmaData = sigmaData
    let oracle = GaussianOracle()
    var rng = Xoshiro(seed: 31)
    let z = rng.normalMatrix(rows: 20_000, cols: 2)
    let r = try sampleStableConsistency(consistency: { oracle.trig($0, $1, sigmaData: sigmaData) }, initial: z,
      configuration: c, rng: &rng)
    #expect(r.evaluations == 14)
    let zs = oracle.worstZ(r.samples)
    #expect(zs < 5, "z = \(zs)")
    // Through the network form f = cos t x − sin t σ_d F(x/σ_d, t).
    let network: (Matrix, Float) -> Matrix = { xt, tf in
      let t = Double(tf)
      var x = xt
      x.scale(by: Float(sigmaData))
      var f = oracle.trig(x, t, sigmaData: sigmaData)
      f.scale(by: -1)
      f.add(x, scale: Float(cos(t)))
      f.scale(by: Float(1 / (sin(t) * sigmaData)))
      return f
    }
    var r1 = Xoshiro(seed: 32), r2 = Xoshiro(seed: 32)
    let a = try sampleStableConsistency(consistency: stableConsistencyFunction(network: network, sigmaData: sigmaData),
      initial: z.rows(0..<100), configuration: c, rng: &r1)
    let b = try sampleStableConsistency(consistency: { oracle.trig($0, $1, sigmaData: sigmaData) },
      initial: z.rows(0..<100), configuration: c, rng: &r2)
    #expect(zip(a.samples.storage, b.samples.storage).allSatisfy { abs($0 - $1) < 2e-3 })
  }

  /// A smooth test network F(x̃, t) = tanh(A x̃ + t b) and its exact JVP.
  struct TanhNet {
    let a: [[Float]] = [[0.8, -0.3, 0.5], [0.2, 0.9, -0.4], [-0.6, 0.1, 0.7]]
    let b: [Float] = [0.5, -1.0, 0.3]
    func callAsFunction(_ x: Matrix, _ t: [Float]) -> Matrix {
      var out = Matrix(rows: x.rows, cols: 3)
      for r in 0..<x.rows {
        for i in 0..<3 { out[r, i] = Foundation.tanh((0..<3).reduce(t[r] * b[i]) { $0 + a[i][$1] * x[r, $1] }) }
      }
      return out
    }
    func jvp(_ x: Matrix, _ t: [Float], _ v: Matrix) -> Matrix {
      let y = self(x, t)
      var out = Matrix(rows: x.rows, cols: 3)
      for r in 0..<x.rows {
        for i in 0..<3 {
          let dot = (0..<3).reduce(b[i]) { $0 + a[i][$1] * v[r, $1] }
          out[r, i] = (1 - y[r, i] * y[r, i]) * dot
        }
      }
      return out
    }
  }

  @Test("Tangent g equals cos t · df⁻/dt along (dx/dt, 1); the finite-difference JVP matches the exact one",
    arguments: [1.0, 0.7])
  func tangent(sigmaData: Double) throws {
    var c = cfg
    c.sigmaData = sigmaData
    var rng = Xoshiro(seed: 33)
    let theta = rng.normalMatrix(rows: 8, cols: 3)
    let z = rng.normalMatrix(rows: 8, cols: 3)
    let t = c.trainingTimes(count: 8, rng: &rng)
    let b = try stableConsistencyInputs(theta: theta, noise: z, times: t, configuration: c)
    let net = TanhNet()
    let f0 = net(b.networkInput, b.timeInput)
    let jvp = net.jvp(b.networkInput, b.timeInput, b.inputTangent)
    let fd = finiteDifferenceJVP(network: { net($0, $1) }, input: b.networkInput, times: b.timeInput,
      inputTangent: b.inputTangent, step: 1e-2)
    #expect(zip(fd.storage, jvp.storage).allSatisfy { abs($0 - $1) < 2e-3 })
    let g = try stableConsistencyTangent(b, teacherOutput: f0, teacherDerivative: jvp, configuration: c, normalize: false)
    // cos t · d/dt f(x_t + h dx/dt, t + h) by central differences in Double.
    for r in 0..<8 {
      let tr = t[r]
      func f(_ h: Double) -> [Double] {
        let x = (0..<3).map { Double(b.state[r, $0]) + h * Double(b.stateVelocity[r, $0]) }
        let tt = tr + h
        let input = Matrix(rows: 1, cols: 3, doubles: x.map { $0 / sigmaData })
        let out = net(input, [Float(tt)])
        return (0..<3).map { cos(tt) * x[$0] - sin(tt) * sigmaData * Double(out[0, $0]) }
      }
      let (p, m) = (f(1e-3), f(-1e-3))
      for j in 0..<3 {
        let expected = cos(tr) * (p[j] - m[j]) / 2e-3
        #expect(abs(Double(g[r, j]) - expected) < 2e-3 * max(1, abs(expected)), "row \(r) dim \(j)")
      }
    }
    let gn = try stableConsistencyTangent(b, teacherOutput: f0, teacherDerivative: jvp, configuration: c)
    for r in 0..<8 {
      let raw = (0..<3).reduce(Float(0)) { $0 + g[r, $1] * g[r, $1] }.squareRoot()
      for j in 0..<3 { #expect(abs(gn[r, j] - g[r, j] / (raw + 0.1)) < 1e-5) }
    }
  }

  @Test("For the exact Gaussian consistency function and the exact probability-flow velocity, g vanishes")
  func tangentVanishes() throws {
    let oracle = GaussianOracle()
    var rng = Xoshiro(seed: 34)
    let theta = rng.normalMatrix(rows: 16, cols: 2)
    let z = rng.normalMatrix(rows: 16, cols: 2)
    let t = cfg.trainingTimes(count: 16, rng: &rng)
    var b = try stableConsistencyInputs(theta: theta, noise: z, times: t, configuration: cfg)
    // F(x̃, t) = (cos t x̃ − f(x̃, t))/sin t for σ_d = 1; the exact PF velocity is d/dt of the inverse flow:
    // dx/dt at x_t equals −(∂f/∂x)⁻¹ ∂f/∂t, computed here by finite differences of f.
    func netF(_ x: Matrix, _ times: [Float]) -> Matrix {
      var out = Matrix(rows: x.rows, cols: 2)
      for r in 0..<x.rows {
        let tt = Double(times[r])
        let f = oracle.trig(x.rows(r..<(r + 1)), tt)
        for j in 0..<2 { out[r, j] = Float((cos(tt) * Double(x[r, j]) - Double(f[0, j])) / sin(tt)) }
      }
      return out
    }
    for r in 0..<16 {
      let x = b.state.rows(r..<(r + 1))
      let tt = t[r], h = 1e-3
      let dfdt = (0..<2).map { j in
        (Double(oracle.trig(x, tt + h)[0, j]) - Double(oracle.trig(x, tt - h)[0, j])) / (2 * h)
      }
      var jac = [[Double]](repeating: [0, 0], count: 2)
      for k in 0..<2 {
        var xp = x, xm = x
        xp[0, k] += Float(h)
        xm[0, k] -= Float(h)
        let (fp, fm) = (oracle.trig(xp, tt), oracle.trig(xm, tt))
        for j in 0..<2 { jac[j][k] = Double(fp[0, j] - fm[0, j]) / (2 * h) }
      }
      let det = jac[0][0] * jac[1][1] - jac[0][1] * jac[1][0]
      let v0 = -(jac[1][1] * dfdt[0] - jac[0][1] * dfdt[1]) / det
      let v1 = -(-jac[1][0] * dfdt[0] + jac[0][0] * dfdt[1]) / det
      b.stateVelocity[r, 0] = Float(v0)
      b.stateVelocity[r, 1] = Float(v1)
      b.inputTangent[r, 0] = Float(v0)
      b.inputTangent[r, 1] = Float(v1)
    }
    let f0 = netF(b.networkInput, b.timeInput)
    let j = finiteDifferenceJVP(network: netF, input: b.networkInput, times: b.timeInput, inputTangent: b.inputTangent,
      step: 1e-2)
    let g = try stableConsistencyTangent(b, teacherOutput: f0, teacherDerivative: j, configuration: cfg, normalize: false)
    let scale = b.state.storage.reduce(Float(0)) { max($0, abs($1)) }
    #expect(g.storage.allSatisfy { abs($0) < 5e-3 * scale }, "max |g| = \(g.storage.map(abs).max()!)")
  }

  @Test("sCM loss and its gradients in F and w match finite differences")
  func loss() throws {
    var rng = Xoshiro(seed: 35)
    let out = rng.normalMatrix(rows: 5, cols: 3)
    let teacher = rng.normalMatrix(rows: 5, cols: 3)
    let g = rng.normalMatrix(rows: 5, cols: 3, std: 0.3)
    let w: [Float] = [0, 0.3, -0.5, 1, 0.1]
    let (l, dF, dw) = try stableConsistencyLoss(output: out, teacherOutput: teacher, tangent: g, logWeight: w)
    var direct = 0.0
    for r in 0..<5 {
      let sq = (0..<3).reduce(0.0) { $0 + pow(Double(out[r, $1] - teacher[r, $1] - g[r, $1]), 2) }
      direct += exp(Double(w[r])) * sq / 3 - Double(w[r])
    }
    #expect(abs(l - direct / 5) < 1e-5)
    let h: Float = 1e-3
    for k in [0, 7, 14] {
      var p = out, m = out
      p.withUnsafeMutableBufferPointer { $0[k] += h }
      m.withUnsafeMutableBufferPointer { $0[k] -= h }
      let fd = (try stableConsistencyLoss(output: p, teacherOutput: teacher, tangent: g, logWeight: w).loss
        - stableConsistencyLoss(output: m, teacherOutput: teacher, tangent: g, logWeight: w).loss) / Double(2 * h)
      #expect(abs(fd - Double(dF.storage[k])) < 2e-3, "F[\(k)]")
    }
    for r in 0..<5 {
      var wp = w, wm = w
      wp[r] += h
      wm[r] -= h
      let fd = (try stableConsistencyLoss(output: out, teacherOutput: teacher, tangent: g, logWeight: wp).loss
        - stableConsistencyLoss(output: out, teacherOutput: teacher, tangent: g, logWeight: wm).loss) / Double(2 * h)
      #expect(abs(fd - Double(dw[r])) < 2e-3, "w[\(r)]")
    }
  }
}

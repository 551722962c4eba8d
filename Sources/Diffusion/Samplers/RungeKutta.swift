// Explicit Runge–Kutta integration of the probability-flow ODE, with fixed, scheduled or adaptive steps.

import Foundation
import NumericCore

/// An explicit Runge–Kutta tableau with an optional embedded error estimate e = b − b̂.
///
/// `fsal` ("first same as last"): the last stage is evaluated at the new solution, so an accepted adaptive step
/// hands it to the next step; with fixed steps that stage is skipped (its weight in b is 0).
struct RungeKuttaTableau: Sendable {
  let c: [Double]
  let a: [[Double]]
  let b: [Double]
  let e: [Double]
  let fsal: Bool
  /// Order q of the embedded (lower-order) estimate; the controller uses the exponent −1/(q + 1).
  let errorOrder: Int

  /// Euler with the Heun–Euler error estimate; the second stage is f at the Euler solution (FSAL).
  static let euler = RungeKuttaTableau(
    c: [0, 1], a: [[], [1]], b: [1, 0], e: [0.5, -0.5], fsal: true, errorOrder: 1)

  /// Heun's method (explicit trapezoid; EDM Algorithm 1) with the Euler solution as embedded estimate.
  static let heun = RungeKuttaTableau(
    c: [0, 1], a: [[], [1]], b: [0.5, 0.5], e: [-0.5, 0.5], fsal: false, errorOrder: 1)

  /// Dormand & Prince (1980) 5(4), FSAL: the tableau of NumericCore's `DormandPrince`, with e = b − b̂.
  static let dormandPrince: RungeKuttaTableau = {
    let t = DormandPrince.tableau
    return RungeKuttaTableau(c: t.c, a: t.a, b: t.b, e: zip(t.b, t.bHat).map { $0 - $1 }, fsal: true, errorOrder: 4)
  }()

  /// Tsitouras (2011) 5(4), "Runge–Kutta pairs of order 5(4) satisfying only the first column simplifying
  /// assumption", FSAL.
  static let tsit5: RungeKuttaTableau = {
    let b: [Double] = [
      0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0,
    ]
    let c: [Double] = [0, 0.161, 0.327, 0.9, 0.9800255409045097, 1, 1]
    let a: [[Double]] = [
        [], [0.161], [-0.008480655492356989, 0.335480655492357],
        [2.8971530571054935, -6.359448489975075, 4.3622954328695815],
        [5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525],
        [5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383],
        Array(b.prefix(6)),
      ]
    let e: [Double] = [
        -0.00178001105222577714, -0.0008164344596567469, 0.007880878010261995, -0.1447110071732629,
        0.5823571654525552, -0.45808210592918697, 1.0 / 66,
      ]
    return RungeKuttaTableau(c: c, a: a, b: b, e: e, fsal: true, errorOrder: 4)
  }()

  var stages: Int { c.count }

  /// One step from (z, t) with step h. `first` is f(z, t) when already known. Returns the new state, f at the
  /// new state when FSAL provides it, and the error estimate h Σ eᵢ kᵢ when `withError`.
  func step(
    field: (Matrix, Double) -> Matrix, z: Matrix, t: Double, h: Double, first: Matrix?, withError: Bool
  ) -> (y: Matrix, last: Matrix?, error: Matrix?) {
    var k: [Matrix] = [first ?? field(z, t)]
    k.reserveCapacity(stages)
    let lastStage = (fsal && !withError) ? stages - 1 : stages
    var y = z
    for i in 1..<lastStage {
      let yi = combine(z, (0..<i).map { (h * a[i][$0], k[$0]) })
      k.append(field(yi, t + c[i] * h))
      if fsal && i == stages - 1 { y = yi }
    }
    if !(fsal && withError) { y = combine(z, (0..<k.count).map { (h * b[$0], k[$0]) }) }
    guard withError else { return (y, nil, nil) }
    let err = combine(Matrix(rows: z.rows, cols: z.cols), (0..<k.count).map { (h * e[$0], k[$0]) })
    return (y, fsal ? k[stages - 1] : nil, err)
  }
}

/// Integrates the probability-flow ODE from t = 1 to 0 with `tableau`.
///
/// Adaptive steps (`integrate.py`; Documentation/Methods.md §5.1): error = max over the batch of the per-sample ℓ2 norm
/// of the embedded estimate; scale = atol + rtol·max|z| (over the whole batch); ratio = error/scale (with
/// `AdaptiveErrorNorm.rms`: ratio = √(mean of (eᵢ/(atol + rtol·max(|zᵢ|, |yᵢ|)))²) over all entries);
/// h ← h·clip(safety·ratio^{−1/(q+1)}, 0.2, 5); h clipped to [remaining/(maxSteps − k), remaining/max(minSteps − k,
/// 1)] after k accepted steps; accept if ratio ≤ 1 or h is at its minimum. Initial h = 1/minSteps.
func integrateProbabilityFlow(
  tableau: RungeKuttaTableau, name: String, denoiser: @escaping Denoiser, initial: Matrix,
  schedule: any NoiseSchedule, steps: StepControl, callback: StepCallback?
) throws -> SamplingResult {
  let field = ReverseField(schedule: schedule, denoiser: denoiser)
  let f: (Matrix, Double) -> Matrix = { field.ode($0, $1) }
  var z = initial
  guard case .adaptive(let opt) = steps else {
    let grid = try TimeGrid.resolve(steps, sampler: name)
    for i in 0..<(grid.count - 1) {
      z = tableau.step(field: f, z: z, t: grid[i], h: grid[i + 1] - grid[i], first: nil, withError: false).y
      callback?(SamplerStep(index: i, time: grid[i + 1], state: z))
    }
    return SamplingResult(samples: z, field: field, steps: grid.count - 1)
  }
  guard opt.minSteps >= 1, opt.maxSteps >= opt.minSteps else {
    throw DiffusionError.invalidOption("\(name): need 1 ≤ minSteps ≤ maxSteps")
  }
  var t = 1.0
  var hAbs = 1 / Double(opt.minSteps)
  var (accepted, rejected) = (0, 0)
  var first: Matrix? = nil
  let exponent = -1 / Double(tableau.errorOrder + 1)
  while t > 1e-12 {
    let lo = t / Double(max(opt.maxSteps - accepted, 1))
    let hi = t / Double(max(opt.minSteps - accepted, 1))
    hAbs = min(max(hAbs, lo), hi)
    let t1 = hAbs >= t * (1 - 1e-9) ? 0 : t - hAbs
    if t1 == 0 { hAbs = t }
    if first == nil { first = f(z, t) }
    let (y, last, err) = tableau.step(field: f, z: z, t: t, h: -hAbs, first: first, withError: true)
    let ratio: Double
    switch opt.errorNorm {
    case .batchMaximum:
      let errNorm = rowNorms(err!).max() ?? 0
      ratio = errNorm / (opt.absoluteTolerance + opt.relativeTolerance * max(maxAbs(z), maxAbs(y)))
    case .rms:
      ratio = scaledRMS(err!, z, y, absolute: Float(opt.absoluteTolerance), relative: Float(opt.relativeTolerance))
    }
    if ratio <= 1 || hAbs <= lo * (1 + 1e-9) || !ratio.isFinite {
      z = y
      t = t1
      first = last
      accepted += 1
      callback?(SamplerStep(index: accepted - 1, time: t, state: z))
    } else {
      rejected += 1
    }
    let factor = ratio > 0 && ratio.isFinite ? opt.safety * pow(ratio, exponent) : 5
    hAbs *= min(max(factor, 0.2), 5)
  }
  return SamplingResult(samples: z, field: field, steps: accepted, rejected: rejected)
}

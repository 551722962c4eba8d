// Adaptive explicit Runge–Kutta integration for small Double ODE systems (the SIR and Lotka–Volterra simulators).
//
// Dormand & Prince, "A family of embedded Runge–Kutta formulae", J. Comput. Appl. Math. 6 (1980): the 5(4) pair
// with FSAL, local extrapolation (the 5th-order solution is propagated), and the step-size controller of Hairer,
// Nørsett & Wanner, "Solving Ordinary Differential Equations I", §II.4 (error norm, safety 0.9, factor limits
// 0.2 and 10). Output times are hit exactly by shortening the step that would cross them.

import Foundation

/// Errors of the ODE integrator.
public enum ODEError: Error, Equatable, CustomStringConvertible {
  /// The step size fell below the minimum at time `t` (a stiff or singular problem).
  case stepSizeTooSmall(t: Double)
  /// More than `maxSteps` steps were taken before reaching the last output time.
  case tooManySteps(t: Double)
  /// The state became NaN or infinite at time `t`.
  case nonFinite(t: Double)
  /// The output times are not sorted ascending or start before the initial time.
  case invalidTimes
  /// An external solver (CVODE, Tasks/StiffODE.swift) returned the negative flag `code` at time `t`.
  case solverFailed(code: Int, t: Double)

  public var description: String {
    switch self {
    case .stepSizeTooSmall(let t): return "ODE step size underflow at t = \(t)"
    case .tooManySteps(let t): return "ODE integration exceeded the step limit at t = \(t)"
    case .nonFinite(let t): return "ODE state became non-finite at t = \(t)"
    case .invalidTimes: return "ODE output times must be ascending and not before the initial time"
    case .solverFailed(let code, let t): return "ODE solver failed with flag \(code) at t = \(t)"
    }
  }
}

/// Adaptive Dormand–Prince RK5(4) for small systems y' = f(t, y).
public struct DormandPrince: Sendable {
  /// Relative tolerance per component.
  public var relativeTolerance: Double
  /// Absolute tolerance per component.
  public var absoluteTolerance: Double
  /// Step limit over the whole integration.
  public var maxSteps: Int

  public init(relativeTolerance: Double = 1e-8, absoluteTolerance: Double = 1e-8, maxSteps: Int = 1_000_000) {
    self.relativeTolerance = relativeTolerance
    self.absoluteTolerance = absoluteTolerance
    self.maxSteps = maxSteps
  }

  // Butcher tableau (Dormand & Prince 1980, Table 2).
  static let c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9
  static let a21 = 1.0 / 5
  static let a31 = 3.0 / 40, a32 = 9.0 / 40
  static let a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9
  static let a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729
  static let a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176
  static let a65 = -5103.0 / 18656
  static let b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84
  // b̂, the weights of the embedded 4th-order solution.
  static let bHat1 = 5179.0 / 57600, bHat3 = 7571.0 / 16695, bHat4 = 393.0 / 640, bHat5 = -92097.0 / 339200
  static let bHat6 = 187.0 / 2100, bHat7 = 1.0 / 40
  // e = b − b̂ (5th minus 4th order weights), each entry the exact rational rounded once.
  static let e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200
  static let e6 = 22.0 / 525, e7 = -1.0 / 40

  /// The tableau as arrays, for integrators of other state types (the diffusion samplers): nodes c, rows of a
  /// (row i holds a_i1 … a_i,i−1; the seventh row equals b, which makes the pair FSAL), the 5th-order weights b
  /// and the embedded 4th-order weights b̂ (Dormand & Prince 1980, Table 2).
  public static let tableau: (c: [Double], a: [[Double]], b: [Double], bHat: [Double]) = (
    c: [0, c2, c3, c4, c5, 1, 1],
    a: [
      [], [a21], [a31, a32], [a41, a42, a43], [a51, a52, a53, a54], [a61, a62, a63, a64, a65],
      [b1, 0, b3, b4, b5, b6],
    ],
    b: [b1, 0, b3, b4, b5, b6, 0],
    bHat: [bHat1, 0, bHat3, bHat4, bHat5, bHat6, bHat7]
  )

  /// Integrates from `(t0, y0)` and returns the state at each of `times` (ascending, ≥ t0), one array per time.
  ///
  /// `f(t, y, dy)` writes the derivative into `dy`; both buffers have `y0.count` elements.
  public func solve(
    initial y0: [Double], from t0: Double, at times: [Double],
    _ f: (Double, UnsafeBufferPointer<Double>, UnsafeMutableBufferPointer<Double>) -> Void
  ) throws(ODEError) -> [[Double]] {
    let n = y0.count
    guard var previous = times.first else { return [] }
    if previous < t0 { throw .invalidTimes }
    for t in times {
      if t < previous { throw .invalidTimes }
      previous = t
    }
    // Work arrays: y, k1..k7, ytmp, ynew.
    var work = [Double](repeating: 0, count: n * 10)
    var out: [[Double]] = []
    out.reserveCapacity(times.count)
    let rtol = relativeTolerance, atol = absoluteTolerance
    let result: ODEError? = work.withUnsafeMutableBufferPointer { w -> ODEError? in
      let base = w.baseAddress!
      func buf(_ i: Int) -> UnsafeMutableBufferPointer<Double> {
        UnsafeMutableBufferPointer(start: base + i * n, count: n)
      }
      let y = buf(0), k1 = buf(1), k2 = buf(2), k3 = buf(3), k4 = buf(4), k5 = buf(5), k6 = buf(6), k7 = buf(7)
      let yt = buf(8), yn = buf(9)
      for i in 0..<n { y[i] = y0[i] }
      var t = t0
      f(t, UnsafeBufferPointer(y), k1)
      // Initial step (Hairer et al. II.4, simplified): h = 0.01 · ‖y‖ / ‖f‖.
      var d0 = 0.0, d1 = 0.0
      for i in 0..<n {
        let sc = atol + rtol * abs(y[i])
        d0 += (y[i] / sc) * (y[i] / sc)
        d1 += (k1[i] / sc) * (k1[i] / sc)
      }
      d0 = (d0 / Double(n)).squareRoot()
      d1 = (d1 / Double(n)).squareRoot()
      var h = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1
      let span = (times.last! - t0)
      if span > 0 { h = min(h, span) }
      var steps = 0
      var nextIndex = 0
      while nextIndex < times.count && times[nextIndex] <= t {
        out.append(Array(y))
        nextIndex += 1
      }
      while nextIndex < times.count {
        let target = times[nextIndex]
        var hitsTarget = false
        var hStep = h
        if t + hStep >= target {
          hStep = target - t
          hitsTarget = true
        }
        if hStep < 1e-14 * max(1, abs(t)) { return .stepSizeTooSmall(t: t) }
        steps += 1
        if steps > maxSteps { return .tooManySteps(t: t) }
        for i in 0..<n { yt[i] = y[i] + hStep * DormandPrince.a21 * k1[i] }
        f(t + DormandPrince.c2 * hStep, UnsafeBufferPointer(yt), k2)
        for i in 0..<n { yt[i] = y[i] + hStep * (DormandPrince.a31 * k1[i] + DormandPrince.a32 * k2[i]) }
        f(t + DormandPrince.c3 * hStep, UnsafeBufferPointer(yt), k3)
        for i in 0..<n {
          yt[i] = y[i] + hStep * (DormandPrince.a41 * k1[i] + DormandPrince.a42 * k2[i] + DormandPrince.a43 * k3[i])
        }
        f(t + DormandPrince.c4 * hStep, UnsafeBufferPointer(yt), k4)
        for i in 0..<n {
          yt[i] = y[i] + hStep * (DormandPrince.a51 * k1[i] + DormandPrince.a52 * k2[i] + DormandPrince.a53 * k3[i]
            + DormandPrince.a54 * k4[i])
        }
        f(t + DormandPrince.c5 * hStep, UnsafeBufferPointer(yt), k5)
        for i in 0..<n {
          yt[i] = y[i] + hStep * (DormandPrince.a61 * k1[i] + DormandPrince.a62 * k2[i] + DormandPrince.a63 * k3[i]
            + DormandPrince.a64 * k4[i] + DormandPrince.a65 * k5[i])
        }
        f(t + hStep, UnsafeBufferPointer(yt), k6)
        for i in 0..<n {
          yn[i] = y[i] + hStep * (DormandPrince.b1 * k1[i] + DormandPrince.b3 * k3[i] + DormandPrince.b4 * k4[i]
            + DormandPrince.b5 * k5[i] + DormandPrince.b6 * k6[i])
        }
        f(t + hStep, UnsafeBufferPointer(yn), k7)
        var err = 0.0
        for i in 0..<n {
          let ei = hStep * (DormandPrince.e1 * k1[i] + DormandPrince.e3 * k3[i] + DormandPrince.e4 * k4[i]
            + DormandPrince.e5 * k5[i] + DormandPrince.e6 * k6[i] + DormandPrince.e7 * k7[i])
          let sc = atol + rtol * max(abs(y[i]), abs(yn[i]))
          err += (ei / sc) * (ei / sc)
        }
        err = (err / Double(n)).squareRoot()
        if !err.isFinite {
          // Shrink hard and retry; give up if the step is already tiny.
          h = hStep * 0.1
          continue
        }
        // Step-size factor: 0.9 · err^(−1/5), limited to [0.2, 10].
        let factor = err == 0 ? 10 : min(10, max(0.2, 0.9 * Foundation.pow(err, -0.2)))
        if err <= 1 {
          t = hitsTarget ? target : t + hStep
          for i in 0..<n {
            y[i] = yn[i]
            k1[i] = k7[i]  // FSAL
          }
          for i in 0..<n where !y[i].isFinite { return .nonFinite(t: t) }
          // Keep the controller's proposal from the unshortened step when the step was cut to hit an output.
          h = hitsTarget ? max(h, hStep * factor) : hStep * factor
          while nextIndex < times.count && times[nextIndex] <= t {
            out.append(Array(y))
            nextIndex += 1
          }
        } else {
          h = hStep * min(1, factor)
        }
      }
      return nil
    }
    if let result { throw result }
    return out
  }
}

// Central-difference gradient checks shared by the test targets.

/// Central-difference check of analytic gradients for a scalar loss of the parameter values.
///
/// Float evaluation: with step h the truncation error is O(h²) and the rounding error about
/// ε_Float·|L|/h, so h = 1e-2 and a tolerance of 1e-2·(|g| + scale) leave both well below the bound.
public struct GradientCheck {
  public var step: Float = 1e-2
  public var relative: Double = 2e-2
  public var absolute: Double = 2e-3

  public init(step: Float = 1e-2, relative: Double = 2e-2, absolute: Double = 2e-3) {
    self.step = step
    self.relative = relative
    self.absolute = absolute
  }

  /// Compares `analytic[i]` with (L(v + h e_i) − L(v − h e_i)) / 2h for the given indices; returns the
  /// worst normalized error (≤ 1 passes).
  public func worstError(
    indices: [Int], values: UnsafeMutablePointer<Float>, analytic: [Float], loss: () -> Double
  ) -> (error: Double, index: Int, analytic: Double, numeric: Double) {
    var worst = (0.0, -1, 0.0, 0.0)
    let scale = analytic.reduce(0.0) { max($0, Double(abs($1))) }
    for i in indices {
      let old = values[i]
      values[i] = old + step
      let lp = loss()
      values[i] = old - step
      let lm = loss()
      values[i] = old
      let numeric = (lp - lm) / Double(2 * step)
      let a = Double(analytic[i])
      let err = abs(numeric - a) / (relative * (abs(a) + 0.05 * scale) + absolute)
      if err > worst.0 { worst = (err, i, a, numeric) }
    }
    return worst
  }
}

// Double-precision scalar special functions used by tasks, schedules and diagnostics.

import Foundation

/// Double-precision special functions.
///
/// `erf`, `erfc`, `lgamma`, `expm1` and `log1p` forward to the C library (glibc / Apple libm), which is correctly
/// rounded to within an ulp or two; `erfinv` and the normal quantile are our own.
public enum Special {
  public static func erf(_ x: Double) -> Double { Foundation.erf(x) }
  public static func erfc(_ x: Double) -> Double { Foundation.erfc(x) }
  public static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
  public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }

  /// log Γ(x) for x > 0 (and the log of |Γ(x)| elsewhere).
  public static func lgamma(_ x: Double) -> Double { Foundation.lgamma(x) }

  /// log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b).
  public static func logBeta(_ a: Double, _ b: Double) -> Double { lgamma(a) + lgamma(b) - lgamma(a + b) }

  /// Inverse error function on (−1, 1); ±inf at ±1, NaN outside.
  ///
  /// Starts from Giles' single-precision approximation (M. Giles, "Approximating the erfinv function", GPU
  /// Computing Gems, 2011) and polishes with two Newton steps on erf(y) − x, giving full double accuracy.
  public static func erfinv(_ x: Double) -> Double {
    if x.isNaN || x < -1 || x > 1 { return .nan }
    if x == 1 { return .infinity }
    if x == -1 { return -.infinity }
    if x == 0 { return x }
    var w = -Foundation.log((1 - x) * (1 + x))
    var p: Double
    if w < 5 {
      w -= 2.5
      p = 2.81022636e-08
      p = 3.43273939e-07 + p * w
      p = -3.5233877e-06 + p * w
      p = -4.39150654e-06 + p * w
      p = 0.00021858087 + p * w
      p = -0.00125372503 + p * w
      p = -0.00417768164 + p * w
      p = 0.246640727 + p * w
      p = 1.50140941 + p * w
    } else {
      w = w.squareRoot() - 3
      p = -0.000200214257
      p = 0.000100950558 + p * w
      p = 0.00134934322 + p * w
      p = -0.00367342844 + p * w
      p = 0.00573950773 + p * w
      p = -0.0076224613 + p * w
      p = 0.00943887047 + p * w
      p = 1.00167406 + p * w
      p = 2.83297682 + p * w
    }
    var y = p * x
    // Newton refinement: d/dy erf(y) = 2/√π e^{−y²}.
    for _ in 0..<2 {
      let err = Foundation.erf(y) - x
      let deriv = 2 / Double.pi.squareRoot() * Foundation.exp(-y * y)
      if deriv == 0 || !deriv.isFinite { break }
      y -= err / deriv
    }
    return y
  }

  /// Standard normal CDF Φ(x).
  public static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

  /// Standard normal quantile Φ⁻¹(p) for p ∈ (0, 1), accurate to a few ulps over the whole double range.
  ///
  /// Acklam's rational approximation (relative error 1.15e-9) followed by one Halley step on
  /// Φ(x) − p computed with the tail-accurate `erfc`; the upper half uses the symmetry Φ⁻¹(p) = −Φ⁻¹(1 − p).
  public static func normalQuantile(_ p: Double) -> Double {
    if p.isNaN || p < 0 || p > 1 { return .nan }
    if p == 0 { return -.infinity }
    if p == 1 { return .infinity }
    if p > 0.5 { return -normalQuantile(1 - p) }
    let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
    let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
             6.680131188771972e+01, -1.328068155288572e+01]
    let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
    let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
    var x: Double
    if p < 0.02425 {
      let q = (-2 * Foundation.log(p)).squareRoot()
      x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
        / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    } else {
      let q = p - 0.5
      let r = q * q
      x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
    // Halley refinement.
    let e = 0.5 * erfc(-x / 2.0.squareRoot()) - p
    let u = e * (2 * Double.pi).squareRoot() * Foundation.exp(0.5 * x * x)
    if u.isFinite { x -= u / (1 + 0.5 * x * u) }
    return x
  }

  /// log Σ exp(xᵢ), stable for large and −inf entries.
  public static func logSumExp(_ xs: [Double]) -> Double {
    guard let m = xs.max() else { return -.infinity }
    if m == -.infinity { return -.infinity }
    if m == .infinity { return .infinity }
    var s = 0.0
    for x in xs { s += Foundation.exp(x - m) }
    return m + Foundation.log(s)
  }

  /// log Σ exp(xᵢ) over Float values, accumulated in Double.
  public static func logSumExp(_ xs: [Float]) -> Double { logSumExp(xs.map(Double.init)) }

  /// Logistic sigmoid in Double, stable at both ends.
  public static func sigmoid(_ x: Double) -> Double {
    x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
  }

  /// Softplus log(1 + eˣ) in Double, stable at both ends.
  public static func softplus(_ x: Double) -> Double { max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x))) }

  /// Logit log(p / (1 − p)).
  public static func logit(_ p: Double) -> Double { Foundation.log(p) - Foundation.log1p(-p) }
}

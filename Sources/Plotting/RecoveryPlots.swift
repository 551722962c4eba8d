// Parameter recovery and posterior z-score versus contraction.

import Foundation
import NumericCore

/// Posterior estimates (e.g. means) against the true parameters of simulated data sets, one panel per
/// parameter, with optional error bars (e.g. ± one posterior standard deviation), the identity line, and the
/// coefficient of determination R² = 1 − Σ(est − true)² / Σ(true − mean(true))².
public struct RecoveryPlot: Sendable {
  public var names: [String]
  public var title: String?
  /// Upper bound on the drawn data sets per panel (deterministic subsample).
  public var maximumPoints = 400

  public init(names: [String] = [], title: String? = nil) {
    self.names = names
    self.title = title
  }

  /// `truth` and `estimate` are n×d; `errors` (optional, n×d) are half-widths of the error bars.
  public func render(truth: Matrix, estimate: Matrix, errors: Matrix? = nil) -> String {
    let d = min(truth.cols, estimate.cols)
    let n = min(truth.rows, estimate.rows)
    let errors = errors.flatMap { $0.rows >= n && $0.cols >= d ? $0 : nil }
    let layout = PanelGrid(count: d, panelWidth: 200, panelHeight: 200, top: title == nil ? 40 : 60)
    var c = SVGCanvas(width: layout.width, height: layout.height)
    c.title(title)
    if d == 0 || n == 0 { c.note(layout.frame(0), "no data sets to plot") }
    for k in 0..<d {
      let f = layout.frame(k)
      let t = (0..<n).map { Double(truth[$0, k]) }, e = (0..<n).map { Double(estimate[$0, k]) }
      let r = dataRange(t + e, pad: 0.06) ?? (-1, 1)
      let xs = Scale(lo: r.0, hi: r.1, a: f.x, b: f.right), ys = Scale(lo: r.0, hi: r.1, a: f.bottom, b: f.y)
      c.axes(f, x: xs, y: ys, style: AxisStyle(
        xLabel: "true " + parameterName(names, k), yLabel: k % layout.columns == 0 ? "estimate" : nil, xTickCount: 4, yTickCount: 4))
      c.line(f.x, f.bottom, f.right, f.y, stroke: PlotColors.axis, width: 1, dash: "4 3", kind: "diagonal")
      let m = min(n, maximumPoints)
      for s in 0..<m {
        let i = m == n ? s : s * n / m
        guard xs.contains(t[i]), ys.contains(e[i]) else { continue }
        if let errors {
          let h = Double(errors[i, k])
          if h.isFinite && h > 0 {
            let y0 = ys(max(r.0, e[i] - h)), y1 = ys(min(r.1, e[i] + h))
            c.line(xs(t[i]), y0, xs(t[i]), y1, stroke: PlotColors.posterior, width: 1, opacity: 0.35, kind: "errorbar")
          }
        }
        c.circle(xs(t[i]), ys(e[i]), r: 2.4, fill: PlotColors.posterior, opacity: 0.75, kind: "point")
      }
      c.text(f.x, f.y - 7, parameterName(names, k), size: 11.5, weight: "600", kind: "paneltitle")
      if let r2 = Self.rSquared(truth: t, estimate: e) {
        c.text(f.x + 8, f.y + 16, "R² = " + String(format: "%.3f", r2), size: 10.5, fill: PlotColors.text, kind: "r2")
      }
    }
    return c.render(title: title ?? "parameter recovery")
  }

  /// R² over the pairs where both values are finite; nil when undefined.
  static func rSquared(truth: [Double], estimate: [Double]) -> Double? {
    let pairs = zip(truth, estimate).filter { $0.0.isFinite && $0.1.isFinite }
    guard pairs.count >= 2 else { return nil }
    let mean = pairs.reduce(0) { $0 + $1.0 } / Double(pairs.count)
    let total = pairs.reduce(0) { $0 + ($1.0 - mean) * ($1.0 - mean) }
    let residual = pairs.reduce(0) { $0 + ($1.1 - $1.0) * ($1.1 - $1.0) }
    return total > 0 ? 1 - residual / total : nil
  }
}

/// Posterior z-score (mean − true) / sd against posterior contraction 1 − var_post / var_prior, one panel per
/// parameter (Schad, Betancourt & Vasishth 2021, "Toward a principled Bayesian workflow in cognitive
/// science"): good posteriors sit at high contraction with |z| small; dashed lines mark z = ±2.
public struct ZScoreContractionPlot: Sendable {
  public var names: [String]
  public var title: String?
  public var maximumPoints = 1000

  public init(names: [String] = [], title: String? = nil) {
    self.names = names
    self.title = title
  }

  /// `zScores` and `contractions` are n×d.
  public func render(zScores: Matrix, contractions: Matrix) -> String {
    let d = min(zScores.cols, contractions.cols)
    let n = min(zScores.rows, contractions.rows)
    let layout = PanelGrid(count: d, panelWidth: 200, panelHeight: 180, top: title == nil ? 40 : 60)
    var c = SVGCanvas(width: layout.width, height: layout.height)
    c.title(title)
    if d == 0 || n == 0 { c.note(layout.frame(0), "no data sets to plot") }
    for k in 0..<d {
      let f = layout.frame(k)
      let z = (0..<n).map { Double(zScores[$0, k]) }, s = (0..<n).map { Double(contractions[$0, k]) }
      let zr = dataRange(z, pad: 0.08, quantile: 0.005).map { max(3.2, abs($0.0), abs($0.1)) } ?? 3.2
      let sr = dataRange(s + [0, 1], pad: 0.03) ?? (0, 1)
      let xs = Scale(lo: sr.0, hi: sr.1, a: f.x, b: f.right), ys = Scale(lo: -zr, hi: zr, a: f.bottom, b: f.y)
      c.axes(f, x: xs, y: ys, style: AxisStyle(
        xLabel: "contraction", yLabel: k % layout.columns == 0 ? "z-score" : nil, xTickCount: 4, yTickCount: 5))
      for level in [-2.0, 2.0] {
        c.line(f.x, ys(level), f.right, ys(level), stroke: PlotColors.truth, width: 0.9, dash: "4 3", opacity: 0.7, kind: "zband")
      }
      c.line(f.x, ys(0), f.right, ys(0), stroke: PlotColors.axis, width: 0.8, kind: "zero")
      let m = min(n, maximumPoints)
      for q in 0..<m {
        let i = m == n ? q : q * n / m
        guard xs.contains(s[i]), ys.contains(z[i]) else { continue }
        c.circle(xs(s[i]), ys(z[i]), r: 2.2, fill: PlotColors.posterior, opacity: 0.6, kind: "point")
      }
      c.text(f.x, f.y - 7, parameterName(names, k), size: 11.5, weight: "600", kind: "paneltitle")
    }
    return c.render(title: title ?? "z-score vs contraction")
  }
}

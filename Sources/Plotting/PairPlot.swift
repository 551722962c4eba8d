// Pair (corner) plot of posterior samples.

import Foundation
import NumericCore

/// A pair plot ("corner plot", Foreman-Mackey 2016, corner.py) of d-dimensional samples: marginal histograms
/// on the diagonal and a 2-D view of every pair of parameters below it, with an optional reference sample
/// (e.g. a reference posterior) and true parameter values marked.
///
/// Usage: `PairPlot(names: ["θ₁", "θ₂"], reference: ref, truth: [0.1, -0.3]).render(samples)` returns an SVG.
public struct PairPlot: Sendable {
  /// How pairs of parameters are drawn below the diagonal.
  public enum LowerStyle: Sendable { case density, scatter }

  public var names: [String]
  public var reference: Matrix?
  public var truth: [Double]?
  public var title: String?
  public var bins = 30
  public var lower: LowerStyle = .density
  /// Upper bound on drawn points per panel for scatter views (deterministic subsample).
  public var maximumScatterPoints = 1500
  /// Panel edge in pixels; 0 picks one from the dimension.
  public var panelSize: Double = 0
  public var sampleLabel = "posterior"
  public var referenceLabel = "reference"

  public init(names: [String] = [], reference: Matrix? = nil, truth: [Double]? = nil, title: String? = nil) {
    self.names = names
    self.reference = reference
    self.truth = truth
    self.title = title
  }

  /// The SVG of the plot for `samples` (one sample per row).
  public func render(_ samples: Matrix) -> String {
    let d = samples.cols
    guard d > 0, samples.rows > 0 else {
      var c = SVGCanvas(width: 360, height: 160)
      c.title(title)
      c.note(Frame(x: 0, y: 30, w: 360, h: 120), "no samples to plot")
      return c.render(title: title)
    }
    let ref = reference.flatMap { $0.cols == d && $0.rows > 0 ? $0 : nil }
    let truth = self.truth.flatMap { $0.count == d ? $0 : nil }
    let panel = panelSize > 0 ? panelSize : min(170, max(90, 620 / Double(d)))
    let gap = 8.0, left = 62.0, top = 52.0, bottom = 62.0, right = 18.0
    let width = left + Double(d) * panel + Double(d - 1) * gap + right
    let height = top + Double(d) * panel + Double(d - 1) * gap + bottom
    var c = SVGCanvas(width: width, height: height)
    c.title(title)
    var legend: [(label: String, color: String, dashed: Bool)] = [(sampleLabel, PlotColors.posterior, false)]
    if ref != nil { legend.append((referenceLabel, PlotColors.reference, false)) }
    if truth != nil { legend.append(("true value", PlotColors.truth, true)) }
    c.legend(x: left, y: title == nil ? 18 : 38, items: legend)

    let columns = (0..<d).map { samples.column($0).map(Double.init) }
    let refColumns = ref.map { r in (0..<d).map { r.column($0).map(Double.init) } }
    let ranges: [(Double, Double)] = (0..<d).map { k in
      var values = columns[k]
      if let refColumns { values += refColumns[k] }
      var r = dataRange(values, pad: 0.04, quantile: 0.001) ?? (-1, 1)
      if let t = truth?[k], t.isFinite { r = (min(r.0, t - 0.02 * (r.1 - r.0)), max(r.1, t + 0.02 * (r.1 - r.0))) }
      return r
    }
    let name = { (k: Int) in k < names.count ? names[k] : "θ\(k + 1)" }
    let nonFinite = (0..<samples.rows).filter { i in (0..<d).contains { !samples[i, $0].isFinite } }.count

    for i in 0..<d {
      for j in 0...i {
        let f = Frame(x: left + Double(j) * (panel + gap), y: top + Double(i) * (panel + gap), w: panel, h: panel)
        let xs = Scale(lo: ranges[j].0, hi: ranges[j].1, a: f.x, b: f.right)
        var style = AxisStyle(
          xTickLabels: i == d - 1, yTickLabels: j == 0 && i > 0, xLabel: i == d - 1 ? name(j) : nil,
          yLabel: j == 0 && i > 0 ? name(i) : nil, grid: true, xTickCount: panel < 120 ? 3 : 4,
          yTickCount: panel < 120 ? 3 : 4)
        if i == j {
          style.yTickLabels = false
          style.yTicks = false
          style.yLabel = nil
          diagonal(&c, f, xs, columns[j], refColumns?[j], truth?[j], style)
        } else {
          let ys = Scale(lo: ranges[i].0, hi: ranges[i].1, a: f.bottom, b: f.y)
          c.axes(f, x: xs, y: ys, style: style)
          pair(&c, f, xs, ys, columns[j], columns[i], refColumns.map { ($0[j], $0[i]) })
          if let t = truth, t[j].isFinite, t[i].isFinite, xs.contains(t[j]), ys.contains(t[i]) {
            c.line(xs(t[j]), f.y, xs(t[j]), f.bottom, stroke: PlotColors.truth, width: 1, dash: "4 3", kind: "truth")
            c.line(f.x, ys(t[i]), f.right, ys(t[i]), stroke: PlotColors.truth, width: 1, dash: "4 3", kind: "truth")
            c.circle(xs(t[j]), ys(t[i]), r: 3.5, fill: PlotColors.truth, stroke: "#FFFFFF", kind: "truth-marker")
          }
        }
      }
    }
    let footer = "\(samples.rows) samples" + (ref.map { ", \($0.rows) reference samples" } ?? "")
      + (nonFinite > 0 ? "; \(nonFinite) samples with NaN/Inf omitted" : "")
    c.text(width - right, height - 8, footer, size: 9.5, anchor: .end, fill: PlotColors.muted, kind: "footer")
    return c.render(title: title ?? "pair plot")
  }

  /// Histogram counts of the finite values inside [lo, hi] in `bins` equal bins, as densities.
  static func histogram(_ values: [Double], lo: Double, hi: Double, bins: Int) -> [Double] {
    var counts = [Double](repeating: 0, count: bins)
    var n = 0.0
    let w = (hi - lo) / Double(bins)
    for v in values where v.isFinite {
      n += 1
      guard v >= lo, v <= hi else { continue }
      counts[min(bins - 1, Int((v - lo) / w))] += 1
    }
    return n > 0 ? counts.map { $0 / (n * w) } : counts
  }

  private func diagonal(
    _ c: inout SVGCanvas, _ f: Frame, _ xs: Scale, _ values: [Double], _ refValues: [Double]?, _ truth: Double?,
    _ style: AxisStyle
  ) {
    let b = max(1, min(bins, 200))
    let h = Self.histogram(values, lo: xs.lo, hi: xs.hi, bins: b)
    let hr = refValues.map { Self.histogram($0, lo: xs.lo, hi: xs.hi, bins: b) }
    let top = max(h.max() ?? 0, hr?.max() ?? 0)
    let ys = Scale(lo: 0, hi: top > 0 ? top * 1.08 : 1, a: f.bottom, b: f.y)
    c.axes(f, x: xs, y: ys, style: style)
    let bw = (xs.hi - xs.lo) / Double(b)
    for (k, v) in h.enumerated() where v > 0 {
      let x0 = xs(xs.lo + Double(k) * bw), x1 = xs(xs.lo + Double(k + 1) * bw)
      c.rect(x: x0, y: ys(v), width: x1 - x0, height: f.bottom - ys(v), fill: PlotColors.posterior, opacity: 0.55, kind: "hist")
    }
    if let hr {
      var pts: [(Double, Double)] = [(f.x, f.bottom)]
      for (k, v) in hr.enumerated() {
        pts.append((xs(xs.lo + Double(k) * bw), ys(v)))
        pts.append((xs(xs.lo + Double(k + 1) * bw), ys(v)))
      }
      pts.append((f.right, f.bottom))
      c.polyline(pts, stroke: PlotColors.reference, width: 1.6, kind: "reference-hist")
    }
    if let t = truth, xs.contains(t) {
      c.line(xs(t), f.y, xs(t), f.bottom, stroke: PlotColors.truth, width: 1.5, dash: "4 3", kind: "truth")
    }
    if h.allSatisfy({ $0 == 0 }) { c.note(f, "no finite values") }
  }

  private func pair(
    _ c: inout SVGCanvas, _ f: Frame, _ xs: Scale, _ ys: Scale, _ u: [Double], _ v: [Double],
    _ reference: ([Double], [Double])?
  ) {
    switch lower {
    case .density:
      // About one cell per 5 px keeps the file small for many parameters.
      let b = max(8, min(bins, 40, Int(f.w / 5)))
      var counts = [Double](repeating: 0, count: b * b)
      let wx = (xs.hi - xs.lo) / Double(b), wy = (ys.hi - ys.lo) / Double(b)
      for k in 0..<min(u.count, v.count) where u[k].isFinite && v[k].isFinite {
        let a = Int((u[k] - xs.lo) / wx), e = Int((v[k] - ys.lo) / wy)
        guard a >= 0, a < b, e >= 0, e < b else { continue }
        counts[e * b + a] += 1
      }
      let top = counts.max() ?? 0
      if top > 0 {
        for e in 0..<b {
          for a in 0..<b where counts[e * b + a] > 0 {
            let x0 = xs(xs.lo + Double(a) * wx), x1 = xs(xs.lo + Double(a + 1) * wx)
            let y0 = ys(ys.lo + Double(e + 1) * wy), y1 = ys(ys.lo + Double(e) * wy)
            let o = 0.08 + 0.87 * pow(counts[e * b + a] / top, 0.6)
            c.rect(x: x0, y: y0, width: x1 - x0 + 0.3, height: y1 - y0 + 0.3, fill: PlotColors.posterior, opacity: o, kind: "density")
          }
        }
      } else {
        c.note(f, "no finite values")
      }
    case .scatter:
      scatter(&c, xs, ys, u, v, color: PlotColors.posterior, radius: 1.4, opacity: 0.35, kind: "sample")
    }
    if let (ru, rv) = reference {
      scatter(&c, xs, ys, ru, rv, color: PlotColors.reference, radius: 1.3, opacity: 0.45, kind: "reference",
              limit: min(maximumScatterPoints, 600))
    }
  }

  private func scatter(
    _ c: inout SVGCanvas, _ xs: Scale, _ ys: Scale, _ u: [Double], _ v: [Double], color: String, radius: Double,
    opacity: Double, kind: String, limit: Int? = nil
  ) {
    let n = min(u.count, v.count)
    let m = min(n, max(1, limit ?? maximumScatterPoints))
    for s in 0..<m {
      let k = m == n ? s : s * n / m
      guard xs.contains(u[k]), ys.contains(v[k]) else { continue }
      c.circle(xs(u[k]), ys(v[k]), r: radius, fill: color, opacity: opacity, kind: kind)
    }
  }
}

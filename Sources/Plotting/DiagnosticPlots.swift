// Training and calibration plots: loss curves, SBC ECDF differences, coverage.

import Foundation

/// Training and validation loss per epoch, optionally on a logarithmic axis; the best validation epoch is
/// marked.
public struct LossCurvePlot: Sendable {
  public var train: [Double]
  public var validation: [Double]?
  public var logScale: Bool
  public var title: String?
  public var xLabel = "epoch"
  public var yLabel = "loss"

  public init(train: [Double], validation: [Double]? = nil, logScale: Bool = false, title: String? = nil) {
    self.train = train
    self.validation = validation
    self.logScale = logScale
    self.title = title
  }

  public func render() -> String {
    let f = Frame(x: 72, y: title == nil ? 40 : 60, w: 560, h: 300)
    var c = SVGCanvas(width: f.right + 24, height: f.bottom + 52)
    c.title(title)
    let all = train + (validation ?? [])
    // A log axis needs positive values; fall back to a linear axis when any finite value is ≤ 0.
    let log = logScale && all.allSatisfy { !$0.isFinite || $0 > 0 }
    guard let yr = dataRange(log ? all.filter { $0 > 0 }.map(log10) : all, pad: 0.05), !all.isEmpty else {
      c.axes(f, x: Scale(lo: 0, hi: 1, a: f.x, b: f.right), y: Scale(lo: 0, hi: 1, a: f.bottom, b: f.y),
             style: AxisStyle(xLabel: xLabel, yLabel: yLabel))
      c.note(f, "no finite loss values")
      return c.render(title: title ?? "loss curves")
    }
    let n = max(train.count, validation?.count ?? 0)
    let xs = Scale(lo: 1, hi: Double(max(n, 2)), a: f.x, b: f.right)
    let ys = log ? Scale(lo: pow(10, yr.0), hi: pow(10, yr.1), a: f.bottom, b: f.y, log: true)
      : Scale(lo: yr.0, hi: yr.1, a: f.bottom, b: f.y)
    c.axes(f, x: xs, y: ys, style: AxisStyle(xLabel: xLabel, yLabel: yLabel + (log ? " (log scale)" : "")))
    func points(_ v: [Double]) -> [(Double, Double)] {
      v.enumerated().map { (k, y) in (xs(Double(k + 1)), ys.contains(y) ? ys(y) : .nan) }
    }
    c.polyline(points(train), stroke: PlotColors.series(0), width: 1.8, kind: "train")
    var items: [(label: String, color: String, dashed: Bool)] = [("training", PlotColors.series(0), false)]
    if let validation {
      c.polyline(points(validation), stroke: PlotColors.series(1), width: 1.8, dash: "6 3", kind: "validation")
      items.append(("validation", PlotColors.series(1), true))
      if let best = validation.indices.filter({ validation[$0].isFinite }).min(by: { validation[$0] < validation[$1] }),
        ys.contains(validation[best])
      {
        c.circle(xs(Double(best + 1)), ys(validation[best]), r: 4, fill: PlotColors.series(1), stroke: "#FFFFFF", kind: "best")
        items.append(("best: epoch \(best + 1)", PlotColors.series(1), false))
      }
    }
    if train.count == 1 { c.circle(xs(1), ys(train[0]), r: 3, fill: PlotColors.series(0), kind: "train-point") }
    c.legend(x: f.x, y: f.y - 12, items: items)
    if logScale && !log { c.text(f.right, f.y - 8, "linear axis: some losses ≤ 0", size: 9.5, anchor: .end, fill: PlotColors.muted) }
    return c.render(title: title ?? "loss curves")
  }
}

/// Simulation-based calibration as ECDF differences (Säilynoja, Bürkner & Vehtari 2022, "Graphical test for
/// discrete uniformity and its applications in goodness-of-fit evaluation and multiple sample comparison"):
/// per parameter, ECDF(z) − z of the fractional ranks z ∈ [0, 1] with a simultaneous confidence band. The band
/// and the differences are computed elsewhere (Diagnostics) and passed in; panels whose curve leaves the band
/// are flagged.
public struct SBCECDFPlot: Sendable {
  public var names: [String]
  /// Fractional-rank grid z (increasing, within [0, 1]).
  public var grid: [Double]
  /// One curve per parameter: ECDF(z) − z at each grid point.
  public var differences: [[Double]]
  /// Simultaneous band for the difference at each grid point.
  public var lower: [Double]
  public var upper: [Double]
  public var title: String?
  /// The band's confidence level, shown in the legend.
  public var confidence: Double = 0.95

  public init(names: [String], grid: [Double], differences: [[Double]], lower: [Double], upper: [Double], title: String? = nil) {
    self.names = names
    self.grid = grid
    self.differences = differences
    self.lower = lower
    self.upper = upper
    self.title = title
  }

  public func render() -> String {
    let layout = PanelGrid(count: differences.count, panelWidth: 210, panelHeight: 160, top: title == nil ? 48 : 68)
    var c = SVGCanvas(width: layout.width, height: layout.height)
    c.title(title)
    let bandOK = lower.count == grid.count && upper.count == grid.count
    c.legend(x: layout.left, y: layout.top - 22, items: [
      ("ECDF − uniform", PlotColors.series(0), false),
      (bandOK ? "\(Int((confidence * 100).rounded()))% simultaneous band" : "band unavailable", PlotColors.band, false),
    ])
    let span = (differences.flatMap { $0 } + (bandOK ? lower + upper : [])).filter { $0.isFinite }.map(abs).max() ?? 0.1
    let yMax = max(span, 0.02) * 1.12
    if differences.isEmpty { c.note(layout.frame(0), "no parameters") }
    for (k, diff) in differences.enumerated() {
      let f = layout.frame(k)
      let xs = Scale(lo: 0, hi: 1, a: f.x, b: f.right), ys = Scale(lo: -yMax, hi: yMax, a: f.bottom, b: f.y)
      c.axes(f, x: xs, y: ys, style: AxisStyle(
        xLabel: "fractional rank", yLabel: k % layout.columns == 0 ? "ECDF difference" : nil, xTickCount: 4, yTickCount: 4))
      if bandOK {
        let upperPts = zip(grid, upper).map { (xs($0), ys($1)) }
        let lowerPts = zip(grid, lower).reversed().map { (xs($0), ys($1)) }
        c.polygon(upperPts + lowerPts, fill: PlotColors.band, opacity: 0.45, kind: "band")
      }
      c.line(f.x, ys(0), f.right, ys(0), stroke: PlotColors.axis, width: 0.8, dash: "3 3", kind: "zero")
      let n = min(grid.count, diff.count)
      c.polyline((0..<n).map { (xs(grid[$0]), ys(diff[$0])) }, stroke: PlotColors.series(0), width: 1.7, kind: "ecdf")
      let outside = bandOK && (0..<n).contains { diff[$0].isFinite && (diff[$0] < lower[$0] || diff[$0] > upper[$0]) }
      c.text(f.x, f.y - 7, parameterName(names, k), size: 11.5, weight: "600", kind: "paneltitle")
      if outside { c.text(f.right, f.y - 7, "outside band", size: 10, anchor: .end, fill: PlotColors.truth, weight: "600", kind: "flag") }
      if n == 0 || !diff.contains(where: \.isFinite) { c.note(f, "no finite values") }
    }
    return c.render(title: title ?? "SBC ECDF differences")
  }
}

/// Empirical coverage of central credible intervals against their nominal level, one line per parameter,
/// with the diagonal of perfect calibration (and an optional band of sampling variability around it).
public struct CoveragePlot: Sendable {
  public var names: [String]
  /// Nominal credibility levels in [0, 1].
  public var levels: [Double]
  /// One curve per parameter: empirical coverage at each level.
  public var coverage: [[Double]]
  public var lower: [Double]?
  public var upper: [Double]?
  public var title: String?

  public init(names: [String], levels: [Double], coverage: [[Double]], lower: [Double]? = nil, upper: [Double]? = nil, title: String? = nil) {
    self.names = names
    self.levels = levels
    self.coverage = coverage
    self.lower = lower
    self.upper = upper
    self.title = title
  }

  public func render() -> String {
    let f = Frame(x: 70, y: title == nil ? 30 : 50, w: 340, h: 340)
    var c = SVGCanvas(width: f.right + 170, height: f.bottom + 52)
    c.title(title)
    let xs = Scale(lo: 0, hi: 1, a: f.x, b: f.right), ys = Scale(lo: 0, hi: 1, a: f.bottom, b: f.y)
    c.axes(f, x: xs, y: ys, style: AxisStyle(xLabel: "nominal coverage", yLabel: "empirical coverage"))
    if let lower, let upper, lower.count == levels.count, upper.count == levels.count {
      c.polygon(zip(levels, upper).map { (xs($0), ys($1)) } + zip(levels, lower).reversed().map { (xs($0), ys($1)) },
                fill: PlotColors.band, opacity: 0.4, kind: "band")
    }
    c.line(xs(0), ys(0), xs(1), ys(1), stroke: PlotColors.axis, width: 1, dash: "4 3", kind: "diagonal")
    for (k, curve) in coverage.enumerated() {
      let n = min(levels.count, curve.count)
      let pts = (0..<n).map { (xs(levels[$0]), ys.contains(curve[$0]) ? ys(curve[$0]) : .nan) }
      c.polyline(pts, stroke: PlotColors.series(k), width: 1.8, kind: "coverage")
      let y = f.y + 8 + Double(k) * 18
      c.line(f.right + 18, y, f.right + 38, y, stroke: PlotColors.series(k), width: 2.5, kind: "legend")
      c.text(f.right + 44, y + 4, parameterName(names, k), size: 11, kind: "legendlabel")
    }
    if coverage.isEmpty { c.note(f, "no parameters") }
    return c.render(title: title ?? "coverage")
  }
}

/// A bootstrap null distribution as a histogram with the observed statistic as a vertical line (the
/// misspecification check: MMD² of the observation against simulations, Documentation/Methods.md §12.2).
public struct NullDistributionPlot: Sendable {
  public var null: [Double]
  public var observed: Double
  public var xLabel: String
  public var title: String?

  public init(null: [Double], observed: Double, xLabel: String, title: String? = nil) {
    self.null = null
    self.observed = observed
    self.xLabel = xLabel
    self.title = title
  }

  public func render() -> String {
    let f = Frame(x: 70, y: title == nil ? 30 : 50, w: 420, h: 260)
    var c = SVGCanvas(width: f.right + 30, height: f.bottom + 52)
    c.title(title)
    let values = null.filter(\.isFinite)
    guard let (lo, hi) = dataRange(values + (observed.isFinite ? [observed] : [])) else {
      c.note(f, "no finite values")
      return c.render(title: title ?? "null distribution")
    }
    let bins = max(10, min(40, values.count / 20))
    var counts = [Int](repeating: 0, count: bins)
    for v in values { counts[min(bins - 1, max(0, Int((v - lo) / (hi - lo) * Double(bins))))] += 1 }
    let top = Double(counts.max() ?? 1) * 1.1
    let xs = Scale(lo: lo, hi: hi, a: f.x, b: f.right), ys = Scale(lo: 0, hi: max(top, 1), a: f.bottom, b: f.y)
    c.axes(f, x: xs, y: ys, style: AxisStyle(xLabel: xLabel, yLabel: "bootstrap draws"))
    let width = (hi - lo) / Double(bins)
    for (k, n) in counts.enumerated() where n > 0 {
      let x0 = xs(lo + Double(k) * width), x1 = xs(lo + Double(k + 1) * width)
      c.rect(x: x0, y: ys(Double(n)), width: x1 - x0 - 1, height: ys(0) - ys(Double(n)), fill: PlotColors.posterior,
             opacity: 0.7, kind: "bar")
    }
    if observed.isFinite {
      c.line(xs(observed), f.y, xs(observed), f.bottom, stroke: PlotColors.truth, width: 2.5, kind: "observed")
      c.text(xs(observed) + 4, f.y + 12, "observed", size: 11, fill: PlotColors.truth, kind: "observedlabel")
    }
    return c.render(title: title ?? "null distribution")
  }
}

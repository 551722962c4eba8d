// Scales, "nice" tick positions and axis drawing shared by all plots.

import Foundation

/// A map from data values to pixels, linear or logarithmic (base 10).
struct Scale {
  var lo: Double
  var hi: Double
  var a: Double
  var b: Double
  var log: Bool = false

  func callAsFunction(_ v: Double) -> Double {
    let t: Double
    if log {
      guard v > 0 else { return .nan }
      t = (log10(v) - log10(lo)) / (log10(hi) - log10(lo))
    } else {
      t = (v - lo) / (hi - lo)
    }
    return a + t * (b - a)
  }

  func contains(_ v: Double) -> Bool { v.isFinite && v >= min(lo, hi) && v <= max(lo, hi) && (!log || v > 0) }

  /// Tick positions: multiples of 1, 2 or 5 × 10^k for linear scales (Heckbert, "Nice numbers for graph
  /// labels", Graphics Gems 1990); powers of ten (with 2 and 5 between them for short ranges) for log scales.
  func ticks(_ target: Int = 5) -> [Double] {
    if log {
      let e0 = Int(floor(log10(lo))), e1 = Int(ceil(log10(hi)))
      var t: [Double] = []
      let multipliers: [Double] = e1 - e0 <= 3 ? [1, 2, 5] : [1]
      let stride = max(1, (e1 - e0) / 8)
      var e = e0
      while e <= e1 {
        for m in multipliers {
          let v = m * pow(10, Double(e))
          if v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) { t.append(v) }
        }
        e += stride
      }
      return t.count >= 2 ? t : linearTicks(target)
    }
    return linearTicks(target)
  }

  private func linearTicks(_ target: Int) -> [Double] {
    let rough = (hi - lo) / Double(max(1, target))
    guard rough > 0, rough.isFinite else { return [lo] }
    // step = m · 10^e with m ∈ {1, 2, 5, 10}; ticks k·m·10^e computed as one correctly rounded operation.
    let e = Int(floor(log10(rough)))
    let r = rough / pow(10, Double(e))
    let m = r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10
    let scale = pow(10, Double(abs(e)))
    let value = { (k: Int) -> Double in e >= 0 ? Double(k * m) * scale : Double(k * m) / scale }
    let step = value(1)
    var k = Int(ceil(lo / step - 1e-9))
    var t: [Double] = []
    while t.count < 50 {
      let v = value(k)
      if v > hi + step * 1e-9 { break }
      t.append(v)
      k += 1
    }
    return t
  }

  /// A tick label with as many decimals as the tick spacing needs.
  func label(_ v: Double, ticks: [Double]) -> String {
    if log || v == 0 { return Scale.compact(v) }
    let step = ticks.count >= 2 ? abs(ticks[1] - ticks[0]) : abs(v)
    let big = ticks.map(abs).max() ?? abs(v)
    if big >= 1e5 || big < 1e-3 { return Scale.compact(v) }
    let decimals = max(0, min(6, Int(-floor(log10(step) + 1e-9))))
    return String(format: "%.\(decimals)f", v)
  }

  /// A short label: scientific notation such as `1e-4` or `2.5e6` for very small or large magnitudes.
  static func compact(_ v: Double) -> String {
    if v == 0 { return "0" }
    let a = abs(v)
    if a >= 1e-3 && a < 1e5 {
      var s = String(format: "%.4g", v)
      if s.contains("e") { s = String(format: "%.0f", v) }
      return s
    }
    let e = Int(floor(log10(a)))
    let m = v / pow(10, Double(e))
    let ms = abs(m - m.rounded()) < 1e-6 ? String(Int(m.rounded())) : String(format: "%.1f", m)
    return "\(ms)e\(e)"
  }
}

/// The finite range of values (optionally between quantiles), padded by `pad` of its width; nil if no value
/// is finite. A zero-width range is widened around its value.
func dataRange(_ values: [Double], pad: Double = 0.05, quantile: Double = 0) -> (Double, Double)? {
  var finite = values.filter { $0.isFinite }
  guard !finite.isEmpty else { return nil }
  var lo: Double, hi: Double
  if quantile > 0 && finite.count > 20 {
    finite.sort()
    let k = Int(Double(finite.count - 1) * quantile)
    lo = finite[k]
    hi = finite[finite.count - 1 - k]
  } else {
    lo = finite.min()!
    hi = finite.max()!
  }
  if hi - lo <= 1e-12 * max(1, abs(lo)) {
    let w = max(abs(lo) * 0.1, 0.5)
    return (lo - w, hi + w)
  }
  let w = hi - lo
  return (lo - pad * w, hi + pad * w)
}

/// A rectangular plotting area in pixels.
struct Frame {
  var x: Double
  var y: Double
  var w: Double
  var h: Double
  var right: Double { x + w }
  var bottom: Double { y + h }
}

/// Which decorations an axis pair gets.
struct AxisStyle {
  var xTickLabels = true
  var yTickLabels = true
  var xLabel: String? = nil
  var yLabel: String? = nil
  var grid = true
  var xTickCount = 5
  var yTickCount = 5
  /// Whether the y axis gets tick marks at all (histograms on a pair plot's diagonal have none).
  var yTicks = true
}

extension SVGCanvas {
  /// Draws grid lines, the frame, ticks, tick labels and axis labels of a panel.
  mutating func axes(_ f: Frame, x: Scale, y: Scale, style: AxisStyle = AxisStyle()) {
    let xt = x.ticks(style.xTickCount), yt = y.ticks(style.yTickCount)
    if style.grid {
      for v in xt where x.contains(v) { line(x(v), f.y, x(v), f.bottom, stroke: PlotColors.grid, kind: "grid") }
      for v in yt where style.yTicks && y.contains(v) { line(f.x, y(v), f.right, y(v), stroke: PlotColors.grid, kind: "grid") }
    }
    rect(x: f.x, y: f.y, width: f.w, height: f.h, fill: "none", stroke: PlotColors.axis, strokeWidth: 0.8, kind: "frame")
    for v in xt where x.contains(v) {
      line(x(v), f.bottom, x(v), f.bottom + 4, stroke: PlotColors.axis, width: 0.8, kind: "tick")
      if style.xTickLabels {
        text(x(v), f.bottom + 15, x.label(v, ticks: xt), size: 9.5, anchor: .middle, fill: PlotColors.muted, kind: "ticklabel")
      }
    }
    for v in yt where style.yTicks && y.contains(v) {
      line(f.x - 4, y(v), f.x, y(v), stroke: PlotColors.axis, width: 0.8, kind: "tick")
      if style.yTickLabels {
        text(f.x - 6, y(v) + 3.5, y.label(v, ticks: yt), size: 9.5, anchor: .end, fill: PlotColors.muted, kind: "ticklabel")
      }
    }
    if let l = style.xLabel {
      text(f.x + f.w / 2, f.bottom + (style.xTickLabels ? 32 : 18), l, size: 11.5, anchor: .middle, kind: "axislabel")
    }
    if let l = style.yLabel {
      let yx = f.x - (style.yTickLabels ? 42 : 14)
      text(yx, f.y + f.h / 2, l, size: 11.5, anchor: .middle, rotate: -90, kind: "axislabel")
    }
  }

  /// A note in the middle of a panel (e.g. "no finite data").
  mutating func note(_ f: Frame, _ s: String) {
    text(f.x + f.w / 2, f.y + f.h / 2, s, size: 11, anchor: .middle, fill: PlotColors.muted, kind: "note")
  }

  /// A plot title at the top centre.
  mutating func title(_ s: String?) {
    guard let s, !s.isEmpty else { return }
    text(width / 2, 20, s, size: 14, anchor: .middle, weight: "600", kind: "title")
  }

  /// A legend: coloured swatches with labels, laid out left to right from (x, y).
  mutating func legend(x: Double, y: Double, items: [(label: String, color: String, dashed: Bool)]) {
    var cx = x
    for item in items {
      line(cx, y, cx + 18, y, stroke: item.color, width: 2.5, dash: item.dashed ? "5 3" : nil, kind: "legend")
      text(cx + 23, y + 3.5, item.label, size: 10.5, kind: "legendlabel")
      cx += 34 + Double(item.label.count) * 6
    }
  }
}

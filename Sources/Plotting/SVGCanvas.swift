// A minimal SVG writer: shapes with inline presentation attributes, so that each plot is self-contained (no
// CSS classes need to resolve, no external fonts or images, no ids that could clash when several plots are
// inlined into one HTML page).

import Foundation

/// The colours of the plots: a colour-blind-friendly qualitative palette (the "deep" palette of seaborn) and
/// the neutral tones of axes and grids.
public enum PlotColors {
  public static let series = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
                              "#8C8C8C", "#CCB974", "#64B5CD"]
  public static let posterior = "#4C72B0"
  public static let reference = "#DD8452"
  public static let truth = "#C44E52"
  static let axis = "#4A4A4A"
  static let grid = "#E6E6E6"
  static let text = "#222222"
  static let muted = "#6B6B6B"
  static let band = "#9DB3D6"

  /// The i-th series colour (cycling).
  public static func series(_ i: Int) -> String { series[((i % series.count) + series.count) % series.count] }
}

/// Formats a coordinate with at most two decimals and no trailing zeros (keeps files small).
func fmt(_ v: Double) -> String {
  guard v.isFinite else { return "0" }
  let r = (v * 100).rounded() / 100
  if r == r.rounded() && abs(r) < 1e15 { return String(Int(r)) }
  var s = String(format: "%.2f", r)
  while s.hasSuffix("0") { s.removeLast() }
  return s
}

/// Escapes text for XML character data and attribute values.
func xmlEscaped(_ s: String) -> String {
  var out = ""
  out.reserveCapacity(s.utf8.count)
  for u in s.unicodeScalars {
    switch u {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    case "'": out += "&#39;"
    default:
      // Characters not allowed in XML 1.0 are dropped.
      if u.value < 0x20 && u != "\n" && u != "\t" { continue }
      if u.value == 0xFFFE || u.value == 0xFFFF { continue }
      out.unicodeScalars.append(u)
    }
  }
  return out
}

/// Builds one SVG document.
struct SVGCanvas {
  let width: Double
  let height: Double
  private(set) var body: [String] = []
  static let fontFamily = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"

  init(width: Double, height: Double) {
    self.width = width
    self.height = height
    rect(x: 0, y: 0, width: width, height: height, fill: "#FFFFFF", kind: "background")
  }

  /// Optional attributes rendered as ` name="value"`.
  private static func attrs(_ pairs: [(String, String?)]) -> String {
    pairs.compactMap { k, v in v.map { " \(k)=\"\(xmlEscaped($0))\"" } }.joined()
  }

  mutating func line(
    _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1,
    dash: String? = nil, opacity: Double? = nil, kind: String? = nil
  ) {
    body.append("<line x1=\"\(fmt(x1))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(x2))\" y2=\"\(fmt(y2))\" stroke=\"\(stroke)\""
      + " stroke-width=\"\(fmt(width))\"" + Self.attrs([
        ("stroke-dasharray", dash), ("stroke-opacity", opacity.map(fmt)), ("class", kind),
      ]) + "/>")
  }

  mutating func rect(
    x: Double, y: Double, width: Double, height: Double, fill: String, opacity: Double? = nil,
    stroke: String? = nil, strokeWidth: Double? = nil, kind: String? = nil, title: String? = nil
  ) {
    let a = "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(max(0, width)))\" height=\"\(fmt(max(0, height)))\""
      + " fill=\"\(fill)\"" + Self.attrs([
        ("fill-opacity", opacity.map(fmt)), ("stroke", stroke), ("stroke-width", strokeWidth.map(fmt)),
        ("class", kind),
      ])
    if let title {
      body.append(a + "><title>\(xmlEscaped(title))</title></rect>")
    } else {
      body.append(a + "/>")
    }
  }

  mutating func circle(
    _ cx: Double, _ cy: Double, r: Double, fill: String, opacity: Double? = nil, stroke: String? = nil,
    kind: String? = nil
  ) {
    body.append("<circle cx=\"\(fmt(cx))\" cy=\"\(fmt(cy))\" r=\"\(fmt(r))\" fill=\"\(fill)\"" + Self.attrs([
      ("fill-opacity", opacity.map(fmt)), ("stroke", stroke), ("class", kind),
    ]) + "/>")
  }

  /// A polyline through the points; non-finite points split it into several pieces.
  mutating func polyline(
    _ points: [(Double, Double)], stroke: String, width: Double = 1.5, dash: String? = nil, kind: String? = nil
  ) {
    var runs: [[(Double, Double)]] = [[]]
    for p in points {
      if p.0.isFinite && p.1.isFinite { runs[runs.count - 1].append(p) } else if !runs[runs.count - 1].isEmpty { runs.append([]) }
    }
    for run in runs where run.count >= 2 {
      let pts = run.map { "\(fmt($0.0)),\(fmt($0.1))" }.joined(separator: " ")
      body.append("<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(fmt(width))\""
        + " stroke-linejoin=\"round\" stroke-linecap=\"round\"" + Self.attrs([("stroke-dasharray", dash), ("class", kind)]) + "/>")
    }
  }

  /// A closed filled polygon (non-finite points are skipped).
  mutating func polygon(_ points: [(Double, Double)], fill: String, opacity: Double, kind: String? = nil) {
    let finite = points.filter { $0.0.isFinite && $0.1.isFinite }
    guard finite.count >= 3 else { return }
    let pts = finite.map { "\(fmt($0.0)),\(fmt($0.1))" }.joined(separator: " ")
    body.append("<polygon points=\"\(pts)\" fill=\"\(fill)\" fill-opacity=\"\(fmt(opacity))\" stroke=\"none\""
      + Self.attrs([("class", kind)]) + "/>")
  }

  /// Raw path data.
  mutating func path(_ d: String, fill: String = "none", stroke: String? = nil, width: Double? = nil, opacity: Double? = nil, kind: String? = nil) {
    guard !d.isEmpty else { return }
    body.append("<path d=\"\(d)\" fill=\"\(fill)\"" + Self.attrs([
      ("stroke", stroke), ("stroke-width", width.map(fmt)), ("fill-opacity", opacity.map(fmt)), ("class", kind),
    ]) + "/>")
  }

  enum Anchor: String { case start, middle, end }

  mutating func text(
    _ x: Double, _ y: Double, _ s: String, size: Double = 11, anchor: Anchor = .start, fill: String = PlotColors.text,
    weight: String? = nil, rotate: Double? = nil, baseline: String? = nil, kind: String? = nil
  ) {
    let transform = rotate.map { "rotate(\(fmt($0)) \(fmt(x)) \(fmt(y)))" }
    body.append("<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" font-size=\"\(fmt(size))\" text-anchor=\"\(anchor.rawValue)\""
      + " fill=\"\(fill)\"" + Self.attrs([
        ("font-weight", weight), ("transform", transform), ("dominant-baseline", baseline), ("class", kind),
      ]) + ">\(xmlEscaped(s))</text>")
  }

  /// The finished document (no XML declaration, so it can be inlined into HTML as is).
  func render(title: String? = nil) -> String {
    var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(fmt(width))\" height=\"\(fmt(height))\""
      + " viewBox=\"0 0 \(fmt(width)) \(fmt(height))\" font-family=\"\(xmlEscaped(Self.fontFamily))\" role=\"img\">\n"
    if let title { out += "<title>\(xmlEscaped(title))</title>\n" }
    out += body.joined(separator: "\n")
    out += "\n</svg>\n"
    return out
  }
}

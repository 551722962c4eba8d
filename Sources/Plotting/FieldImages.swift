// A grid of single-channel images (fields) as SVG: rows of images under a shared diverging color scale.

import Foundation
import NumericCore

/// Rows of H × W single-channel images drawn pixel by pixel, one labelled row per group (for example simulated
/// fields above generated ones for the same θ). All images share one symmetric color scale: blue for negative,
/// white for 0, red for positive values, saturated at the largest absolute value (non-finite pixels grey).
public struct FieldImageGrid: Sendable {
  public var height: Int
  public var width: Int
  /// Size of one image on the page, in px.
  public var cellSize: Double = 96
  public init(height: Int, width: Int) { (self.height, self.width) = (height, width) }

  /// Renders `rows` (label, images [k, H·W]); rows may hold different numbers of images.
  public func render(_ rows: [(label: String, images: Matrix)]) -> String {
    let pad = 8.0, labelWidth = 110.0, cell = cellSize
    let columns = rows.map(\.images.rows).max() ?? 0
    var scale: Float = 0
    for r in rows { for v in r.images.storage where v.isFinite { scale = max(scale, abs(v)) } }
    if scale == 0 { scale = 1 }
    let w = labelWidth + Double(columns) * (cell + pad) + pad, h = Double(rows.count) * (cell + pad) + pad
    var c = SVGCanvas(width: w, height: h)
    let px = cell / Double(max(height, width))
    for (i, row) in rows.enumerated() {
      let y0 = pad + Double(i) * (cell + pad)
      c.text(pad, y0 + cell / 2, row.label, size: 12, anchor: .start)
      for k in 0..<row.images.rows {
        let x0 = labelWidth + Double(k) * (cell + pad)
        for a in 0..<height {
          for b in 0..<width {
            let v = row.images[k, a * width + b]
            c.rect(x: x0 + Double(b) * px, y: y0 + Double(a) * px, width: px + 0.05, height: px + 0.05, fill: color(v, scale: scale))
          }
        }
      }
    }
    return c.render()
  }

  /// Diverging blue–white–red color of `v` on [−scale, scale].
  func color(_ v: Float, scale: Float) -> String {
    guard v.isFinite else { return "#999999" }
    let t = max(-1, min(1, v / scale))
    let fade = Int((1 - abs(t)) * 255)
    return t >= 0 ? hex(255, fade, fade) : hex(fade, fade, 255)
  }

  func hex(_ r: Int, _ g: Int, _ b: Int) -> String {
    "#" + [r, g, b].map { String(format: "%02X", $0) }.joined()
  }
}

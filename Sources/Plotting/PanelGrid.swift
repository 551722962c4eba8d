// Layout of small multiples: one panel per parameter on a grid.

/// Panels of equal size on a grid, with room for a title, a legend line, tick labels and axis labels.
struct PanelGrid {
  let count: Int
  let columns: Int
  let panelWidth: Double
  let panelHeight: Double
  let left = 64.0
  let top: Double
  let gapX = 56.0
  let gapY = 58.0
  let bottom = 46.0
  let right = 20.0

  init(count: Int, maximumColumns: Int = 4, panelWidth: Double = 220, panelHeight: Double = 180, top: Double = 56) {
    self.count = max(1, count)
    self.columns = max(1, min(self.count, maximumColumns))
    self.panelWidth = panelWidth
    self.panelHeight = panelHeight
    self.top = top
  }

  var rows: Int { (count + columns - 1) / columns }
  var width: Double { left + Double(columns) * panelWidth + Double(columns - 1) * gapX + right }
  var height: Double { top + Double(rows) * panelHeight + Double(rows - 1) * gapY + bottom }

  func frame(_ k: Int) -> Frame {
    let r = k / columns, c = k % columns
    return Frame(x: left + Double(c) * (panelWidth + gapX), y: top + Double(r) * (panelHeight + gapY),
                 w: panelWidth, h: panelHeight)
  }
}

/// Default parameter names θ1, θ2, ….
func parameterName(_ names: [String], _ k: Int) -> String { k < names.count ? names[k] : "θ\(k + 1)" }

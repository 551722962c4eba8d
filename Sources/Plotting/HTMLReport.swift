// A single-file HTML report: title, settings, metrics tables and inline SVG figures.

/// A self-contained HTML page (no scripts, fonts, images or style sheets from elsewhere) that bundles the
/// plots of a run with its settings and metrics, readable on screen and in print.
///
/// ```swift
/// var report = HTMLReport(title: "two_moons")
/// report.settings = [("task", "two_moons"), ("simulations", "10000")]
/// report.tables.append(.init(title: "Metrics", header: ["metric", "value"], rows: [["C2ST", "0.53"]]))
/// report.figures.append(.init(title: "Posterior", svg: PairPlot().render(samples)))
/// let html = report.render()
/// ```
public struct HTMLReport: Sendable {
  /// A table with a header row.
  public struct Table: Sendable {
    public var title: String
    public var header: [String]
    public var rows: [[String]]
    public init(title: String, header: [String], rows: [[String]]) {
      self.title = title
      self.header = header
      self.rows = rows
    }
  }

  /// An SVG figure with a caption.
  public struct Figure: Sendable {
    public var title: String
    public var svg: String
    public var caption: String?
    public init(title: String, svg: String, caption: String? = nil) {
      self.title = title
      self.svg = svg
      self.caption = caption
    }
  }

  public var title: String
  public var subtitle: String?
  /// Key–value settings of the run, shown as a two-column table.
  public var settings: [(String, String)] = []
  public var tables: [Table] = []
  public var figures: [Figure] = []
  /// Free text paragraphs shown under the title (e.g. a summary).
  public var notes: [String] = []

  public init(title: String, subtitle: String? = nil) {
    self.title = title
    self.subtitle = subtitle
  }

  static let style = """
    :root { color-scheme: light; }
    body { margin: 0; background: #F5F6F8; color: #222; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
      Helvetica, Arial, sans-serif; }
    main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 48px; }
    header h1 { margin: 0 0 4px; font-size: 26px; font-weight: 650; }
    header p.subtitle { margin: 0; color: #666; }
    section { background: #FFF; border: 1px solid #E2E4E8; border-radius: 10px; padding: 18px 22px; margin-top: 20px;
      box-shadow: 0 1px 2px rgba(0,0,0,.04); }
    h2 { margin: 0 0 12px; font-size: 18px; font-weight: 620; }
    table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
    th, td { text-align: left; padding: 5px 16px 5px 0; border-bottom: 1px solid #EEE; vertical-align: top; }
    th { font-weight: 600; color: #444; border-bottom: 2px solid #DDD; }
    tr:last-child td { border-bottom: none; }
    td.num { text-align: right; }
    .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 20px; }
    figure { margin: 0; overflow-x: auto; }
    figure svg { max-width: 100%; height: auto; display: block; }
    figcaption { color: #555; font-size: 13.5px; margin-top: 6px; }
    footer { color: #888; font-size: 12.5px; margin-top: 24px; text-align: center; }
    @media print { body { background: #FFF; } section { box-shadow: none; break-inside: avoid; } }
    """

  /// Whether a cell looks numeric (right-aligned).
  static func isNumeric(_ s: String) -> Bool {
    !s.isEmpty && s.allSatisfy { "0123456789.-+eE%±× ".contains($0) } && s.contains(where: \.isNumber)
  }

  static func tableHTML(header: [String], rows: [[String]]) -> String {
    var out = "<table>\n<thead><tr>" + header.map { "<th>\(xmlEscaped($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
    for row in rows {
      out += "<tr>" + row.map { "<td\(isNumeric($0) ? " class=\"num\"" : "")>\(xmlEscaped($0))</td>" }.joined() + "</tr>\n"
    }
    return out + "</tbody>\n</table>\n"
  }

  /// The complete HTML document.
  public func render() -> String {
    var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    out += "<title>\(xmlEscaped(title))</title>\n<style>\n\(Self.style)\n</style>\n</head>\n<body>\n<main>\n"
    out += "<header>\n<h1>\(xmlEscaped(title))</h1>\n"
    if let subtitle { out += "<p class=\"subtitle\">\(xmlEscaped(subtitle))</p>\n" }
    out += "</header>\n"
    if !notes.isEmpty {
      out += "<section class=\"notes\">\n" + notes.map { "<p>\(xmlEscaped($0))</p>\n" }.joined() + "</section>\n"
    }
    if !settings.isEmpty || !tables.isEmpty {
      out += "<div class=\"grid\">\n"
      if !settings.isEmpty {
        out += "<section class=\"settings\">\n<h2>Settings</h2>\n"
        out += Self.tableHTML(header: ["setting", "value"], rows: settings.map { [$0.0, $0.1] }) + "</section>\n"
      }
      for t in tables {
        out += "<section class=\"table\">\n<h2>\(xmlEscaped(t.title))</h2>\n" + Self.tableHTML(header: t.header, rows: t.rows)
          + "</section>\n"
      }
      out += "</div>\n"
    }
    for f in figures {
      out += "<section class=\"figure\">\n<h2>\(xmlEscaped(f.title))</h2>\n<figure>\n\(f.svg)"
      if let caption = f.caption { out += "<figcaption>\(xmlEscaped(caption))</figcaption>\n" }
      out += "</figure>\n</section>\n"
    }
    out += "<footer>Generated by DiffusionSBI</footer>\n</main>\n</body>\n</html>\n"
    return out
  }
}

import Foundation
import NumericCore
import Testing
import TestSupport
@testable import Plotting

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Parses `xml` with XMLParser and returns the element names in document order (nil if not well-formed).
func elements(_ xml: String) -> [String]? {
  final class Collector: NSObject, XMLParserDelegate {
    var names: [String] = []
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
      names.append(name)
    }
  }
  let parser = XMLParser(data: Data(xml.utf8))
  let collector = Collector()
  parser.delegate = collector
  return parser.parse() ? collector.names : nil
}

/// Number of occurrences of `class="kind"`.
func count(_ svg: String, kind: String) -> Int {
  svg.components(separatedBy: "class=\"\(kind)\"").count - 1
}

/// Writes the SVG to $PLOTTING_EXAMPLES_DIR/name.svg when that variable is set (for looking at the plots).
func keep(_ svg: String, _ name: String) {
  guard let dir = ProcessInfo.processInfo.environment["PLOTTING_EXAMPLES_DIR"] else { return }
  try? svg.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
}

func gaussianSamples(_ n: Int, _ d: Int, seed: UInt64, shift: Float = 0) -> Matrix {
  var rng = Xoshiro(seed: seed)
  var m = Matrix(rows: n, cols: d)
  for i in 0..<n {
    let z = rng.nextNormal()
    for j in 0..<d { m[i, j] = Float(0.6 * z + 0.8 * rng.nextNormal()) * Float(j + 1) + shift }
  }
  return m
}

@Suite struct PlottingTests {
  @Test func pairPlotIsWellFormedWithExpectedPanels() throws {
    let samples = gaussianSamples(2000, 3, seed: 1)
    let reference = gaussianSamples(500, 3, seed: 2, shift: 0.2)
    var plot = PairPlot(names: ["μ", "log σ", "a<b & c"], reference: reference, truth: [0.1, -0.5, 1], title: "Posterior")
    plot.bins = 20
    let svg = plot.render(samples)
    keep(svg, "pair.svg")
    let names = try #require(elements(svg))
    #expect(names.first == "svg")
    #expect(count(svg, kind: "frame") == 6)  // 3 diagonal + 3 lower panels
    #expect(count(svg, kind: "reference-hist") == 3)
    #expect(count(svg, kind: "truth-marker") == 3)
    #expect(count(svg, kind: "hist") > 3 * 10 && count(svg, kind: "hist") <= 3 * 20)
    #expect(count(svg, kind: "density") > 0)
    #expect(count(svg, kind: "reference") <= 3 * 500 && count(svg, kind: "reference") > 3 * 490)  // a few lie outside the 0.1%–99.9% range
    #expect(svg.contains("a&lt;b &amp; c"))
    plot.lower = .scatter
    plot.maximumScatterPoints = 300
    let scatter = plot.render(samples)
    #expect(elements(scatter) != nil)
    #expect(count(scatter, kind: "sample") <= 3 * 300 && count(scatter, kind: "sample") > 3 * 250)
  }

  @Test func pairPlotSurvivesNaNAndEmptyInput() {
    var m = gaussianSamples(100, 2, seed: 3)
    m[0, 0] = .nan
    m[1, 1] = .infinity
    let svg = PairPlot(truth: [.nan, 0]).render(m)
    #expect(elements(svg) != nil)
    #expect(svg.contains("2 samples with NaN/Inf omitted"))
    #expect(!svg.contains("nan") && !svg.contains("inf\""))
    let allNaN = Matrix(rows: 5, cols: 2, repeating: .nan)
    #expect(elements(PairPlot().render(allNaN)) != nil)
    #expect(elements(PairPlot().render(Matrix(rows: 0, cols: 3))) != nil)
    #expect(PairPlot().render(Matrix(rows: 0, cols: 0)).contains("no samples"))
    #expect(elements(PairPlot(reference: Matrix(rows: 3, cols: 5), truth: [1]).render(m)) != nil)  // mismatched extras ignored
    let constant = Matrix(rows: 10, cols: 2, repeating: 3)
    #expect(elements(PairPlot().render(constant)) != nil)
  }

  @Test func lossCurves() throws {
    let train: [Double] = (1...50).map { (k: Int) -> Double in 2.0 * exp(-Double(k) / 10) + 0.05 }
    let validation: [Double] = (1...50).map { (k: Int) -> Double in
      let overfit: Double = k > 40 ? 0.01 * Double(k - 40) : 0
      return 2.1 * exp(-Double(k) / 11) + 0.08 + overfit
    }
    let svg = LossCurvePlot(train: train, validation: validation, logScale: true, title: "Training").render()
    keep(svg, "loss.svg")
    #expect(elements(svg) != nil)
    #expect(count(svg, kind: "train") == 1 && count(svg, kind: "validation") == 1 && count(svg, kind: "best") == 1)
    #expect(svg.contains("(log scale)"))
    // Negative losses fall back to a linear axis; NaN breaks the line into pieces; empty input gives a note.
    let neg = LossCurvePlot(train: [1, -1, .nan, -2, -3], logScale: true).render()
    #expect(elements(neg) != nil && !neg.contains("(log scale)") && count(neg, kind: "train") == 2)
    #expect(LossCurvePlot(train: []).render().contains("no finite loss values"))
    #expect(elements(LossCurvePlot(train: [.nan, .infinity]).render()) != nil)
    #expect(elements(LossCurvePlot(train: [0.5]).render()) != nil)
  }

  @Test func sbcECDFPanelsAndFlags() {
    let grid = (0...50).map { Double($0) / 50 }
    let band = grid.map { 0.12 * sqrt($0 * (1 - $0)) + 0.01 }
    let good = grid.map { 0.03 * sin(6 * $0) * sqrt($0 * (1 - $0)) }
    let bad = grid.map { 0.25 * sin(.pi * $0) }
    let svg = SBCECDFPlot(names: ["α", "β", "γ"], grid: grid, differences: [good, bad, good + [.nan]],
                          lower: band.map { -$0 }, upper: band, title: "SBC").render()
    keep(svg, "sbc.svg")
    #expect(elements(svg) != nil)
    #expect(count(svg, kind: "band") == 3 && count(svg, kind: "ecdf") == 3 && count(svg, kind: "flag") == 1)
    let noBand = SBCECDFPlot(names: [], grid: grid, differences: [good], lower: [], upper: []).render()
    #expect(elements(noBand) != nil && count(noBand, kind: "band") == 0)
    #expect(elements(SBCECDFPlot(names: [], grid: [], differences: [], lower: [], upper: []).render()) != nil)
  }

  @Test func recoveryCoverageAndZScore() {
    let truth = gaussianSamples(120, 2, seed: 4)
    var rng = Xoshiro(seed: 5)
    var estimate = truth
    for i in 0..<estimate.rows { for j in 0..<2 { estimate[i, j] = 0.9 * truth[i, j] + 0.3 * Float(rng.nextNormal()) } }
    let errors = Matrix(rows: 120, cols: 2, repeating: 0.3)
    let rec = RecoveryPlot(names: ["θ₁", "θ₂"], title: "Recovery").render(truth: truth, estimate: estimate, errors: errors)
    keep(rec, "recovery.svg")
    #expect(elements(rec) != nil)
    #expect(count(rec, kind: "point") == 240 && count(rec, kind: "errorbar") == 240 && count(rec, kind: "r2") == 2)
    #expect(RecoveryPlot.rSquared(truth: [1, 2, 3], estimate: [1, 2, 3]) == 1)
    #expect(abs(RecoveryPlot.rSquared(truth: [1, 2, 3, .nan], estimate: [2, 2, 2, 0])! - 0) < 1e-12)
    #expect(elements(RecoveryPlot().render(truth: Matrix(rows: 0, cols: 0), estimate: Matrix(rows: 0, cols: 0))) != nil)

    let levels = (0...20).map { Double($0) / 20 }
    let cov = CoveragePlot(names: ["θ₁", "θ₂"], levels: levels, coverage: [levels.map { min(1, $0 * 1.05) }, levels.map { $0 * $0 }],
                           lower: levels.map { max(0, $0 - 0.05) }, upper: levels.map { min(1, $0 + 0.05) }, title: "Coverage").render()
    keep(cov, "coverage.svg")
    #expect(elements(cov) != nil && count(cov, kind: "coverage") == 2 && count(cov, kind: "band") == 1)

    var z = gaussianSamples(200, 2, seed: 6)
    z[3, 1] = .nan
    var s = Matrix(rows: 200, cols: 2)
    for i in 0..<200 { for j in 0..<2 { s[i, j] = Float(0.6 + 0.35 * rng.nextDouble()) } }
    let zs = ZScoreContractionPlot(names: ["θ₁", "θ₂"], title: "z-score vs contraction").render(zScores: z, contractions: s)
    keep(zs, "zscore.svg")
    #expect(elements(zs) != nil && count(zs, kind: "point") == 399)
  }

  @Test func htmlReportBundlesFigures() throws {
    var report = HTMLReport(title: "two_moons <demo>", subtitle: "seed 1")
    report.settings = [("task", "two_moons"), ("simulations", "10000")]
    report.notes = ["C2ST 0.54 & stable."]
    report.tables = [.init(title: "Metrics", header: ["metric", "value"], rows: [["C2ST", "0.54"], ["note", "a<b"]])]
    let pair = PairPlot().render(gaussianSamples(300, 2, seed: 7))
    report.figures = [.init(title: "Posterior", svg: pair, caption: "2 parameters"),
                      .init(title: "Loss", svg: LossCurvePlot(train: [3, 2, 1]).render())]
    let html = report.render()
    keep(html, "report.html")
    #expect(html.hasPrefix("<!DOCTYPE html>"))
    #expect(html.components(separatedBy: "<svg ").count - 1 == 2)
    #expect(html.contains("two_moons &lt;demo&gt;") && html.contains("a&lt;b") && html.contains("<td class=\"num\">0.54</td>"))
    #expect(!html.contains("http://") || html.components(separatedBy: "http://").count - 1 == 2)  // only SVG namespaces
    // Apart from the doctype, the page is well-formed XML (XHTML-compatible), so the parser can check nesting.
    let body = String(html.dropFirst("<!DOCTYPE html>\n".count))
    let names = try #require(elements(body))
    #expect(names.filter { $0 == "svg" }.count == 2 && names.filter { $0 == "table" }.count == 2)
  }

  @Test func scaleTicksAndLabels() {
    let s = Scale(lo: 0.13, hi: 0.92, a: 0, b: 100)
    #expect(s.ticks(5) == [0.2, 0.4, 0.6, 0.8])
    #expect(s.label(0.4, ticks: s.ticks(5)) == "0.4")
    let l = Scale(lo: 0.003, hi: 40, a: 0, b: 100, log: true)
    #expect(l.ticks().contains(0.01) && l.ticks().contains(10))
    #expect(Scale.compact(1.5e-5) == "1.5e-5" && Scale.compact(2e6) == "2e6" && Scale.compact(0.25) == "0.25")
    #expect(fmt(1.005) == "1" || fmt(1.005) == "1.01")
    #expect(fmt(.nan) == "0" && fmt(-2.5) == "-2.5" && fmt(3) == "3")
    #expect(dataRange([.nan, .infinity]) == nil)
    #expect(dataRange([2, 2])! == (1.5, 2.5))
  }
}

@Suite struct BrowserRenderingTests {
  /// Renders a full report in headless Chromium and checks that a non-trivial screenshot comes out. Skipped
  /// when no Chromium is installed (Debian package `chromium`).
  @Test(.enabled(if: ToolProbe.chromium != nil, "needs Chromium on PATH"))
  func reportRendersInHeadlessChromium() throws {
    let browser = try #require(ToolProbe.chromium)
    let dir = temporaryDirectory("plot-render")
    var report = HTMLReport(title: "Rendering check", subtitle: "all plot kinds")
    report.settings = [("task", "two_moons")]
    let samples = gaussianSamples(1000, 2, seed: 11)
    let grid = (0...20).map { Double($0) / 20 }
    report.figures = [
      .init(title: "Pair plot", svg: PairPlot(reference: gaussianSamples(300, 2, seed: 12), truth: [0, 0]).render(samples)),
      .init(title: "Loss", svg: LossCurvePlot(train: [3, 2, 1.5, 1.2], validation: [3.1, 2.2, 1.7, 1.6], logScale: true).render()),
      .init(title: "SBC", svg: SBCECDFPlot(names: ["a", "b"], grid: grid, differences: [grid.map { _ in 0 }, grid.map { 0.1 * $0 }],
                                           lower: grid.map { _ in -0.1 }, upper: grid.map { _ in 0.1 }).render()),
    ]
    let html = dir + "/report.html", png = dir + "/report.png"
    try report.render().write(toFile: html, atomically: true, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: browser)
    p.arguments = ["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--screenshot=\(png)",
                   "--window-size=1280,2600", "file://\(html)"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    let size = (try? FileManager.default.attributesOfItem(atPath: png)[.size] as? Int) ?? 0
    #expect(p.terminationStatus == 0 && size > 20_000, "screenshot \(png): \(size) bytes")
  }
}

extension PlottingTests {
  @Test func pairPlotOfManyParametersStaysSmall() throws {
    let samples = gaussianSamples(5000, 8, seed: 21)
    let svg = PairPlot(names: (1...8).map { "p\($0)" }, truth: Array(repeating: 0, count: 8)).render(samples)
    keep(svg, "pair8.svg")
    #expect(elements(svg) != nil)
    #expect(count(svg, kind: "frame") == 36)
    #expect(svg.utf8.count < 1_500_000)
  }
}

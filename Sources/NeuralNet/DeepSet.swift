// Permutation-invariant summary network for exchangeable sets (Zaheer et al. 2017, "Deep Sets").

import NumericCore

/// Shape and widths of a `DeepSet`.
public struct DeepSetConfiguration: Sendable, Codable, Equatable {
  /// Features per set element.
  public var elementDimension: Int
  /// Maximum set size N; each input row holds N elements × `elementDimension` features.
  public var setSize: Int
  public var summaryDimension: Int
  /// Widths of the per-element network φ and of the pooled network ρ.
  public var innerWidths: [Int] = [64, 64]
  public var outerWidths: [Int] = [64, 64]
  public var activation: Activation = .mish

  public init(elementDimension: Int, setSize: Int, summaryDimension: Int) {
    self.elementDimension = elementDimension
    self.setSize = setSize
    self.summaryDimension = summaryDimension
  }
}

/// DeepSet summary network with masked mean pooling:
///
///     h_i = φ(x_i)  (Dense + activation per layer, shared over elements)
///     p   = Σ_i m_i h_i / max(Σ_i m_i, 1)
///     s   = W_out · ρ(p) + b_out
///
/// Input rows are flattened sets [B, N·d]. An element whose features are all NaN is absent (m_i = 0), so
/// batches may mix set sizes by NaN padding. Backward: `∂L/∂h_i = m_i/Σm · ∂L/∂p`, then through φ.
/// The output is invariant to permutations of the present elements and to the padding.
public final class DeepSet: SummaryNetwork, @unchecked Sendable {
  public let configuration: DeepSetConfiguration
  public let parameters: ParameterBuffer
  let inner: [Dense]
  let outer: [Dense]
  let output: Dense
  let ws = Work()

  final class Work: @unchecked Sendable {
    var rows = 0
    let x = ScratchBuffer(), mask = ScratchBuffer(), pooled = ScratchBuffer(), g1 = ScratchBuffer(), g2 = ScratchBuffer()
    var innerOut: [ScratchBuffer] = [], innerGate: [ScratchBuffer] = []
    var outerOut: [ScratchBuffer] = [], outerGate: [ScratchBuffer] = []
  }

  public convenience init(configuration: DeepSetConfiguration, rng: inout Xoshiro) {
    let (layout, parts) = DeepSet.makeLayout(configuration)
    self.init(configuration, ParameterBuffer(layout: layout, rng: &rng), parts)
  }

  init(_ c: DeepSetConfiguration, _ p: ParameterBuffer, _ parts: ([Dense], [Dense], Dense)) {
    configuration = c
    parameters = p
    (inner, outer, output) = parts
    for _ in inner { ws.innerOut.append(ScratchBuffer()); ws.innerGate.append(ScratchBuffer()) }
    for _ in outer { ws.outerOut.append(ScratchBuffer()); ws.outerGate.append(ScratchBuffer()) }
  }

  static func makeLayout(_ c: DeepSetConfiguration) -> (ParameterLayout, ([Dense], [Dense], Dense)) {
    precondition(c.elementDimension > 0 && c.setSize > 0 && c.summaryDimension > 0 && !c.innerWidths.isEmpty,
                 "invalid DeepSet shape")
    var layout = ParameterLayout()
    var prev = c.elementDimension
    var inner: [Dense] = []
    for (i, w) in c.innerWidths.enumerated() {
      inner.append(Dense("inner.\(i)", inputs: prev, outputs: w, layout: &layout))
      prev = w
    }
    var outer: [Dense] = []
    for (i, w) in c.outerWidths.enumerated() {
      outer.append(Dense("outer.\(i)", inputs: prev, outputs: w, layout: &layout))
      prev = w
    }
    let out = Dense("output", inputs: prev, outputs: c.summaryDimension, initializer: .glorotUniform(fanIn: prev, fanOut: c.summaryDimension), layout: &layout)
    return (layout, (inner, outer, out))
  }

  public var inputDimension: Int { configuration.setSize * configuration.elementDimension }
  public var outputDimension: Int { configuration.summaryDimension }
  public var architecture: SummaryArchitecture { .deepSet(configuration) }

  public func replica() -> any SummaryNetwork {
    DeepSet(configuration, parameters.sharingValues(), DeepSet.makeLayout(configuration).1)
  }

  public func forward(_ x: Matrix, training: Bool, rng: inout Xoshiro) -> Matrix {
    let c = configuration
    precondition(x.cols == inputDimension, "DeepSet expects rows of \(inputDimension) values, got \(x.cols)")
    let b = x.rows, n = c.setSize, d = c.elementDimension, e = b * n
    ws.rows = b
    let p = UnsafePointer(parameters.values)
    let xs = ws.x.ensure(e * d), mask = ws.mask.ensure(e)
    x.withUnsafeBufferPointer { src in
      for i in 0..<e {
        let row = src.baseAddress! + i * d
        let present = (0..<d).contains { !row[$0].isNaN }
        mask[i] = present ? 1 : 0
        for k in 0..<d { xs[i * d + k] = present && row[k].isFinite ? row[k] : 0 }
      }
    }
    var h = UnsafePointer(xs), width = d
    for (l, layer) in inner.enumerated() {
      let o = ws.innerOut[l].ensure(e * layer.outputs)
      layer.forward(rows: e, x: h, ldx: width, parameters: p, y: o, ldy: layer.outputs)
      c.activation.forward(count: e * layer.outputs, o, into: o, derivative: ws.innerGate[l].ensure(e * layer.outputs))
      h = UnsafePointer(o)
      width = layer.outputs
    }
    let pooled = ws.pooled.ensure(b * width)
    pooled.update(repeating: 0, count: b * width)
    for r in 0..<b {
      var count: Float = 0
      for i in 0..<n where mask[r * n + i] > 0 {
        Kernels.axpy(count: width, alpha: 1, x: h + (r * n + i) * width, y: pooled + r * width)
        count += 1
      }
      Kernels.scale(count: width, pooled + r * width, by: 1 / max(count, 1))
    }
    h = UnsafePointer(pooled)
    for (l, layer) in outer.enumerated() {
      let o = ws.outerOut[l].ensure(b * layer.outputs)
      layer.forward(rows: b, x: h, ldx: width, parameters: p, y: o, ldy: layer.outputs)
      c.activation.forward(count: b * layer.outputs, o, into: o, derivative: ws.outerGate[l].ensure(b * layer.outputs))
      h = UnsafePointer(o)
      width = layer.outputs
    }
    var out = Matrix(rows: b, cols: c.summaryDimension)
    out.withUnsafeMutableBufferPointer {
      output.forward(rows: b, x: h, ldx: width, parameters: p, y: $0.baseAddress!, ldy: c.summaryDimension)
    }
    return out
  }

  public func backward(_ outputGradient: Matrix) {
    let c = configuration
    let b = ws.rows, n = c.setSize, e = b * n
    precondition(outputGradient.rows == b && outputGradient.cols == c.summaryDimension)
    let p = UnsafePointer(parameters.values), g = parameters.gradients
    var width = outer.last?.outputs ?? inner.last!.outputs
    let top = UnsafePointer(outer.isEmpty ? ws.pooled.p : ws.outerOut[outer.count - 1].p)
    var dh = ws.g1.ensure(b * max(width, 1))
    outputGradient.withUnsafeBufferPointer { dp in
      output.accumulateGradients(rows: b, x: top, ldx: width, dy: dp.baseAddress!, ldy: c.summaryDimension, gradients: g)
      output.inputGradient(rows: b, dy: dp.baseAddress!, ldy: c.summaryDimension, parameters: p, dx: dh, ldx: width)
    }
    for l in stride(from: outer.count - 1, through: 0, by: -1) {
      let layer = outer[l]
      Kernels.mul(count: b * width, dh, ws.outerGate[l].p, into: dh)
      let below = UnsafePointer(l == 0 ? ws.pooled.p : ws.outerOut[l - 1].p)
      layer.accumulateGradients(rows: b, x: below, ldx: layer.inputs, dy: dh, ldy: width, gradients: g)
      let next = (dh == ws.g1.p ? ws.g2 : ws.g1).ensure(b * layer.inputs)
      layer.inputGradient(rows: b, dy: dh, ldy: width, parameters: p, dx: next, ldx: layer.inputs)
      dh = next
      width = layer.inputs
    }
    // Un-pool: ∂L/∂h_i = m_i / Σm · ∂L/∂p.
    let mask = ws.mask.p
    let dElem = (dh == ws.g1.p ? ws.g2 : ws.g1).ensure(e * width)
    for r in 0..<b {
      var count: Float = 0
      for i in 0..<n { count += mask[r * n + i] }
      let s = 1 / max(count, 1)
      for i in 0..<n {
        let dst = dElem + (r * n + i) * width
        if mask[r * n + i] > 0 {
          dst.update(from: dh + r * width, count: width)
          Kernels.scale(count: width, dst, by: s)
        } else {
          dst.update(repeating: 0, count: width)
        }
      }
    }
    dh = dElem
    for l in stride(from: inner.count - 1, through: 0, by: -1) {
      let layer = inner[l]
      Kernels.mul(count: e * width, dh, ws.innerGate[l].p, into: dh)
      let below = UnsafePointer(l == 0 ? ws.x.p : ws.innerOut[l - 1].p)
      layer.accumulateGradients(rows: e, x: below, ldx: layer.inputs, dy: dh, ldy: width, gradients: g)
      if l > 0 {
        let next = (dh == ws.g1.p ? ws.g2 : ws.g1).ensure(e * layer.inputs)
        layer.inputGradient(rows: e, dy: dh, ldy: width, parameters: p, dx: next, ldx: layer.inputs)
        dh = next
        width = layer.inputs
      }
    }
  }
}

// A transformer inference network over one token per variable (Documentation/Methods.md §10.1): every θ
// component and every condition value is a token with its own learned identity, so attention decides which data
// values inform which parameter.

import NumericCore

/// Shape of a `TokenTransformer`.
public struct TransformerConfiguration: Codable, Sendable, Equatable {
  /// Dimension of the network input and output (θ).
  public var inputDimension: Int
  /// Dimension of the condition (0 for none).
  public var conditionDimension: Int
  /// Token width D and attention heads (D must be a multiple of the head count).
  public var width = 64
  public var heads = 4
  /// Self-attention blocks.
  public var blocks = 4
  /// Fourier time features (`timeEmbeddingDimension/2` frequencies and the identity) and their scale.
  public var timeEmbeddingDimension = 32
  public var fourierScale: Float = 30
  public var activation: Activation = .mish

  public init(inputDimension: Int, conditionDimension: Int, width: Int = 64, heads: Int = 4, blocks: Int = 4) {
    self.inputDimension = inputDimension
    self.conditionDimension = conditionDimension
    self.width = width
    self.heads = heads
    self.blocks = blocks
  }

  /// Tokens per row: one per θ component and one per condition value.
  public var tokens: Int { inputDimension + conditionDimension }

  /// Positive sizes within bounds that keep a corrupt model file from requesting huge allocations.
  public var isValidShape: Bool {
    inputDimension > 0 && conditionDimension >= 0 && tokens <= 1 << 14 && width > 0 && width <= 1 << 12
      && heads > 0 && width % heads == 0 && blocks >= 1 && blocks <= 64 && timeEmbeddingDimension >= 2
      && timeEmbeddingDimension % 2 == 0 && timeEmbeddingDimension <= 1 << 12 && fourierScale.isFinite
  }
}

/// Transformer over per-variable tokens (in the manner of the Simformer, Gloeckler et al. 2024, without its
/// attention masks):
///
///     token i of row b:  v = θ_i (i < P) or c_{i−P};   h⁰_i = v·a_i + e_i          (a_i, e_i ∈ R^D learned)
///     τ_l(t) = [Fourier(t) · W_τ + b_τ]_l                                          (one D-vector per block)
///     hˡ = SAB_l(hˡ⁻¹ + τ_l(t)),  l = 1…L           (SAB: the Set Transformer's MAB(X, X), post-LayerNorm)
///     y_i = hᴸ_i · u + u₀                          for the P θ tokens
///
/// The condition tokens carry the data, the θ tokens the noisy parameters; the time shift enters every block
/// (as the TimeMLP's FiLM shifts do). Backward passes are the layers' own (`AttentionBlock.backward`, `Dense`,
/// `FourierEmbedding`) chained in reverse; ∂L/∂c is returned for summary networks trained jointly. No dropout.
public final class TokenTransformer: ConditionalNetwork, @unchecked Sendable {
  public let configuration: TransformerConfiguration
  public let parameters: ParameterBuffer
  let layers: Layers
  let work = Workspace()
  /// One workspace per thread of `predict`.
  var inferenceWorkspaces: [Workspace] = []
  /// Rows per forward pass of `predict`.
  static let inferenceChunkRows = 128

  struct Layers: Sendable {
    let embedding: FourierEmbedding
    let time: Dense
    let valueOffset: Int
    let identityOffset: Int
    let blocks: [AttentionBlock]
    let output: Dense
  }

  /// Buffers of one forward pass kept for its backward pass.
  final class Workspace: @unchecked Sendable {
    var rows = 0
    var caches: [AttentionBlock.Cache] = []
    var inputs: [ScratchBuffer] = []
    let values = ScratchBuffer(), time = ScratchBuffer(), embedding = ScratchBuffer(), shifts = ScratchBuffer()
    let tokens = ScratchBuffer(), mask = ScratchBuffer(), gA = ScratchBuffer(), gB = ScratchBuffer()
    let dShifts = ScratchBuffer(), dEmbedding = ScratchBuffer(), dValues = ScratchBuffer()

    func prepare(blocks: Int) {
      while caches.count < blocks { caches.append(AttentionBlock.Cache()); inputs.append(ScratchBuffer()) }
    }
  }

  /// Builds the network with fresh parameters drawn from `rng`.
  public convenience init(configuration: TransformerConfiguration, rng: inout Xoshiro) {
    let (layout, layers) = TokenTransformer.makeLayout(configuration)
    self.init(configuration, ParameterBuffer(layout: layout, rng: &rng), layers)
  }

  init(_ c: TransformerConfiguration, _ p: ParameterBuffer, _ layers: Layers) {
    configuration = c
    parameters = p
    self.layers = layers
  }

  public static func parameterCount(_ configuration: TransformerConfiguration) -> Int {
    makeLayout(configuration).0.count
  }

  static func makeLayout(_ c: TransformerConfiguration) -> (ParameterLayout, Layers) {
    precondition(c.isValidShape, "invalid transformer shape")
    var layout = ParameterLayout()
    let d = c.width, n = c.tokens
    let emb = FourierEmbedding("time_embedding", embedDimension: c.timeEmbeddingDimension, scale: c.fourierScale,
                               layout: &layout)
    let time = Dense("time", inputs: emb.outputs, outputs: c.blocks * d,
                     initializer: .glorotUniform(fanIn: emb.outputs, fanOut: d), layout: &layout)
    let value = layout.add("tokens.value", shape: [n, d], initializer: .glorotUniform(fanIn: 1, fanOut: d))
    let identity = layout.add("tokens.identity", shape: [n, d], initializer: .glorotUniform(fanIn: 1, fanOut: d))
    let blocks = (0..<c.blocks).map { AttentionBlock("block.\($0)", width: d, heads: c.heads, layout: &layout) }
    let output = Dense("output", inputs: d, outputs: 1, initializer: .glorotUniform(fanIn: d, fanOut: 1),
                       layout: &layout)
    return (layout, Layers(embedding: emb, time: time, valueOffset: value, identityOffset: identity, blocks: blocks,
                           output: output))
  }

  public var inputDimension: Int { configuration.inputDimension }
  public var conditionDimension: Int { configuration.conditionDimension }

  public func replicaNetwork() -> any ConditionalNetwork {
    TokenTransformer(configuration, parameters.sharingValues(), layers)
  }

  // MARK: Passes

  public func forward(_ x: Matrix, time: [Float], condition: Matrix?, training: Bool, rng: inout Xoshiro) -> Matrix {
    checkShapes(x, time: time, condition: condition, network: "transformer")
    var out = Matrix(rows: x.rows, cols: inputDimension)
    out.withUnsafeMutableBufferPointer {
      run(work, x: x, rows: 0..<x.rows, time: time, condition: condition, into: $0.baseAddress!)
    }
    return out
  }

  /// Inference pass without disturbing the caches of the last `forward`: chunks of `inferenceChunkRows` rows
  /// spread over `Threading.count` threads, each with its own workspace and a single-threaded BLAS. Every chunk
  /// goes through the same operations whatever the thread count, so the output does not depend on it.
  public func predict(_ x: Matrix, time: [Float], condition: Matrix?) -> Matrix {
    checkShapes(x, time: time, condition: condition, network: "transformer")
    return chunkedInference(
      rows: x.rows, columns: inputDimension, chunkRows: TokenTransformer.inferenceChunkRows,
      workspaces: &inferenceWorkspaces, make: Workspace.init
    ) { w, rows, out in self.run(w, x: x, rows: rows, time: time, condition: condition, into: out) }
  }

  /// Forward pass of rows `range` of `x` into the same rows of `out` ([x.rows, inputDimension]), keeping what the
  /// backward pass needs in `w`.
  func run(
    _ w: Workspace, x: Matrix, rows range: Range<Int>, time: [Float], condition: Matrix?,
    into out: UnsafeMutablePointer<Float>
  ) {
    let c = configuration, l = layers, b = range.count, d = c.width, n = c.tokens, pDim = c.inputDimension
    let cDim = c.conditionDimension, p = UnsafePointer(parameters.values)
    w.rows = b
    w.prepare(blocks: l.blocks.count)
    // Token values [b, n]: θ then the condition.
    let v = w.values.ensure(b * n)
    x.withUnsafeBufferPointer { xs in
      for r in 0..<b { (v + r * n).update(from: xs.baseAddress! + (range.lowerBound + r) * pDim, count: pDim) }
    }
    if cDim > 0, let condition {
      condition.withUnsafeBufferPointer { cs in
        for r in 0..<b { (v + r * n + pDim).update(from: cs.baseAddress! + (range.lowerBound + r) * cDim, count: cDim) }
      }
    }
    // Time shifts [b, L·D].
    let t = w.time.ensure(b), e = w.embedding.ensure(b * l.embedding.outputs)
    for r in 0..<b { t[r] = time[range.lowerBound + r] }
    l.embedding.forward(rows: b, t: t, parameters: p, e: e)
    let shifts = w.shifts.ensure(b * l.blocks.count * d)
    l.time.forward(rows: b, x: e, ldx: l.embedding.outputs, parameters: p, y: shifts, ldy: l.blocks.count * d)
    // h⁰ = v·a + e_id.
    var h = w.tokens.ensure(b * n * d)
    let a = p + l.valueOffset, id = p + l.identityOffset
    for r in 0..<b {
      for i in 0..<n {
        let row = h + (r * n + i) * d, vi = v[r * n + i]
        for k in 0..<d { row[k] = vi * a[i * d + k] + id[i * d + k] }
      }
    }
    let mask = w.mask.ensure(b * n)
    mask.update(repeating: 1, count: b * n)
    for (j, block) in l.blocks.enumerated() {
      let input = w.inputs[j].ensure(b * n * d)
      for r in 0..<b {
        let shift = UnsafePointer(shifts + r * l.blocks.count * d + j * d)
        for i in 0..<n { Kernels.add(count: d, h + (r * n + i) * d, shift, into: input + (r * n + i) * d) }
      }
      block.forward(sets: b, nq: n, nk: n, x: input, y: input, mask: mask, activation: c.activation, parameters: p,
                    cache: w.caches[j])
      h = w.caches[j].out.p
    }
    // y_i = hᴸ_i·u + u₀ for the θ tokens.
    let u = p + l.output.kernelOffset, u0 = p[l.output.biasOffset!]
    for r in 0..<b {
      let o = out + (range.lowerBound + r) * pDim
      for i in 0..<pDim {
        let row = h + (r * n + i) * d
        var s: Float = 0
        for k in 0..<d { s += row[k] * u[k] }
        o[i] = s + u0
      }
    }
  }

  /// Accumulates parameter gradients for the last `forward` and returns ∂L/∂condition (nil without a condition).
  @discardableResult
  public func backward(_ outputGradient: Matrix) -> Matrix? {
    let c = configuration, l = layers, w = work, b = w.rows, d = c.width, n = c.tokens, pDim = c.inputDimension
    let cDim = c.conditionDimension, nb = l.blocks.count
    precondition(outputGradient.rows == b && outputGradient.cols == pDim, "output gradient must be [\(b), \(pDim)]")
    let p = UnsafePointer(parameters.values), g = parameters.gradients
    // Output head.
    let top = UnsafePointer(w.caches[nb - 1].out.p)
    var dh = w.gA.ensure(b * n * d)
    dh.update(repeating: 0, count: b * n * d)
    let u = p + l.output.kernelOffset, du = g + l.output.kernelOffset, du0 = g + l.output.biasOffset!
    outputGradient.withUnsafeBufferPointer { og in
      for r in 0..<b {
        for i in 0..<pDim {
          let gy = og[r * pDim + i], row = top + (r * n + i) * d, drow = dh + (r * n + i) * d
          du0.pointee += gy
          for k in 0..<d {
            du[k] += gy * row[k]
            drow[k] = gy * u[k]
          }
        }
      }
    }
    // Blocks in reverse; each block input was hˡ⁻¹ + τ_l.
    let dShifts = w.dShifts.ensure(b * nb * d)
    dShifts.update(repeating: 0, count: b * nb * d)
    for j in stride(from: nb - 1, through: 0, by: -1) {
      let input = UnsafePointer(w.inputs[j].p)
      let next = (dh == w.gA.p ? w.gB : w.gA).ensure(b * n * d)
      l.blocks[j].backward(sets: b, nq: n, nk: n, x: input, y: input, dOut: dh, parameters: p, gradients: g,
                           cache: w.caches[j], dx: next, dy: next)
      for r in 0..<b {
        let ds = dShifts + r * nb * d + j * d
        for i in 0..<n { Kernels.add(count: d, ds, next + (r * n + i) * d, into: ds) }
      }
      dh = next
    }
    // Token embedding: ∂a_i += Σ_b v·dh, ∂e_i += Σ_b dh, ∂v = dh·a_i.
    let v = UnsafePointer(w.values.p), a = p + l.valueOffset
    let da = g + l.valueOffset, did = g + l.identityOffset
    let dValues = w.dValues.ensure(b * n)
    for r in 0..<b {
      for i in 0..<n {
        let drow = dh + (r * n + i) * d, vi = v[r * n + i]
        var dv: Float = 0
        for k in 0..<d {
          da[i * d + k] += vi * drow[k]
          did[i * d + k] += drow[k]
          dv += drow[k] * a[i * d + k]
        }
        dValues[r * n + i] = dv
      }
    }
    var dCondition: Matrix? = nil
    if cDim > 0 {
      var m = Matrix(rows: b, cols: cDim)
      m.withUnsafeMutableBufferPointer { o in
        for r in 0..<b { (o.baseAddress! + r * cDim).update(from: dValues + r * n + pDim, count: cDim) }
      }
      dCondition = m
    }
    // Time: τ = Fourier(t)·W_τ + b_τ.
    let eo = l.embedding.outputs
    l.time.accumulateGradients(rows: b, x: w.embedding.p, ldx: eo, dy: dShifts, ldy: nb * d, gradients: g)
    let de = w.dEmbedding.ensure(b * eo)
    l.time.inputGradient(rows: b, dy: dShifts, ldy: nb * d, parameters: p, dx: de, ldx: eo)
    l.embedding.accumulateGradients(rows: b, t: w.time.p, e: w.embedding.p, de: de, gradients: g)
    return dCondition
  }
}

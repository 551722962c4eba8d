// Set Transformer summary network (Lee et al. 2019): self-attention blocks and pooling by attention.

import NumericCore

/// Shape of a `SetTransformer`.
public struct SetTransformerConfiguration: Sendable, Codable, Equatable {
  public var elementDimension: Int
  public var setSize: Int
  public var summaryDimension: Int
  /// Attention width D and heads (D must be a multiple of the head count).
  public var width = 64
  public var heads = 4
  /// Number of self-attention blocks (SAB) before pooling.
  public var blocks = 2
  public var activation: Activation = .mish

  public init(elementDimension: Int, setSize: Int, summaryDimension: Int) {
    self.elementDimension = elementDimension
    self.setSize = setSize
    self.summaryDimension = summaryDimension
  }
}

/// Set Transformer:
///
///     X₀ = act(x W_e + b_e)                 (per element, width D)
///     X_l = MAB(X_{l−1}, X_{l−1})           (SAB, l = 1…L)
///     p = MAB(S, X_L)                        (PMA with one learned seed S ∈ R^D)
///     s = p W_out + b_out
///
/// Input rows are flattened sets [B, N·d]; elements whose features are all NaN are absent (masked out of every
/// attention as keys). The summary is invariant to permutations of the elements and to the padding.
/// No dropout.
public final class SetTransformer: SummaryNetwork, @unchecked Sendable {
  public let configuration: SetTransformerConfiguration
  public let parameters: ParameterBuffer
  let embed: Dense
  let blocks: [AttentionBlock]
  let pool: AttentionBlock
  let seedOffset: Int
  let output: Dense
  let caches: [AttentionBlock.Cache]
  let poolCache = AttentionBlock.Cache()
  let x = ScratchBuffer(), mask = ScratchBuffer(), e = ScratchBuffer(), gate = ScratchBuffer()
  let seeds = ScratchBuffer(), dSeeds = ScratchBuffer(), gA = ScratchBuffer(), gB = ScratchBuffer(), dp = ScratchBuffer()
  var sets = 0

  typealias Parts = (Dense, [AttentionBlock], AttentionBlock, Int, Dense)

  public convenience init(configuration: SetTransformerConfiguration, rng: inout Xoshiro) {
    let (layout, parts) = SetTransformer.makeLayout(configuration)
    self.init(configuration, ParameterBuffer(layout: layout, rng: &rng), parts)
  }

  init(_ c: SetTransformerConfiguration, _ p: ParameterBuffer, _ parts: Parts) {
    configuration = c
    parameters = p
    (embed, blocks, pool, seedOffset, output) = parts
    caches = blocks.map { _ in AttentionBlock.Cache() }
  }

  static func makeLayout(_ c: SetTransformerConfiguration) -> (ParameterLayout, Parts) {
    precondition(c.elementDimension > 0 && c.setSize > 0 && c.summaryDimension > 0 && c.width > 0 && c.heads > 0
                 && c.width % c.heads == 0 && c.blocks >= 0, "invalid SetTransformer shape")
    var layout = ParameterLayout()
    let emb = Dense("embed", inputs: c.elementDimension, outputs: c.width, layout: &layout)
    let blocks = (0..<c.blocks).map { AttentionBlock("sab.\($0)", width: c.width, heads: c.heads, layout: &layout) }
    let pool = AttentionBlock("pma", width: c.width, heads: c.heads, layout: &layout)
    let seed = layout.add("pma.seed", shape: [1, c.width], initializer: .glorotUniform(fanIn: 1, fanOut: c.width))
    let out = Dense("output", inputs: c.width, outputs: c.summaryDimension,
                    initializer: .glorotUniform(fanIn: c.width, fanOut: c.summaryDimension), layout: &layout)
    return (layout, (emb, blocks, pool, seed, out))
  }

  public var inputDimension: Int { configuration.setSize * configuration.elementDimension }
  public var outputDimension: Int { configuration.summaryDimension }
  public var architecture: SummaryArchitecture { .setTransformer(configuration) }

  public func replica() -> any SummaryNetwork {
    SetTransformer(configuration, parameters.sharingValues(), SetTransformer.makeLayout(configuration).1)
  }

  public func forward(_ input: Matrix, training: Bool, rng: inout Xoshiro) -> Matrix {
    let c = configuration
    precondition(input.cols == inputDimension, "SetTransformer expects rows of \(inputDimension) values, got \(input.cols)")
    let b = input.rows, n = c.setSize, d = c.elementDimension, w = c.width, rows = b * n
    sets = b
    let p = UnsafePointer(parameters.values)
    let xs = x.ensure(rows * d), m = mask.ensure(rows)
    input.withUnsafeBufferPointer { src in
      for i in 0..<rows {
        let row = src.baseAddress! + i * d
        let present = (0..<d).contains { !row[$0].isNaN }
        m[i] = present ? 1 : 0
        for k in 0..<d { xs[i * d + k] = present && row[k].isFinite ? row[k] : 0 }
      }
    }
    let ep = e.ensure(rows * w)
    embed.forward(rows: rows, x: xs, ldx: d, parameters: p, y: ep, ldy: w)
    c.activation.forward(count: rows * w, ep, into: ep, derivative: gate.ensure(rows * w))
    var h = UnsafePointer(ep)
    for (l, blk) in blocks.enumerated() {
      blk.forward(sets: b, nq: n, nk: n, x: h, y: h, mask: m, activation: c.activation, parameters: p, cache: caches[l])
      h = UnsafePointer(caches[l].out.p)
    }
    let s = seeds.ensure(b * w)
    for r in 0..<b { (s + r * w).update(from: p + seedOffset, count: w) }
    pool.forward(sets: b, nq: 1, nk: n, x: s, y: h, mask: m, activation: c.activation, parameters: p, cache: poolCache)
    var out = Matrix(rows: b, cols: c.summaryDimension)
    out.withUnsafeMutableBufferPointer {
      output.forward(rows: b, x: poolCache.out.p, ldx: w, parameters: p, y: $0.baseAddress!, ldy: c.summaryDimension)
    }
    return out
  }

  public func backward(_ outputGradient: Matrix) {
    let c = configuration
    let b = sets, n = c.setSize, w = c.width, rows = b * n
    precondition(outputGradient.rows == b && outputGradient.cols == c.summaryDimension)
    let p = UnsafePointer(parameters.values), g = parameters.gradients
    let dpool = dp.ensure(b * w)
    outputGradient.withUnsafeBufferPointer { o in
      output.accumulateGradients(rows: b, x: poolCache.out.p, ldx: w, dy: o.baseAddress!, ldy: c.summaryDimension, gradients: g)
      output.inputGradient(rows: b, dy: o.baseAddress!, ldy: c.summaryDimension, parameters: p, dx: dpool, ldx: w)
    }
    var dh = gA.ensure(rows * w)
    dh.update(repeating: 0, count: rows * w)
    let top = UnsafePointer(blocks.isEmpty ? e.p : caches[blocks.count - 1].out.p)
    let ds = dSeeds.ensure(b * w)
    pool.backward(sets: b, nq: 1, nk: n, x: seeds.p, y: top, dOut: dpool, parameters: p, gradients: g, cache: poolCache,
                  dx: ds, dy: dh)
    for r in 0..<b { Kernels.axpy(count: w, alpha: 1, x: ds + r * w, y: g + seedOffset) }
    for l in stride(from: blocks.count - 1, through: 0, by: -1) {
      let input = UnsafePointer(l == 0 ? e.p : caches[l - 1].out.p)
      let next = (dh == gA.p ? gB : gA).ensure(rows * w)
      blocks[l].backward(sets: b, nq: n, nk: n, x: input, y: input, dOut: dh, parameters: p, gradients: g,
                         cache: caches[l], dx: next, dy: next)
      dh = next
    }
    Kernels.mul(count: rows * w, dh, gate.p, into: dh)
    embed.accumulateGradients(rows: rows, x: x.p, ldx: c.elementDimension, dy: dh, ldy: w, gradients: g)
  }
}

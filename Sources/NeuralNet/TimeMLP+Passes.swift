// Fused forward and backward passes of TimeMLP over raw buffers.
//
// Per residual block the forward does one GEMM (z = h·W) and one pass over each row that applies bias,
// activation (keeping its derivative), dropout, FiLM and the residual sum, followed by LayerNorm on the row
// while it is in L1. The backward mirrors it: one pass per row for LayerNorm backward, FiLM, dropout and
// activation gradients (and the bias gradient), then two GEMMs (dW, dh).

import CKernels
import NumericCore

extension TimeMLP {
  /// Activations and caches of one pass; sized for the largest batch seen.
  final class Workspace: @unchecked Sendable {
    var rows = 0
    var hasCondition = false
    let x = ScratchBuffer(), t = ScratchBuffer(), c = ScratchBuffer()
    let emb = ScratchBuffer(), film = ScratchBuffer(), dFilm = ScratchBuffer(), demb = ScratchBuffer()
    let u = ScratchBuffer(), gate0 = ScratchBuffer(), h0 = ScratchBuffer(), gate1 = ScratchBuffer(), du = ScratchBuffer()
    let z = ScratchBuffer(), res = ScratchBuffer(), mask = ScratchBuffer(), dz = ScratchBuffer()
    let gradA = ScratchBuffer(), gradB = ScratchBuffer()
    var blockOut: [ScratchBuffer] = [], xhat: [ScratchBuffer] = [], gate: [ScratchBuffer] = []
    var rstd: [ScratchBuffer] = [], act: [ScratchBuffer] = []

    func prepare(blocks: Int) {
      while blockOut.count < blocks {
        blockOut.append(ScratchBuffer()); xhat.append(ScratchBuffer()); gate.append(ScratchBuffer())
        rstd.append(ScratchBuffer()); act.append(ScratchBuffer())
      }
    }
  }

  /// Forward pass of `rows` rows into `out` [rows, dθ]. With `cache` the inputs and intermediate values are
  /// kept in `ws` for `runBackward`. With `features` (a `ConditionFeatures` table and the rows' indices into it,
  /// inference only) the condition's part of the merge layer is read from the table instead of computed from `c`.
  func run(
    _ ws: Workspace, rows b: Int, x: UnsafePointer<Float>, t: UnsafePointer<Float>, c: UnsafePointer<Float>?,
    features: (table: UnsafePointer<Float>, index: UnsafePointer<Int32>)? = nil,
    out: UnsafeMutablePointer<Float>, cache: Bool, training: Bool, rng: inout Xoshiro
  ) {
    let cfg = configuration
    let p = UnsafePointer(parameters.values)
    let dx = cfg.inputDimension, dc = cfg.conditionDimension
    ws.prepare(blocks: blocks.count)
    ws.rows = b
    ws.hasCondition = c != nil
    var xs = x, ts = t, cs = c
    if cache {
      xs = UnsafePointer(ws.x.ensure(b * dx)); ws.x.p.update(from: x, count: b * dx)
      ts = UnsafePointer(ws.t.ensure(b)); ws.t.p.update(from: t, count: b)
      if let c { cs = UnsafePointer(ws.c.ensure(b * dc)); ws.c.p.update(from: c, count: b * dc) }
    }
    let e = embedding.outputs, f = filmWidth, w0 = cfg.widths[0]
    let emb = ws.emb.ensure(b * e)
    embedding.forward(rows: b, t: ts, parameters: p, e: emb)
    let filmOut = ws.film.ensure(b * f)
    film.forward(rows: b, x: emb, ldx: e, parameters: p, y: filmOut, ldy: f)

    let h0 = ws.h0.ensure(b * w0)
    if let features, let mg = merge {
      precondition(!cache, "condition features are for inference")
      // h0 = mish(x_proj(x))·W_x + table[index]: W_x is the first w₀ rows of the merge kernel [2w₀, w₀].
      let u = ws.u.ensure(b * w0)
      inputProjection.forward(rows: b, x: xs, ldx: dx, parameters: p, y: u, ldy: w0)
      activate(count: b * w0, u, derivative: nil)
      for r in 0..<b { (h0 + r * w0).update(from: features.table + Int(features.index[r]) * w0, count: w0) }
      BLAS.sgemm(transA: false, transB: false, m: b, n: w0, k: w0, alpha: 1, a: u, lda: w0, b: p + mg.kernelOffset,
                 ldb: w0, beta: 1, c: h0, ldc: w0)
    } else if let cs, let cp = conditionProjection, let mg = merge {
      let u = ws.u.ensure(b * 2 * w0)
      inputProjection.forward(rows: b, x: xs, ldx: dx, parameters: p, y: u, ldy: 2 * w0)
      cp.forward(rows: b, x: cs, ldx: dc, parameters: p, y: u + w0, ldy: 2 * w0)
      activate(count: b * 2 * w0, u, derivative: cache ? ws.gate0.ensure(b * 2 * w0) : nil)
      mg.forward(rows: b, x: u, ldx: 2 * w0, parameters: p, y: h0, ldy: w0)
    } else {
      inputProjection.forward(rows: b, x: xs, ldx: dx, parameters: p, y: h0, ldy: w0)
    }
    activate(count: b * w0, h0, derivative: cache ? ws.gate1.ensure(b * w0) : nil)

    var hin = UnsafePointer(h0)
    for (j, blk) in blocks.enumerated() {
      let o = cache ? ws.blockOut[j].ensure(b * blk.width) : (j % 2 == 0 ? ws.gradA : ws.gradB).ensure(b * blk.width)
      blockForward(ws, j, rows: b, input: hin, film: filmOut, out: o, cache: cache, training: training, rng: &rng)
      hin = UnsafePointer(o)
    }
    outputProjection.forward(rows: b, x: hin, ldx: blocks.last!.width, parameters: p, y: out, ldy: dx)
  }

  @inline(__always)
  func activate(count: Int, _ a: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>?) {
    if let derivative {
      configuration.activation.forward(count: count, a, into: a, derivative: derivative)
    } else {
      configuration.activation.forward(count: count, a, into: a)
    }
  }

  /// `out = LayerNorm(res + FiLM(dropout(act(h·W + b))))` for block `j`.
  func blockForward(
    _ ws: Workspace, _ j: Int, rows b: Int, input hin: UnsafePointer<Float>, film: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, cache: Bool, training: Bool, rng: inout Xoshiro
  ) {
    let blk = blocks[j]
    let p = UnsafePointer(parameters.values)
    let w = blk.width, f = filmWidth, scaled = configuration.filmUseScale
    let z = ws.z.ensure(b * w)
    blk.dense.forward(rows: b, x: hin, ldx: blk.inputs, parameters: p, y: z, ldy: w, addBias: false)
    var res = hin
    if let proj = blk.projector {
      let r = ws.res.ensure(b * w)
      proj.forward(rows: b, x: hin, ldx: blk.inputs, parameters: p, y: r, ldy: w)
      res = UnsafePointer(r)
    }
    let bias = p + blk.dense.biasOffset!
    let gamma = p + blk.norm.gammaOffset, beta = p + blk.norm.betaOffset, eps = blk.norm.epsilon
    let useDrop = training && dropout.isActive
    let mask = ws.mask.ensure(w)
    let gate: UnsafeMutablePointer<Float>? = cache ? ws.gate[j].ensure(b * w) : nil
    let xhat: UnsafeMutablePointer<Float>? = cache ? ws.xhat[j].ensure(b * w) : nil
    let rstd: UnsafeMutablePointer<Float>? = cache ? ws.rstd[j].ensure(b) : nil
    let act: UnsafeMutablePointer<Float>? = cache && scaled ? ws.act[j].ensure(b * w) : nil
    let rowPass = BlockRowPass(
      width: w, filmStride: f, z: z, bias: bias, film: film + blk.filmColumn, residual: res, out: out, mask: mask,
      gate: gate, act: act, xhat: xhat, rstd: rstd, gamma: gamma, beta: beta, epsilon: eps, scaled: scaled,
      dropout: useDrop ? dropout : nil)
    rowPass.run(configuration.activation, rows: b, rng: &rng)
  }

  /// Backward pass for the cached forward pass in `ws`; accumulates into `parameters.gradients`.
  func runBackward(_ ws: Workspace, dOut: UnsafePointer<Float>, dCondition: UnsafeMutablePointer<Float>?) {
    let cfg = configuration
    let b = ws.rows
    let p = UnsafePointer(parameters.values), g = parameters.gradients
    let dx = cfg.inputDimension, dc = cfg.conditionDimension, e = embedding.outputs, f = filmWidth
    let w0 = cfg.widths[0], maxW = maxWidth, scaled = cfg.filmUseScale
    var dh = ws.gradA.ensure(b * maxW)
    var other = ws.gradB.ensure(b * maxW)
    let last = blocks.count - 1
    outputProjection.accumulateGradients(rows: b, x: ws.blockOut[last].p, ldx: blocks[last].width, dy: dOut, ldy: dx, gradients: g)
    outputProjection.inputGradient(rows: b, dy: dOut, ldy: dx, parameters: p, dx: dh, ldx: blocks[last].width)
    let dFilm = ws.dFilm.ensure(b * f)
    let filmOut = UnsafePointer(ws.film.p)
    for j in stride(from: last, through: 0, by: -1) {
      let blk = blocks[j]
      let w = blk.width, win = blk.inputs
      let hin = UnsafePointer(j == 0 ? ws.h0.p : ws.blockOut[j - 1].p)
      let dz = ws.dz.ensure(b * w)
      let dr = other
      let gate = ws.gate[j].p, xhat = ws.xhat[j].p, rstd = ws.rstd[j].p, act = ws.act[j].p
      let gamma = p + blk.norm.gammaOffset, dgamma = g + blk.norm.gammaOffset, dbeta = g + blk.norm.betaOffset
      let dbias = g + blk.dense.biasOffset!
      // Per row (C kernel, Sources/CKernels): LayerNorm backward, FiLM, dropout and activation gradients, bias.
      for r in 0..<b {
        let o = r * w
        dsk_block_row_backward(
          w, dh + o, xhat + o, rstd[r], gamma, dgamma, dbeta, dr + o, dFilm + r * f + blk.filmColumn, act + o,
          filmOut + r * f + blk.filmColumn, gate + o, dz + o, dbias, scaled ? 1 : 0)
      }
      blk.dense.accumulateGradients(rows: b, x: hin, ldx: win, dy: dz, ldy: w, gradients: g, biasFromRows: false)
      if let proj = blk.projector {
        proj.accumulateGradients(rows: b, x: hin, ldx: win, dy: dr, ldy: w, gradients: g)
        proj.inputGradient(rows: b, dy: dr, ldy: w, parameters: p, dx: dh, ldx: win)
        blk.dense.inputGradient(rows: b, dy: dz, ldy: w, parameters: p, dx: dh, ldx: win, accumulate: true)
      } else {
        blk.dense.inputGradient(rows: b, dy: dz, ldy: w, parameters: p, dx: dr, ldx: win, accumulate: true)
        swap(&dh, &other)
      }
    }
    // Time embedding through the shared FiLM projection.
    film.accumulateGradients(rows: b, x: ws.emb.p, ldx: e, dy: dFilm, ldy: f, gradients: g)
    let demb = ws.demb.ensure(b * e)
    film.inputGradient(rows: b, dy: dFilm, ldy: f, parameters: p, dx: demb, ldx: e)
    embedding.accumulateGradients(rows: b, t: ws.t.p, e: ws.emb.p, de: demb, gradients: g)
    // Input stage.
    Kernels.mul(count: b * w0, dh, ws.gate1.p, into: dh)
    if ws.hasCondition, let cp = conditionProjection, let mg = merge {
      mg.accumulateGradients(rows: b, x: ws.u.p, ldx: 2 * w0, dy: dh, ldy: w0, gradients: g)
      let du = ws.du.ensure(b * 2 * w0)
      mg.inputGradient(rows: b, dy: dh, ldy: w0, parameters: p, dx: du, ldx: 2 * w0)
      Kernels.mul(count: b * 2 * w0, du, ws.gate0.p, into: du)
      inputProjection.accumulateGradients(rows: b, x: ws.x.p, ldx: dx, dy: du, ldy: 2 * w0, gradients: g)
      cp.accumulateGradients(rows: b, x: ws.c.p, ldx: dc, dy: du + w0, ldy: 2 * w0, gradients: g)
      if let dCondition {
        cp.inputGradient(rows: b, dy: du + w0, ldy: 2 * w0, parameters: p, dx: dCondition, ldx: dc)
      }
    } else {
      inputProjection.accumulateGradients(rows: b, x: ws.x.p, ldx: dx, dy: dh, ldy: w0, gradients: g)
    }
  }
}

/// The fused elementwise pass of one residual block, row by row:
/// `out = LayerNorm(res + FiLM(mask ⊙ act(z + b)))`, keeping `gate = mask ⊙ act'(z + b)`, `x̂`, `1/σ` (and
/// the pre-FiLM activation when FiLM has a scale) when caching. Each row is one call of the C kernel
/// `dsk_block_row_forward` (Sources/CKernels), after the row's dropout mask is drawn here.
struct BlockRowPass {
  let width: Int, filmStride: Int
  let z: UnsafePointer<Float>, bias: UnsafePointer<Float>, film: UnsafePointer<Float>, residual: UnsafePointer<Float>
  let out: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>
  let gate: UnsafeMutablePointer<Float>?, act: UnsafeMutablePointer<Float>?, xhat: UnsafeMutablePointer<Float>?
  let rstd: UnsafeMutablePointer<Float>?
  let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, scaled: Bool
  let dropout: Dropout?

  func run(_ activation: Activation, rows b: Int, rng: inout Xoshiro) {
    let w = width, kind = activation.kernel
    for r in 0..<b {
      if let dropout { dropout.fillMask(mask, count: w, rng: &rng) }
      let rs = dsk_block_row_forward(
        kind, w, UnsafeMutablePointer(mutating: z) + r * w, bias, film + r * filmStride, residual + r * w,
        out + r * w, dropout == nil ? nil : UnsafePointer(mask), gate.map { $0 + r * w }, act.map { $0 + r * w },
        scaled ? 1 : 0, xhat.map { $0 + r * w }, gamma, beta, epsilon)
      rstd?[r] = rs
    }
  }
}

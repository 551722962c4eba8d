// Multihead attention block (MAB) of the Set Transformer (Lee et al. 2019), with its backward pass.

import CKernels
import Foundation
import NumericCore

/// `MAB(X, Y) = LN₂(H + act(H·W_f + b_f))`, `H = LN₁(X + MHA(X, Y))`, with
/// `MHA(X, Y) = concat_h(softmax(Q_h K_hᵀ/√d_h + mask) V_h)·W_o + b_o`, `Q = X·W_q + b_q`, `K = Y·W_k + b_k`,
/// `V = Y·W_v + b_v`. Per set: X has `nq` rows, Y `nk` rows, width D, `heads` heads of d_h = D/heads.
/// Absent keys (mask 0) get zero weight; a query whose set has no keys attends to nothing.
/// Backward per head: `dA = dO_h V_hᵀ`, `dV_h = Aᵀ dO_h`, `dS = A ⊙ (dA − rowsum(dA ⊙ A))/√d_h`,
/// `dQ_h = dS K_h`, `dK_h = dSᵀ Q_h`; then through the projections, LayerNorms and residuals.
struct AttentionBlock {
  let width: Int
  let heads: Int
  let q: Dense, k: Dense, v: Dense, o: Dense, ff: Dense
  let norm1: LayerNorm, norm2: LayerNorm

  init(_ name: String, width: Int, heads: Int, layout: inout ParameterLayout) {
    precondition(width % heads == 0, "attention width must be a multiple of the head count")
    self.width = width
    self.heads = heads
    q = Dense(name + ".q", inputs: width, outputs: width, initializer: .glorotUniform(fanIn: width, fanOut: width), layout: &layout)
    k = Dense(name + ".k", inputs: width, outputs: width, initializer: .glorotUniform(fanIn: width, fanOut: width), layout: &layout)
    v = Dense(name + ".v", inputs: width, outputs: width, initializer: .glorotUniform(fanIn: width, fanOut: width), layout: &layout)
    o = Dense(name + ".o", inputs: width, outputs: width, initializer: .glorotUniform(fanIn: width, fanOut: width), layout: &layout)
    ff = Dense(name + ".ff", inputs: width, outputs: width, layout: &layout)
    norm1 = LayerNorm(name + ".norm1", features: width, layout: &layout)
    norm2 = LayerNorm(name + ".norm2", features: width, layout: &layout)
  }

  /// Buffers kept between forward and backward.
  final class Cache: @unchecked Sendable {
    let qb = ScratchBuffer(), kb = ScratchBuffer(), vb = ScratchBuffer(), att = ScratchBuffer(), ob = ScratchBuffer()
    let xhat1 = ScratchBuffer(), rstd1 = ScratchBuffer(), h = ScratchBuffer(), gate = ScratchBuffer()
    let xhat2 = ScratchBuffer(), rstd2 = ScratchBuffer(), out = ScratchBuffer()
    let d1 = ScratchBuffer(), d2 = ScratchBuffer(), dq = ScratchBuffer(), dk = ScratchBuffer(), dv = ScratchBuffer()
    let da = ScratchBuffer(), kt = ScratchBuffer(), maskPad = ScratchBuffer()
  }

  /// Forward for `sets` sets; `x` [sets·nq, D], `y` [sets·nk, D], `mask` [sets·nk]. Result in `cache.out`.
  func forward(
    sets: Int, nq: Int, nk: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>, mask: UnsafePointer<Float>,
    activation: Activation, parameters p: UnsafePointer<Float>, cache c: Cache
  ) {
    let d = width, dh = d / heads, rq = sets * nq, rk = sets * nk
    let qp = c.qb.ensure(rq * d), kp = c.kb.ensure(rk * d), vp = c.vb.ensure(rk * d)
    q.forward(rows: rq, x: x, ldx: d, parameters: p, y: qp, ldy: d)
    k.forward(rows: rk, x: y, ldx: d, parameters: p, y: kp, ldy: d)
    v.forward(rows: rk, x: y, ldx: d, parameters: p, y: vp, ldy: d)
    // Attention rows are padded to a multiple of 8 keys (padding masked out) for the SIMD kernels.
    let nkp = (nk + 7) / 8 * 8
    let att = c.att.ensure(sets * heads * nq * nkp), op = c.ob.ensure(rq * d)
    let mp = c.maskPad.ensure(sets * nkp), kt = c.kt.ensure(dh * nkp)
    for s in 0..<sets {
      for j in 0..<nkp { mp[s * nkp + j] = j < nk ? mask[s * nk + j] : 0 }
    }
    let scale = 1 / Float(dh).squareRoot()
    for s in 0..<sets {
      for h in 0..<heads {
        let a = att + (s * heads + h) * nq * nkp
        HeadKernels.transpose(rows: nk, cols: dh, kp + s * nk * d + h * dh, lds: d, into: kt, ldt: nkp)
        HeadKernels.product(m: nq, n: nkp, k: dh, alpha: scale, a: qp + s * nq * d + h * dh, ars: d, acs: 1,
                            b: kt, ldb: nkp, c: a, ldc: nkp)
        HeadKernels.softmax(rows: nq, a, ld: nkp, mask: mp + s * nkp)
        HeadKernels.product(m: nq, n: dh, k: nk, alpha: 1, a: a, ars: nkp, acs: 1, b: vp + s * nk * d + h * dh, ldb: d,
                            c: op + s * nq * d + h * dh, ldc: d)
      }
    }
    let hp = c.h.ensure(rq * d)
    o.forward(rows: rq, x: op, ldx: d, parameters: p, y: hp, ldy: d)
    let xhat1 = c.xhat1.ensure(rq * d), rstd1 = c.rstd1.ensure(rq)
    for r in 0..<rq {
      Kernels.add(count: d, hp + r * d, x + r * d, into: hp + r * d)
      rstd1[r] = LayerNorm.forwardRow(n: d, x: hp + r * d, gamma: p + norm1.gammaOffset, beta: p + norm1.betaOffset,
                                      epsilon: norm1.epsilon, y: hp + r * d, xhat: xhat1 + r * d)
    }
    let out = c.out.ensure(rq * d)
    ff.forward(rows: rq, x: hp, ldx: d, parameters: p, y: out, ldy: d)
    activation.forward(count: rq * d, out, into: out, derivative: c.gate.ensure(rq * d))
    let xhat2 = c.xhat2.ensure(rq * d), rstd2 = c.rstd2.ensure(rq)
    for r in 0..<rq {
      Kernels.add(count: d, out + r * d, hp + r * d, into: out + r * d)
      rstd2[r] = LayerNorm.forwardRow(n: d, x: out + r * d, gamma: p + norm2.gammaOffset, beta: p + norm2.betaOffset,
                                      epsilon: norm2.epsilon, y: out + r * d, xhat: xhat2 + r * d)
    }
  }

  /// Backward: accumulates parameter gradients; writes ∂L/∂x into `dx` and adds ∂L/∂y into `dy`
  /// (`dx` and `dy` may be the same buffer for self-attention; `dx` is written before `dy` is added).
  func backward(
    sets: Int, nq: Int, nk: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
    parameters p: UnsafePointer<Float>, gradients g: UnsafeMutablePointer<Float>, cache c: Cache,
    dx: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>
  ) {
    let d = width, dh = d / heads, rq = sets * nq, rk = sets * nk
    let d1 = c.d1.ensure(rq * d), d2 = c.d2.ensure(rq * d)
    for r in 0..<rq {
      LayerNorm.backwardRow(n: d, dy: dOut + r * d, xhat: c.xhat2.p + r * d, rstd: c.rstd2.p[r], gamma: p + norm2.gammaOffset,
                            dgamma: g + norm2.gammaOffset, dbeta: g + norm2.betaOffset, dx: d1 + r * d)
    }
    // d1 = ∂L/∂(H + F). Through F = act(H W_f + b_f).
    Kernels.mul(count: rq * d, d1, c.gate.p, into: d2)
    ff.accumulateGradients(rows: rq, x: c.h.p, ldx: d, dy: d2, ldy: d, gradients: g)
    ff.inputGradient(rows: rq, dy: d2, ldy: d, parameters: p, dx: d1, ldx: d, accumulate: true)
    // d1 = ∂L/∂H; LayerNorm 1 → d2 = ∂L/∂(X + M).
    for r in 0..<rq {
      LayerNorm.backwardRow(n: d, dy: d1 + r * d, xhat: c.xhat1.p + r * d, rstd: c.rstd1.p[r], gamma: p + norm1.gammaOffset,
                            dgamma: g + norm1.gammaOffset, dbeta: g + norm1.betaOffset, dx: d2 + r * d)
    }
    o.accumulateGradients(rows: rq, x: c.ob.p, ldx: d, dy: d2, ldy: d, gradients: g)
    o.inputGradient(rows: rq, dy: d2, ldy: d, parameters: p, dx: d1, ldx: d)  // d1 = ∂L/∂O
    let dq = c.dq.ensure(rq * d), dk = c.dk.ensure(rk * d), dv = c.dv.ensure(rk * d)
    let nkp = (nk + 7) / 8 * 8
    let da = c.da.ensure(nq * nkp), vt = c.kt.ensure(dh * nkp)
    let scale = 1 / Float(dh).squareRoot()
    for s in 0..<sets {
      for h in 0..<heads {
        let a = UnsafePointer(c.att.p + (s * heads + h) * nq * nkp)
        let dO = UnsafePointer(d1 + s * nq * d + h * dh)
        let hk = s * nk * d + h * dh, hq = s * nq * d + h * dh
        HeadKernels.transpose(rows: nk, cols: dh, c.vb.p + hk, lds: d, into: vt, ldt: nkp)
        HeadKernels.product(m: nq, n: nkp, k: dh, alpha: 1, a: dO, ars: d, acs: 1, b: vt, ldb: nkp, c: da, ldc: nkp)
        HeadKernels.product(m: nk, n: dh, k: nq, alpha: 1, a: a, ars: 1, acs: nkp, b: dO, ldb: d, c: dv + hk, ldc: d)
        HeadKernels.softmaxBackward(rows: nq, da, a, ld: nkp, scale: scale)
        HeadKernels.product(m: nq, n: dh, k: nk, alpha: 1, a: da, ars: nkp, acs: 1, b: c.kb.p + hk, ldb: d,
                            c: dq + hq, ldc: d)
        HeadKernels.product(m: nk, n: dh, k: nq, alpha: 1, a: da, ars: 1, acs: nkp, b: c.qb.p + hq, ldb: d,
                            c: dk + hk, ldc: d)
      }
    }
    // ∂L/∂x = residual + Q projection; ∂L/∂y += K and V projections.
    dx.update(from: d2, count: rq * d)
    q.accumulateGradients(rows: rq, x: x, ldx: d, dy: dq, ldy: d, gradients: g)
    q.inputGradient(rows: rq, dy: dq, ldy: d, parameters: p, dx: dx, ldx: d, accumulate: true)
    k.accumulateGradients(rows: rk, x: y, ldx: d, dy: dk, ldy: d, gradients: g)
    k.inputGradient(rows: rk, dy: dk, ldy: d, parameters: p, dx: dy, ldx: d, accumulate: true)
    v.accumulateGradients(rows: rk, x: y, ldx: d, dy: dv, ldy: d, gradients: g)
    v.inputGradient(rows: rk, dy: dv, ldy: d, parameters: p, dx: dy, ldx: d, accumulate: true)
  }
}

// MARK: - Small per-head products

/// Per-set, per-head products on blocks of a few dozen rows, where a BLAS call costs more than the arithmetic.
/// The product is a C kernel (Sources/CKernels): rows of the result in 8-lane chunks with register accumulators,
/// a column tail shorter than eight in scalar code; the softmax passes are Swift `SIMD8` code.
enum HeadKernels {
  @inline(__always)
  static func load(_ p: UnsafePointer<Float>) -> FloatVector { SIMDLoad.load8(p) }

  @inline(__always)
  static func store(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>) { SIMDLoad.store8(v, p) }

  /// `C[m, n] = alpha · A[m, k] · B[k, n]`; element (i, p) of A at `a[i · ars + p · acs]`, B rows `ldb` apart.
  /// (C kernel, Sources/CKernels: pairs of rows of A share the loads of B, 32/16/8-column blocks.)
  @inline(__always)
  static func product(
    m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, ars: Int, acs: Int,
    b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    dsk_head_product(m, n, k, alpha, a, ars, acs, b, ldb, c, ldc)
  }

  /// `t[c, j] = src[j, c]` for j < rows, c < cols (source rows `lds` apart), zero for rows ≤ j < `ldt`.
  static func transpose(rows: Int, cols: Int, _ src: UnsafePointer<Float>, lds: Int,
                        into t: UnsafeMutablePointer<Float>, ldt: Int) {
    for c in 0..<cols {
      let tc = t + c * ldt
      for j in 0..<rows { tc[j] = src[j * lds + c] }
      for j in rows..<ldt { tc[j] = 0 }
    }
  }

  /// Masked softmax of each of `rows` rows of `s` (stride `ld`, a multiple of 8, `mask` padded to `ld` with
  /// zeros): absent keys get weight 0, and a row with no present key becomes all zeros.
  static func softmax(rows: Int, _ s: UnsafeMutablePointer<Float>, ld: Int, mask: UnsafePointer<Float>) {
    let zero = FloatVector(repeating: 0), ninf = FloatVector(repeating: -.infinity)
    for i in 0..<rows {
      let row = s + i * ld
      var mv = ninf
      var j = 0
      while j < ld {
        var v = load(row + j)
        v.replace(with: ninf, where: load(mask + j) .<= zero)
        mv.replace(with: v, where: v .> mv)
        j += 8
      }
      let mx = mv.max()
      if mx == -.infinity {
        row.update(repeating: 0, count: ld)
        continue
      }
      let mxv = FloatVector(repeating: mx)
      var sv = zero
      j = 0
      while j < ld {
        var e = VectorMath.exp(load(row + j) - mxv)
        e.replace(with: zero, where: load(mask + j) .<= zero)
        store(e, row + j)
        sv += e
        j += 8
      }
      let inv = FloatVector(repeating: 1 / sv.sum())
      j = 0
      while j < ld {
        store(load(row + j) * inv, row + j)
        j += 8
      }
    }
  }

  /// Softmax backward in place: `da ← a ⊙ (da − rowsum(da ⊙ a)) · scale`, rows of `ld` (a multiple of 8).
  static func softmaxBackward(rows: Int, _ da: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, ld: Int,
                              scale: Float) {
    let sc = FloatVector(repeating: scale)
    for i in 0..<rows {
      let d = da + i * ld, ar = a + i * ld
      var acc = FloatVector(repeating: 0)
      var j = 0
      while j < ld { acc += load(d + j) * load(ar + j); j += 8 }
      let dot = FloatVector(repeating: acc.sum())
      j = 0
      while j < ld { store(load(ar + j) * (load(d + j) - dot) * sc, d + j); j += 8 }
    }
  }
}

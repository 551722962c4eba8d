// Multihead attention block (MAB) of the Set Transformer (Lee et al. 2019), with its backward pass.

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
    let da = ScratchBuffer()
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
    let att = c.att.ensure(sets * heads * nq * nk), op = c.ob.ensure(rq * d)
    let scale = 1 / Float(dh).squareRoot()
    for s in 0..<sets {
      for h in 0..<heads {
        let a = att + (s * heads + h) * nq * nk
        BLAS.sgemm(transA: false, transB: true, m: nq, n: nk, k: dh, alpha: scale, a: qp + s * nq * d + h * dh, lda: d,
                   b: kp + s * nk * d + h * dh, ldb: d, beta: 0, c: a, ldc: nk)
        for i in 0..<nq {
          let row = a + i * nk
          var mx = -Float.infinity
          for j in 0..<nk where mask[s * nk + j] > 0 { mx = max(mx, row[j]) }
          var sum: Float = 0
          for j in 0..<nk {
            row[j] = mask[s * nk + j] > 0 ? Foundation.exp(row[j] - mx) : 0
            sum += row[j]
          }
          if sum > 0 { for j in 0..<nk { row[j] /= sum } }
        }
        BLAS.sgemm(transA: false, transB: false, m: nq, n: dh, k: nk, alpha: 1, a: a, lda: nk,
                   b: vp + s * nk * d + h * dh, ldb: d, beta: 0, c: op + s * nq * d + h * dh, ldc: d)
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
    let da = c.da.ensure(nq * nk)
    let scale = 1 / Float(dh).squareRoot()
    for s in 0..<sets {
      for h in 0..<heads {
        let a = c.att.p + (s * heads + h) * nq * nk
        let dO = d1 + s * nq * d + h * dh
        BLAS.sgemm(transA: false, transB: true, m: nq, n: nk, k: dh, alpha: 1, a: dO, lda: d,
                   b: c.vb.p + s * nk * d + h * dh, ldb: d, beta: 0, c: da, ldc: nk)
        BLAS.sgemm(transA: true, transB: false, m: nk, n: dh, k: nq, alpha: 1, a: a, lda: nk, b: dO, ldb: d,
                   beta: 0, c: dv + s * nk * d + h * dh, ldc: d)
        for i in 0..<nq {
          var dot: Float = 0
          for j in 0..<nk { dot += da[i * nk + j] * a[i * nk + j] }
          for j in 0..<nk { da[i * nk + j] = a[i * nk + j] * (da[i * nk + j] - dot) * scale }
        }
        BLAS.sgemm(transA: false, transB: false, m: nq, n: dh, k: nk, alpha: 1, a: da, lda: nk,
                   b: c.kb.p + s * nk * d + h * dh, ldb: d, beta: 0, c: dq + s * nq * d + h * dh, ldc: d)
        BLAS.sgemm(transA: true, transB: false, m: nk, n: dh, k: nq, alpha: 1, a: da, lda: nk,
                   b: c.qb.p + s * nq * d + h * dh, ldb: d, beta: 0, c: dk + s * nk * d + h * dh, ldc: d)
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

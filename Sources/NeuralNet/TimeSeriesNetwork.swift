// Summary network for sequences: a (strided) 1-D convolution followed by a GRU (as BayesFlow's TimeSeriesNetwork;
// the stride shortens long series before the recurrent block).

import NumericCore

/// Shape of a `TimeSeriesNetwork`.
public struct TimeSeriesConfiguration: Sendable, Codable, Equatable {
  /// Features per time step and (maximum) number of steps; rows are [T·d], time-major.
  public var featureDimension: Int
  public var steps: Int
  public var summaryDimension: Int
  /// Convolution filters F, kernel size K and stride S, GRU width H, activation of the convolution.
  public var filters: Int
  public var kernelSize: Int
  public var recurrentDimension: Int
  public var activation: Activation
  public var stride: Int

  public init(
    featureDimension: Int, steps: Int, summaryDimension: Int, filters: Int = 32, kernelSize: Int = 3,
    recurrentDimension: Int = 64, activation: Activation = .mish, stride: Int = 1
  ) {
    (self.featureDimension, self.steps, self.summaryDimension) = (featureDimension, steps, summaryDimension)
    (self.filters, self.kernelSize, self.recurrentDimension) = (filters, kernelSize, recurrentDimension)
    self.activation = activation
    self.stride = stride
  }

  enum CodingKeys: String, CodingKey {
    case featureDimension, steps, summaryDimension, filters, kernelSize, recurrentDimension, activation, stride
  }

  /// Decodes a configuration; model files written before `stride` existed load with stride 1.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    featureDimension = try c.decode(Int.self, forKey: .featureDimension)
    steps = try c.decode(Int.self, forKey: .steps)
    summaryDimension = try c.decode(Int.self, forKey: .summaryDimension)
    filters = try c.decode(Int.self, forKey: .filters)
    kernelSize = try c.decode(Int.self, forKey: .kernelSize)
    recurrentDimension = try c.decode(Int.self, forKey: .recurrentDimension)
    activation = try c.decode(Activation.self, forKey: .activation)
    stride = try c.decodeIfPresent(Int.self, forKey: .stride) ?? 1
  }

  /// The number of convolution windows the GRU reads, ⌊(T − K)/S⌋ + 1.
  public var windows: Int { (steps - kernelSize) / max(stride, 1) + 1 }
}

/// Conv1D + GRU summary network:
///
///     c_t = act(Σ_{k<K} x_{tS+k} W_k + b)                   ('valid' convolution with stride S, t < ⌊(T−K)/S⌋ + 1)
///     z = σ(c W_z + h U_z + b),  r = σ(c W_r + h U_r + b),  n = tanh(c W_n + b + r ⊙ (h U_n + b'))
///     h ← z ⊙ h + (1 − z) ⊙ n                               (GRU, Cho et al. 2014, Keras `reset_after`)
///     s = h_T W_out + b_out
///
/// Steps whose features are all NaN are absent (sequences of different length are NaN-padded at the end); a
/// convolution window touching an absent step leaves h unchanged. Backward is backpropagation through time.
///
/// Every cache is time-major: the im2col rows and all per-window quantities are ordered [t, b], so the rows of one
/// step are one contiguous block. Per step there is one GEMM forward (h U) and one backward (dh += dgh Uᵀ); the
/// input projection c W, the weight gradients dW, dU and the input gradient dc are one GEMM each per block of
/// steps (`stepBlock`), and the gate arithmetic runs on SIMD8 vectors (`GRUGates`).
public final class TimeSeriesNetwork: SummaryNetwork, @unchecked Sendable {
  public let configuration: TimeSeriesConfiguration
  public let parameters: ParameterBuffer
  let conv: Dense      // [K·d, F] on im2col rows
  let input: Dense     // W [F, 3H] with bias
  let recurrent: Dense // U [H, 3H] with bias
  let output: Dense
  let cols = ScratchBuffer(), cmask = ScratchBuffer(), c = ScratchBuffer(), cgate = ScratchBuffer()
  let gx = ScratchBuffer(), gh = ScratchBuffer(), hs = ScratchBuffer(), zrs = ScratchBuffer(), ns = ScratchBuffer()
  let hns = ScratchBuffer(), bias = ScratchBuffer()
  let dgx = ScratchBuffer(), dgh = ScratchBuffer(), dh = ScratchBuffer(), dc = ScratchBuffer(), sums = ScratchBuffer()
  var rows = 0

  public convenience init(configuration: TimeSeriesConfiguration, rng: inout Xoshiro) {
    let (layout, parts) = TimeSeriesNetwork.makeLayout(configuration)
    self.init(configuration, ParameterBuffer(layout: layout, rng: &rng), parts)
  }

  init(_ cfg: TimeSeriesConfiguration, _ p: ParameterBuffer, _ parts: (Dense, Dense, Dense, Dense)) {
    configuration = cfg
    parameters = p
    (conv, input, recurrent, output) = parts
  }

  static func makeLayout(_ c: TimeSeriesConfiguration) -> (ParameterLayout, (Dense, Dense, Dense, Dense)) {
    precondition(c.featureDimension > 0 && c.kernelSize > 0 && c.stride > 0 && c.steps >= c.kernelSize && c.filters > 0
                 && c.recurrentDimension > 0 && c.summaryDimension > 0, "invalid TimeSeriesNetwork shape")
    var layout = ParameterLayout()
    let k = c.kernelSize * c.featureDimension, h = c.recurrentDimension
    let conv = Dense("conv", inputs: k, outputs: c.filters, layout: &layout)
    let w = Dense("gru.input", inputs: c.filters, outputs: 3 * h, initializer: .glorotUniform(fanIn: c.filters, fanOut: 3 * h), layout: &layout)
    let u = Dense("gru.recurrent", inputs: h, outputs: 3 * h, initializer: .glorotUniform(fanIn: h, fanOut: 3 * h), layout: &layout)
    let out = Dense("output", inputs: h, outputs: c.summaryDimension, initializer: .glorotUniform(fanIn: h, fanOut: c.summaryDimension), layout: &layout)
    return (layout, (conv, w, u, out))
  }

  public var inputDimension: Int { configuration.steps * configuration.featureDimension }
  public var outputDimension: Int { configuration.summaryDimension }
  public var architecture: SummaryArchitecture { .timeSeries(configuration) }
  var windows: Int { configuration.windows }

  /// Steps per block of the input-projection and weight-gradient GEMMs: about 512 rows, so that a block's
  /// [rows, 3H] projections and gradients stay in cache between the GEMM and the gate pass.
  func stepBlock(_ batch: Int) -> Int { max(1, 512 / max(batch, 1)) }

  public func replica() -> any SummaryNetwork {
    TimeSeriesNetwork(configuration, parameters.sharingValues(), TimeSeriesNetwork.makeLayout(configuration).1)
  }

  public func forward(_ x: Matrix, training: Bool, rng: inout Xoshiro) -> Matrix {
    let cf = configuration
    precondition(x.cols == inputDimension, "TimeSeriesNetwork expects rows of \(inputDimension) values, got \(x.cols)")
    let b = x.rows, d = cf.featureDimension, kk = cf.kernelSize * d, tw = windows, f = cf.filters, h = cf.recurrentDimension
    rows = b
    let p = UnsafePointer(parameters.values)
    // im2col, rows [t, b], with the window mask m[t·b + r].
    let col = cols.ensure(tw * b * kk), m = cmask.ensure(tw * b)
    x.withUnsafeBufferPointer { src in
      for t in 0..<tw {
        for r in 0..<b {
          let xr = src.baseAddress! + r * cf.steps * d + t * cf.stride * d, cr = col + (t * b + r) * kk
          var ok: Float = 1
          for j in 0..<kk {
            let v = xr[j]
            if v.isNaN { ok = 0 }
            cr[j] = v.isFinite ? v : 0
          }
          m[t * b + r] = ok
        }
      }
    }
    let cp = c.ensure(tw * b * f)
    conv.forward(rows: tw * b, x: col, ldx: kk, parameters: p, y: cp, ldy: f)
    cf.activation.forward(count: tw * b * f, cp, into: cp, derivative: cgate.ensure(tw * b * f))
    let bs = bias.ensure(4 * h)  // [b_z + b'_z, b_r + b'_r, b_n, b'_n]
    let bw = p + input.biasOffset!, bu = p + recurrent.biasOffset!
    for j in 0..<(2 * h) { bs[j] = bw[j] + bu[j] }
    (bs + 2 * h).update(from: bw + 2 * h, count: h)
    (bs + 3 * h).update(from: bu + 2 * h, count: h)
    let hp = hs.ensure((tw + 1) * b * h)  // h_0 … h_T, [t, b, H]
    hp.update(repeating: 0, count: b * h)
    // Caches for backward, [t, b, ·]: [z, r] (2H), n and hn = h U_n + b'_n (H each).
    let zr = zrs.ensure(tw * b * 2 * h), n = ns.ensure(tw * b * h), hn = hns.ensure(tw * b * h)
    let blk = stepBlock(b), g = gh.ensure(b * 3 * h), gxp = gx.ensure(min(blk, tw) * b * 3 * h)
    for t0 in stride(from: 0, to: tw, by: blk) {
      // Input projections c W of the block's steps, [t, b, 3H]; both biases are added in the gate pass.
      input.forward(rows: (min(t0 + blk, tw) - t0) * b, x: cp + t0 * b * f, ldx: f, parameters: p, y: gxp,
                    ldy: 3 * h, addBias: false)
      for t in t0..<min(t0 + blk, tw) {
        let hPrev = hp + t * b * h, hNext = hPrev + b * h, gxt = gxp + (t - t0) * b * 3 * h
        recurrent.forward(rows: b, x: hPrev, ldx: h, parameters: p, y: g, ldy: 3 * h, addBias: false)
        for r in 0..<b {
          let i = t * b + r
          guard m[i] > 0 else {
            (hNext + r * h).update(from: hPrev + r * h, count: h)
            continue
          }
          GRUGates.Forward(
            h: h, gx: gxt + r * 3 * h, gh: g + r * 3 * h, bias: bs, hPrev: hPrev + r * h, zr: zr + i * 2 * h,
            n: n + i * h, hn: hn + i * h, hNext: hNext + r * h
          ).run()
        }
      }
    }
    var out = Matrix(rows: b, cols: cf.summaryDimension)
    out.withUnsafeMutableBufferPointer {
      output.forward(rows: b, x: hp + tw * b * h, ldx: h, parameters: p, y: $0.baseAddress!, ldy: cf.summaryDimension)
    }
    return out
  }

  public func backward(_ outputGradient: Matrix) {
    let cf = configuration
    let b = rows, d = cf.featureDimension, kk = cf.kernelSize * d, tw = windows, f = cf.filters, h = cf.recurrentDimension
    precondition(outputGradient.rows == b && outputGradient.cols == cf.summaryDimension)
    let p = UnsafePointer(parameters.values), g = parameters.gradients
    let hp = hs.p, m = cmask.p, zr = zrs.p, n = ns.p, hn = hns.p
    let dhp = dh.ensure(b * h)
    outputGradient.withUnsafeBufferPointer { o in
      output.accumulateGradients(rows: b, x: hp + tw * b * h, ldx: h, dy: o.baseAddress!, ldy: cf.summaryDimension, gradients: g)
      output.inputGradient(rows: b, dy: o.baseAddress!, ldy: cf.summaryDimension, parameters: p, dx: dhp, ldx: h)
    }
    // Per block of steps, backward in time: dgx = ∂/∂(c W) and dgh = ∂/∂(h U) of the block's steps, [t, b, 3H],
    // then dU += Σ_t h_{t−1}ᵀ dgh_t, dW += Σ_t c_tᵀ dgx_t and dc_t = dgx_t Wᵀ as one GEMM each over the block.
    // `acc` collects the column sums of dgx and dgh (the bias gradients).
    let blk = stepBlock(b), dgxp = dgx.ensure(min(blk, tw) * b * 3 * h), dghp = dgh.ensure(min(blk, tw) * b * 3 * h)
    let acc = sums.ensure(4 * h)  // [Σ da_z, Σ da_r, Σ da_n, Σ da_n ⊙ r]
    acc.update(repeating: 0, count: 4 * h)
    let cp = UnsafePointer(c.p), dcp = dc.ensure(tw * b * f)
    for t0 in stride(from: (tw - 1) / blk * blk, through: 0, by: -blk) {
      let t1 = min(t0 + blk, tw)
      for t in stride(from: t1 - 1, through: t0, by: -1) {
        let hPrev = hp + t * b * h, ex = dgxp + (t - t0) * b * 3 * h, eh = dghp + (t - t0) * b * 3 * h
        for r in 0..<b {
          let i = t * b + r
          guard m[i] > 0 else {  // masked rows keep dh unchanged
            (ex + r * 3 * h).update(repeating: 0, count: 3 * h)
            (eh + r * 3 * h).update(repeating: 0, count: 3 * h)
            continue
          }
          GRUGates.Backward(
            h: h, z: zr + i * 2 * h, r: zr + i * 2 * h + h, n: n + i * h, hn: hn + i * h, hPrev: hPrev + r * h,
            dh: dhp + r * h, dgx: ex + r * 3 * h, dgh: eh + r * 3 * h, sums: acc
          ).run()
        }
        recurrent.inputGradient(rows: b, dy: eh, ldy: 3 * h, parameters: p, dx: dhp, ldx: h, accumulate: true)
      }
      let rows = (t1 - t0) * b
      recurrent.accumulateGradients(rows: rows, x: hp + t0 * b * h, ldx: h, dy: dghp, ldy: 3 * h, gradients: g,
                                    biasFromRows: false)
      input.accumulateGradients(rows: rows, x: cp + t0 * b * f, ldx: f, dy: dgxp, ldy: 3 * h, gradients: g,
                                biasFromRows: false)
      input.inputGradient(rows: rows, dy: dgxp, ldy: 3 * h, parameters: p, dx: dcp + t0 * b * f, ldx: f)
    }
    let gw = g + input.biasOffset!, gu = g + recurrent.biasOffset!
    for j in 0..<(3 * h) { gw[j] += acc[j] }
    for j in 0..<(2 * h) { gu[j] += acc[j] }
    for j in 0..<h { gu[2 * h + j] += acc[3 * h + j] }
    Kernels.mul(count: tw * b * f, dcp, cgate.p, into: dcp)
    conv.accumulateGradients(rows: tw * b, x: cols.p, ldx: kk, dy: dcp, ldy: f, gradients: g)
  }
}

/// The elementwise part of the GRU (Keras `reset_after`) for one row, on SIMD8 chunks of the H units; a last
/// partial chunk takes the out-of-line `tail`, so that the full chunks run one inlined copy of the arithmetic.
enum GRUGates {
  /// σ(x) = 1 / (1 + e^{−x}) with the exponent clamped to [−88, 88] (beyond it σ is within 1e-38 of 0 or rounds
  /// to 1); NaN propagates through the arithmetic.
  @inline(__always)
  static func sigmoid(_ x: V8) -> V8 {
    var a = -x
    a.replace(with: V8(repeating: 88), where: a .> V8(repeating: 88))
    a.replace(with: V8(repeating: -88), where: a .< V8(repeating: -88))
    return V8(repeating: 1) / (V8(repeating: 1) + VectorMath.expCore(a))
  }

  /// tanh x = x + x³ P(x²) for |x| < 0.625, else sign(x) (1 − 2 / (e^{2|x|} + 1)) — the Cephes form of
  /// `VectorMath.tanh` (Sources/NumericCore/VectorMath.swift), with 2|x| clamped at 88 where tanh rounds to ±1.
  /// `@_transparent` because the optimizer keeps this body out of line under `@inline(__always)`, and the call
  /// serializes the exp and division chains of consecutive chunks.
  @_transparent
  static func tanh(_ x: V8) -> V8 {
    let zero = V8(repeating: 0)
    var ax = x
    ax.replace(with: -x, where: x .< zero)
    var a2 = ax + ax
    a2.replace(with: V8(repeating: 88), where: a2 .> V8(repeating: 88))
    var y = V8(repeating: 1) - V8(repeating: 2) / (VectorMath.expCore(a2) + V8(repeating: 1))
    y.replace(with: -y, where: x .< zero)
    let s = x * x
    var p = V8(repeating: -5.70498872745e-3)
    p = p * s + V8(repeating: 2.06390887954e-2)
    p = p * s + V8(repeating: -5.37397155531e-2)
    p = p * s + V8(repeating: 1.33314422036e-1)
    p = p * s + V8(repeating: -3.33332819422e-1)
    y.replace(with: p * s * x + x, where: ax .< V8(repeating: 0.625))
    return y
  }

  /// z = σ(gx_z + gh_z + b_z), r = σ(gx_r + gh_r + b_r), hn = gh_n + b'_n, n = tanh(gx_n + b_n + r ⊙ hn),
  /// h' = n + z ⊙ (h − n). `gx`, `gh` hold the [z, r, n] blocks without biases; `bias` is
  /// [b_z + b'_z, b_r + b'_r, b_n, b'_n]. Stores [z, r], n, hn (for backward) and h'. Two passes, first [z, r]
  /// over 2H contiguous values, then n and h', so that consecutive chunks are independent and their exp and
  /// division chains overlap.
  struct Forward {
    let h: Int
    let gx, gh, bias, hPrev: UnsafePointer<Float>
    let zr, n, hn, hNext: UnsafeMutablePointer<Float>

    @inline(__always)
    init(
      h: Int, gx: UnsafePointer<Float>, gh: UnsafePointer<Float>, bias: UnsafePointer<Float>,
      hPrev: UnsafePointer<Float>, zr: UnsafeMutablePointer<Float>, n: UnsafeMutablePointer<Float>,
      hn: UnsafeMutablePointer<Float>, hNext: UnsafeMutablePointer<Float>
    ) {
      (self.h, self.gx, self.gh, self.bias, self.hPrev) = (h, gx, gh, bias, hPrev)
      (self.zr, self.n, self.hn, self.hNext) = (zr, n, hn, hNext)
    }

    @inline(__always)
    func run() {
      var k = 0
      while k + 8 <= 2 * h {
        gates(k, 8)
        k += 8
      }
      if k < 2 * h { gatesTail(k, 2 * h - k) }
      var j = 0
      while j + 8 <= h {
        state(j, 8)
        j += 8
      }
      if j < h { stateTail(j, h - j) }
    }

    @inline(never)
    func gatesTail(_ k: Int, _ w: Int) { gates(k, w) }

    @inline(never)
    func stateTail(_ j: Int, _ w: Int) { state(j, w) }

    /// [z, r] at offsets k ..< k + w of 2H.
    @inline(__always)
    func gates(_ k: Int, _ w: Int) {
      let a = SIMDLoad.load(gx + k, w) + SIMDLoad.load(gh + k, w) + SIMDLoad.load(bias + k, w)
      SIMDLoad.store(sigmoid(a), zr + k, w)
    }

    /// n, hn and h' of units j ..< j + w.
    @inline(__always)
    func state(_ j: Int, _ w: Int) {
      let zv = SIMDLoad.load(zr + j, w), rv = SIMDLoad.load(zr + h + j, w)
      let hnv = SIMDLoad.load(gh + 2 * h + j, w) + SIMDLoad.load(bias + 3 * h + j, w)
      let nv = tanh(SIMDLoad.load(gx + 2 * h + j, w) + SIMDLoad.load(bias + 2 * h + j, w) + rv * hnv)
      SIMDLoad.store(nv, n + j, w)
      SIMDLoad.store(hnv, hn + j, w)
      SIMDLoad.store(nv + zv * (SIMDLoad.load(hPrev + j, w) - nv), hNext + j, w)
    }
  }

  /// With δ = dh (the gradient of h'):
  ///
  ///     da_n = δ (1 − z)(1 − n²),  da_z = δ (h − n) z (1 − z),  da_r = da_n hn r (1 − r)
  ///     dgx = [da_z, da_r, da_n],  dgh = [da_z, da_r, da_n r],  dh ← δ z
  ///
  /// (the path through h U is added by the caller's GEMM), and adds [da_z, da_r, da_n, da_n r] to `sums` (4H).
  struct Backward {
    let h: Int
    let z, r, n, hn, hPrev: UnsafePointer<Float>
    let dh, dgx, dgh, sums: UnsafeMutablePointer<Float>

    @inline(__always)
    init(
      h: Int, z: UnsafePointer<Float>, r: UnsafePointer<Float>, n: UnsafePointer<Float>, hn: UnsafePointer<Float>,
      hPrev: UnsafePointer<Float>, dh: UnsafeMutablePointer<Float>, dgx: UnsafeMutablePointer<Float>,
      dgh: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>
    ) {
      (self.h, self.z, self.r, self.n, self.hn, self.hPrev) = (h, z, r, n, hn, hPrev)
      (self.dh, self.dgx, self.dgh, self.sums) = (dh, dgx, dgh, sums)
    }

    @inline(__always)
    func run() {
      var j = 0
      while j + 8 <= h {
        chunk(j, 8)
        j += 8
      }
      if j < h { tail(j, h - j) }
    }

    @inline(never)
    func tail(_ j: Int, _ w: Int) { chunk(j, w) }

    @inline(__always)
    func chunk(_ j: Int, _ w: Int) {
      let one = V8(repeating: 1)
      let dv = SIMDLoad.load(dh + j, w), zv = SIMDLoad.load(z + j, w), rv = SIMDLoad.load(r + j, w)
      let nv = SIMDLoad.load(n + j, w)
      let dan = dv * (one - zv) * (one - nv * nv)
      let daz = dv * (SIMDLoad.load(hPrev + j, w) - nv) * zv * (one - zv)
      let dar = dan * SIMDLoad.load(hn + j, w) * rv * (one - rv)
      let danr = dan * rv
      SIMDLoad.store(daz, dgx + j, w)
      SIMDLoad.store(dar, dgx + h + j, w)
      SIMDLoad.store(dan, dgx + 2 * h + j, w)
      SIMDLoad.store(daz, dgh + j, w)
      SIMDLoad.store(dar, dgh + h + j, w)
      SIMDLoad.store(danr, dgh + 2 * h + j, w)
      SIMDLoad.store(dv * zv, dh + j, w)
      SIMDLoad.store(SIMDLoad.load(sums + j, w) + daz, sums + j, w)
      SIMDLoad.store(SIMDLoad.load(sums + h + j, w) + dar, sums + h + j, w)
      SIMDLoad.store(SIMDLoad.load(sums + 2 * h + j, w) + dan, sums + 2 * h + j, w)
      SIMDLoad.store(SIMDLoad.load(sums + 3 * h + j, w) + danr, sums + 3 * h + j, w)
    }
  }
}

import Foundation

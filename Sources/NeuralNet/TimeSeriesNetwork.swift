// Summary network for sequences: a (strided) 1-D convolution followed by a GRU (as BayesFlow's TimeSeriesNetwork;
// the stride shortens long series before the recurrent block).

import CKernels
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
/// steps (`stepBlock`), and the gate arithmetic of a row is one C kernel call (`dsk_gru_forward_row`,
/// `dsk_gru_backward_row` in Sources/CKernels, with σ and tanh in the Cephes form of
/// Sources/NumericCore/VectorMath.swift, the exponent clamped at ±88).
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
          dsk_gru_forward_row(
            h, gxt + r * 3 * h, g + r * 3 * h, bs, hPrev + r * h, zr + i * 2 * h, n + i * h, hn + i * h,
            hNext + r * h)
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
          dsk_gru_backward_row(
            h, zr + i * 2 * h, zr + i * 2 * h + h, n + i * h, hn + i * h, hPrev + r * h, dhp + r * h, ex + r * 3 * h,
            eh + r * 3 * h, acc)
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

import Foundation

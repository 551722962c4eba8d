// Summary network for sequences: a 1-D convolution followed by a GRU (as BayesFlow's TimeSeriesNetwork).

import NumericCore

/// Shape of a `TimeSeriesNetwork`.
public struct TimeSeriesConfiguration: Sendable, Codable, Equatable {
  /// Features per time step and (maximum) number of steps; rows are [T·d], time-major.
  public var featureDimension: Int
  public var steps: Int
  public var summaryDimension: Int
  /// Convolution filters F and kernel size K, GRU width H, activation of the convolution.
  public var filters: Int
  public var kernelSize: Int
  public var recurrentDimension: Int
  public var activation: Activation

  public init(
    featureDimension: Int, steps: Int, summaryDimension: Int, filters: Int = 32, kernelSize: Int = 3,
    recurrentDimension: Int = 64, activation: Activation = .mish
  ) {
    (self.featureDimension, self.steps, self.summaryDimension) = (featureDimension, steps, summaryDimension)
    (self.filters, self.kernelSize, self.recurrentDimension) = (filters, kernelSize, recurrentDimension)
    self.activation = activation
  }
}

/// Conv1D + GRU summary network:
///
///     c_t = act(Σ_{k<K} x_{t+k} W_k + b)                    ('valid' convolution, t < T − K + 1)
///     z = σ(c W_z + h U_z + b),  r = σ(c W_r + h U_r + b),  n = tanh(c W_n + b + r ⊙ (h U_n + b'))
///     h ← z ⊙ h + (1 − z) ⊙ n                               (GRU, Cho et al. 2014, Keras `reset_after`)
///     s = h_T W_out + b_out
///
/// Steps whose features are all NaN are absent (sequences of different length are NaN-padded at the end); a
/// convolution window touching an absent step leaves h unchanged. Backward is backpropagation through time.
public final class TimeSeriesNetwork: SummaryNetwork, @unchecked Sendable {
  public let configuration: TimeSeriesConfiguration
  public let parameters: ParameterBuffer
  let conv: Dense      // [K·d, F] on im2col rows
  let input: Dense     // W [F, 3H] with bias
  let recurrent: Dense // U [H, 3H] with bias
  let output: Dense
  let cols = ScratchBuffer(), cmask = ScratchBuffer(), c = ScratchBuffer(), cgate = ScratchBuffer()
  let gx = ScratchBuffer(), gh = ScratchBuffer(), hs = ScratchBuffer(), zs = ScratchBuffer(), rs = ScratchBuffer()
  let ns = ScratchBuffer(), dgx = ScratchBuffer(), dgh = ScratchBuffer(), dh = ScratchBuffer(), dc = ScratchBuffer()
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
    precondition(c.featureDimension > 0 && c.kernelSize > 0 && c.steps >= c.kernelSize && c.filters > 0
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
  var windows: Int { configuration.steps - configuration.kernelSize + 1 }

  public func replica() -> any SummaryNetwork {
    TimeSeriesNetwork(configuration, parameters.sharingValues(), TimeSeriesNetwork.makeLayout(configuration).1)
  }

  @inline(__always) static func sigmoid(_ x: Float) -> Float { x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x)) }

  public func forward(_ x: Matrix, training: Bool, rng: inout Xoshiro) -> Matrix {
    let cf = configuration
    precondition(x.cols == inputDimension, "TimeSeriesNetwork expects rows of \(inputDimension) values, got \(x.cols)")
    let b = x.rows, d = cf.featureDimension, kk = cf.kernelSize * d, tw = windows, f = cf.filters, h = cf.recurrentDimension
    rows = b
    let p = UnsafePointer(parameters.values)
    // im2col with the window mask.
    let col = cols.ensure(b * tw * kk), m = cmask.ensure(b * tw)
    x.withUnsafeBufferPointer { src in
      for r in 0..<b {
        for t in 0..<tw {
          var ok: Float = 1
          for j in 0..<kk {
            let v = src[r * cf.steps * d + t * d + j]
            if v.isNaN { ok = 0 }
            col[(r * tw + t) * kk + j] = v.isFinite ? v : 0
          }
          m[r * tw + t] = ok
        }
      }
    }
    let cp = c.ensure(b * tw * f)
    conv.forward(rows: b * tw, x: col, ldx: kk, parameters: p, y: cp, ldy: f)
    cf.activation.forward(count: b * tw * f, cp, into: cp, derivative: cgate.ensure(b * tw * f))
    // Input projections for all steps at once; layout [b, t, 3H].
    let gxp = gx.ensure(b * tw * 3 * h)
    input.forward(rows: b * tw, x: cp, ldx: f, parameters: p, y: gxp, ldy: 3 * h)
    let hp = hs.ensure(b * (tw + 1) * h)  // h_0 … h_T per row, [t, b, H]
    hp.update(repeating: 0, count: b * h)
    let ghp = gh.ensure(b * tw * 3 * h), z = zs.ensure(b * tw * h), rr = rs.ensure(b * tw * h), n = ns.ensure(b * tw * h)
    for t in 0..<tw {
      let hPrev = hp + t * b * h, hNext = hp + (t + 1) * b * h, g = ghp + t * b * 3 * h
      recurrent.forward(rows: b, x: hPrev, ldx: h, parameters: p, y: g, ldy: 3 * h)
      for r in 0..<b {
        let gxr = gxp + (r * tw + t) * 3 * h, ghr = g + r * 3 * h, o = (t * b + r) * h
        guard m[r * tw + t] > 0 else {
          (hNext + r * h).update(from: hPrev + r * h, count: h)
          continue
        }
        for j in 0..<h {
          let zj = Self.sigmoid(gxr[j] + ghr[j])
          let rj = Self.sigmoid(gxr[h + j] + ghr[h + j])
          let nj = tanhf(gxr[2 * h + j] + rj * ghr[2 * h + j])
          z[o + j] = zj
          rr[o + j] = rj
          n[o + j] = nj
          hNext[r * h + j] = zj * hPrev[r * h + j] + (1 - zj) * nj
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
    let hp = hs.p, m = cmask.p, z = zs.p, rr = rs.p, n = ns.p, ghp = gh.p
    let dhp = dh.ensure(b * h)
    outputGradient.withUnsafeBufferPointer { o in
      output.accumulateGradients(rows: b, x: hp + tw * b * h, ldx: h, dy: o.baseAddress!, ldy: cf.summaryDimension, gradients: g)
      output.inputGradient(rows: b, dy: o.baseAddress!, ldy: cf.summaryDimension, parameters: p, dx: dhp, ldx: h)
    }
    let dgxp = dgx.ensure(b * tw * 3 * h), dghp = dgh.ensure(b * 3 * h)
    for t in stride(from: tw - 1, through: 0, by: -1) {
      let hPrev = hp + t * b * h, ghT = ghp + t * b * 3 * h
      for r in 0..<b {
        let dgxr = dgxp + (r * tw + t) * 3 * h, dghr = dghp + r * 3 * h, o = (t * b + r) * h
        guard m[r * tw + t] > 0 else {
          dgxr.update(repeating: 0, count: 3 * h)
          dghr.update(repeating: 0, count: 3 * h)
          continue
        }
        for j in 0..<h {
          let dhn = dhp[r * h + j], zj = z[o + j], rj = rr[o + j], nj = n[o + j]
          let dz = dhn * (hPrev[r * h + j] - nj)
          let dan = dhn * (1 - zj) * (1 - nj * nj)
          let daz = dz * zj * (1 - zj)
          let dar = dan * ghT[r * 3 * h + 2 * h + j] * rj * (1 - rj)
          dgxr[j] = daz
          dgxr[h + j] = dar
          dgxr[2 * h + j] = dan
          dghr[j] = daz
          dghr[h + j] = dar
          dghr[2 * h + j] = dan * rj
          dhp[r * h + j] = dhn * zj  // direct path; masked rows keep dh unchanged
        }
      }
      recurrent.accumulateGradients(rows: b, x: hPrev, ldx: h, dy: dghp, ldy: 3 * h, gradients: g)
      recurrent.inputGradient(rows: b, dy: dghp, ldy: 3 * h, parameters: p, dx: dhp, ldx: h, accumulate: true)
    }
    input.accumulateGradients(rows: b * tw, x: c.p, ldx: f, dy: dgxp, ldy: 3 * h, gradients: g)
    let dcp = dc.ensure(b * tw * f)
    input.inputGradient(rows: b * tw, dy: dgxp, ldy: 3 * h, parameters: p, dx: dcp, ldx: f)
    Kernels.mul(count: b * tw * f, dcp, cgate.p, into: dcp)
    conv.accumulateGradients(rows: b * tw, x: cols.p, ldx: kk, dy: dcp, ldy: f, gradients: g)
  }
}

import Foundation

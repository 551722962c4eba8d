// Forward-mode tangent propagation (Jacobian–vector products) through TimeMLP, for the continuous-time
// consistency model's training target (Lu & Song 2024). Each layer's tangent rule sits next to a plain
// (unfused) forward of the same layer:
//
//     Dense            y = x W + b                 ẏ = ẋ W
//     activation       y = φ(x)                    ẏ = φ'(x) ẋ
//     Fourier features e = [t, sin(c t w), cos(c t w)], c = 2π·scale
//                                                  ė = [ṫ, c w cos(c t w) ṫ, −c w sin(c t w) ṫ]
//     FiLM             o = a (1 + γ) + β + r       ȯ = ȧ (1 + γ) + a γ̇ + β̇ + ṙ   (γ = 0 without scale)
//     LayerNorm        y = g x̂ + b, x̂ = (x − μ) s  ẏ = g s (ẋ − mean(ẋ) − x̂ mean(x̂ ẋ))
//
// The pass runs in inference mode (no dropout); the condition's tangent is zero.

import Foundation
import NumericCore

extension TimeMLP {
  /// The network output F(x, t, c) [B, dθ] and its directional derivative
  /// dF = ∂F/∂x · `xTangent` + ∂F/∂t · `timeTangent` [B, dθ] (inference mode).
  public func jvp(
    _ x: Matrix, time: [Float], condition: Matrix?, xTangent: Matrix, timeTangent: [Float]
  ) -> (output: Matrix, tangent: Matrix) {
    checkShapes(x, time: time, condition: condition)
    precondition(xTangent.rows == x.rows && xTangent.cols == x.cols, "x tangent must match x")
    precondition(timeTangent.count == x.rows, "one time tangent per row expected")
    let cfg = configuration
    let p = UnsafePointer(parameters.values)
    let b = x.rows
    // Time embedding and FiLM.
    let (e, de) = embeddingTangent(time, timeTangent)
    let filmOut = denseApply(film, e, bias: true)
    let dFilm = denseApply(film, de, bias: false)
    // Input stage.
    var h: Matrix, dh: Matrix
    if let c = condition, let cp = conditionProjection, let mg = merge {
      var u = Matrix.hstack([denseApply(inputProjection, x, bias: true), denseApply(cp, c, bias: true)])
      var du = Matrix.hstack([denseApply(inputProjection, xTangent, bias: false), Matrix(rows: b, cols: cp.outputs)])
      activationTangent(&u, &du)
      h = denseApply(mg, u, bias: true)
      dh = denseApply(mg, du, bias: false)
    } else {
      h = denseApply(inputProjection, x, bias: true)
      dh = denseApply(inputProjection, xTangent, bias: false)
    }
    activationTangent(&h, &dh)
    // Residual blocks.
    for blk in blocks {
      let w = blk.width
      var a = denseApply(blk.dense, h, bias: true)
      var da = denseApply(blk.dense, dh, bias: false)
      activationTangent(&a, &da)
      var (res, dres) = (h, dh)
      if let proj = blk.projector {
        res = denseApply(proj, h, bias: true)
        dres = denseApply(proj, dh, bias: false)
      }
      var o = Matrix(rows: b, cols: w), dO = Matrix(rows: b, cols: w)
      let f = filmWidth, col = blk.filmColumn, scaled = cfg.filmUseScale
      for r in 0..<b {
        for k in 0..<w {
          let (av, dav) = (a[r, k], da[r, k])
          var (ov, dov) = (av, dav)
          if scaled {
            let (g, dg) = (filmOut.storage[r * f + col + k], dFilm.storage[r * f + col + k])
            ov = av * (1 + g) + filmOut.storage[r * f + col + w + k]
            dov = dav * (1 + g) + av * dg + dFilm.storage[r * f + col + w + k]
          } else {
            ov += filmOut.storage[r * f + col + k]
            dov += dFilm.storage[r * f + col + k]
          }
          o[r, k] = ov + res[r, k]
          dO[r, k] = dov + dres[r, k]
        }
      }
      layerNormTangent(blk.norm, &o, &dO, parameters: p)
      (h, dh) = (o, dO)
    }
    return (denseApply(outputProjection, h, bias: true), denseApply(outputProjection, dh, bias: false))
  }

  /// x W (+ b) for a Dense layer of this network.
  func denseApply(_ layer: Dense, _ x: Matrix, bias: Bool) -> Matrix {
    var y = Matrix(rows: x.rows, cols: layer.outputs)
    x.withUnsafeBufferPointer { xp in
      y.withUnsafeMutableBufferPointer { yp in
        layer.forward(rows: x.rows, x: xp.baseAddress!, ldx: layer.inputs, parameters: parameters.values,
          y: yp.baseAddress!, ldy: layer.outputs, addBias: bias)
      }
    }
    return y
  }

  /// y = φ(x) in place, ẏ = φ'(x) ẋ in place.
  func activationTangent(_ x: inout Matrix, _ dx: inout Matrix) {
    var derivative = Matrix(rows: x.rows, cols: x.cols)
    let n = x.count
    x.withUnsafeMutableBufferPointer { xp in
      derivative.withUnsafeMutableBufferPointer { dp in
        configuration.activation.forward(count: n, xp.baseAddress!, into: xp.baseAddress!, derivative: dp.baseAddress!)
      }
    }
    dx.multiply(derivative)
  }

  /// Fourier features of t and their tangent along ṫ.
  func embeddingTangent(_ t: [Float], _ dt: [Float]) -> (Matrix, Matrix) {
    let emb = embedding
    let e = emb.forward(t, parameters: parameters)
    var de = Matrix(rows: t.count, cols: emb.outputs)
    let k = emb.frequencies, o = emb.includeIdentity ? 1 : 0
    let w = parameters.values + emb.weightOffset
    let c = 2 * Double.pi * Double(emb.scale)
    for r in 0..<t.count {
      if emb.includeIdentity { de[r, 0] = dt[r] }
      for j in 0..<k {
        let cw = c * Double(w[j])
        let (s, co) = (Double(e[r, o + j]), Double(e[r, o + k + j]))
        de[r, o + j] = Float(cw * co * Double(dt[r]))
        de[r, o + k + j] = Float(-cw * s * Double(dt[r]))
      }
    }
    return (e, de)
  }

  /// LayerNorm of each row of x in place and its tangent in place.
  func layerNormTangent(_ norm: LayerNorm, _ x: inout Matrix, _ dx: inout Matrix, parameters p: UnsafePointer<Float>) {
    let (b, w) = (x.rows, x.cols)
    let gamma = p + norm.gammaOffset, beta = p + norm.betaOffset
    for r in 0..<b {
      var mean: Float = 0, dmean: Float = 0
      for k in 0..<w {
        mean += x[r, k]
        dmean += dx[r, k]
      }
      mean /= Float(w)
      dmean /= Float(w)
      var variance: Float = 0
      for k in 0..<w { variance += (x[r, k] - mean) * (x[r, k] - mean) }
      let rstd = 1 / (variance / Float(w) + norm.epsilon).squareRoot()
      var proj: Float = 0
      for k in 0..<w { proj += (x[r, k] - mean) * rstd * dx[r, k] }
      proj /= Float(w)
      for k in 0..<w {
        let xhat = (x[r, k] - mean) * rstd
        let dxhat = rstd * (dx[r, k] - dmean - xhat * proj)
        x[r, k] = gamma[k] * xhat + beta[k]
        dx[r, k] = gamma[k] * dxhat
      }
    }
  }
}

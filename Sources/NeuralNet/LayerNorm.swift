// Layer normalization over the features of each row (Ba, Kiros & Hinton 2016).

import CKernels
import NumericCore

/// Layer normalization with learned scale and shift.
///
/// Forward, per row of `n` features: `μ = mean(x)`, `σ² = mean((x − μ)²)`, `r = 1/√(σ² + ε)`,
/// `x̂ = (x − μ)·r`, `y = γ ⊙ x̂ + β`. ε = 1e-3 as Keras. Init γ = 1, β = 0.
/// Backward with `g = dy ⊙ γ`: `dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂))`, `dγ += Σ_rows dy ⊙ x̂`, `dβ += Σ_rows dy`.
public struct LayerNorm: Sendable, Equatable {
  public let features: Int
  public let epsilon: Float
  public let gammaOffset: Int
  public let betaOffset: Int

  /// Registers `name.gamma` and `name.beta` [features].
  public init(_ name: String, features: Int, epsilon: Float = 1e-3, layout: inout ParameterLayout) {
    self.features = features
    self.epsilon = epsilon
    gammaOffset = layout.add(name + ".gamma", shape: [features], initializer: .ones)
    betaOffset = layout.add(name + ".beta", shape: [features], initializer: .zeros)
  }

  /// Normalizes one row: writes `y` and (optionally) `x̂`, returns `r = 1/√(σ² + ε)`. `y` may alias `x`.
  /// (C kernel, Sources/CKernels.)
  @inline(__always)
  static func forwardRow(
    n: Int, x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
    y: UnsafeMutablePointer<Float>, xhat: UnsafeMutablePointer<Float>?
  ) -> Float {
    dsk_layernorm_forward_row(n, x, gamma, beta, epsilon, y, xhat)
  }

  /// Backward for one row: writes `dx` (may alias `dy`) and accumulates `dγ`, `dβ`. (C kernel, Sources/CKernels.)
  @inline(__always)
  static func backwardRow(
    n: Int, dy: UnsafePointer<Float>, xhat: UnsafePointer<Float>, rstd: Float, gamma: UnsafePointer<Float>,
    dgamma: UnsafeMutablePointer<Float>, dbeta: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>
  ) {
    dsk_layernorm_backward_row(n, dy, xhat, rstd, gamma, dgamma, dbeta, dx)
  }

  /// Values cached by the forward pass for the backward pass.
  public struct Cache: Sendable {
    public var xhat: Matrix
    public var rstd: [Float]
  }

  /// Normalizes every row.
  public func forward(_ x: Matrix, parameters: ParameterBuffer) -> (output: Matrix, cache: Cache) {
    precondition(x.cols == features, "LayerNorm expects \(features) features, got \(x.cols)")
    var y = Matrix(rows: x.rows, cols: features)
    var xhat = Matrix(rows: x.rows, cols: features)
    var rstd = [Float](repeating: 0, count: x.rows)
    let p = UnsafePointer(parameters.values)
    x.withUnsafeBufferPointer { xp in
      y.withUnsafeMutableBufferPointer { yp in
        xhat.withUnsafeMutableBufferPointer { hp in
          for r in 0..<x.rows {
            rstd[r] = LayerNorm.forwardRow(
              n: features, x: xp.baseAddress! + r * features, gamma: p + gammaOffset, beta: p + betaOffset,
              epsilon: epsilon, y: yp.baseAddress! + r * features, xhat: hp.baseAddress! + r * features)
          }
        }
      }
    }
    return (y, Cache(xhat: xhat, rstd: rstd))
  }

  /// Accumulates `dγ`, `dβ` into `parameters.gradients` and returns `dx`.
  public func backward(outputGradient dy: Matrix, cache: Cache, parameters: ParameterBuffer) -> Matrix {
    var dx = Matrix(rows: dy.rows, cols: features)
    let g = parameters.gradients
    dy.withUnsafeBufferPointer { dp in
      cache.xhat.withUnsafeBufferPointer { hp in
        dx.withUnsafeMutableBufferPointer { xp in
          for r in 0..<dy.rows {
            LayerNorm.backwardRow(
              n: features, dy: dp.baseAddress! + r * features, xhat: hp.baseAddress! + r * features,
              rstd: cache.rstd[r], gamma: parameters.values + gammaOffset, dgamma: g + gammaOffset,
              dbeta: g + betaOffset, dx: xp.baseAddress! + r * features)
          }
        }
      }
    }
    return dx
  }
}

// Trainable random Fourier features of a scalar time input.

import Foundation
import NumericCore

/// Fourier time embedding (as BayesFlow's `FourierEmbedding(embed_dim, scale, include_identity)`).
///
/// `emb(t) = [t, sin(2π·s·t·w), cos(2π·s·t·w)]` with trainable `w ∈ R^{K}`, K = embedDimension/2, init
/// N(0, 0.05²), scale `s` (30 in the review). Output width `2K + 1` with the identity, else `2K`.
/// Backward: `∂/∂w_k = Σ_b 2π·s·t_b·(d sin_bk · cos_bk − d cos_bk · sin_bk)`, accumulated.
public struct FourierEmbedding: Sendable, Equatable {
  public let frequencies: Int
  public let scale: Float
  public let includeIdentity: Bool
  public let weightOffset: Int

  /// Registers `name.w` [embedDimension/2].
  public init(
    _ name: String, embedDimension: Int = 32, scale: Float = 30, includeIdentity: Bool = true,
    layout: inout ParameterLayout
  ) {
    precondition(embedDimension >= 2 && embedDimension % 2 == 0, "embedding dimension must be even")
    frequencies = embedDimension / 2
    self.scale = scale
    self.includeIdentity = includeIdentity
    weightOffset = layout.add(name + ".w", shape: [frequencies], initializer: .normal(std: 0.05))
  }

  /// Output width.
  public var outputs: Int { 2 * frequencies + (includeIdentity ? 1 : 0) }

  /// Writes `emb(t_b)` for each row into `e` (row stride `outputs`).
  func forward(rows: Int, t: UnsafePointer<Float>, parameters p: UnsafePointer<Float>, e: UnsafeMutablePointer<Float>) {
    let k = frequencies
    let o = includeIdentity ? 1 : 0
    let w = p + weightOffset
    let c = 2 * Double.pi * Double(scale)
    for b in 0..<rows {
      let row = e + b * outputs
      if includeIdentity { row[0] = t[b] }
      let ct = c * Double(t[b])
      for j in 0..<k {
        let a = ct * Double(w[j])
        row[o + j] = Float(Foundation.sin(a))
        row[o + k + j] = Float(Foundation.cos(a))
      }
    }
  }

  /// Accumulates `∂L/∂w` from `de` (the gradient of the embedding, row stride `outputs`).
  func accumulateGradients(
    rows: Int, t: UnsafePointer<Float>, e: UnsafePointer<Float>, de: UnsafePointer<Float>,
    gradients g: UnsafeMutablePointer<Float>
  ) {
    let k = frequencies
    let o = includeIdentity ? 1 : 0
    let c = 2 * Double.pi * Double(scale)
    for j in 0..<k {
      var s = 0.0
      for b in 0..<rows {
        let row = e + b * outputs
        let drow = de + b * outputs
        s += Double(t[b]) * Double(drow[o + j] * row[o + k + j] - drow[o + k + j] * row[o + j])
      }
      g[weightOffset + j] += Float(c * s)
    }
  }

  /// The embedding of a batch of times.
  public func forward(_ t: [Float], parameters: ParameterBuffer) -> Matrix {
    var e = Matrix(rows: t.count, cols: outputs)
    t.withUnsafeBufferPointer { tp in
      e.withUnsafeMutableBufferPointer { forward(rows: t.count, t: tp.baseAddress!, parameters: parameters.values, e: $0.baseAddress!) }
    }
    return e
  }

  /// Accumulates `∂L/∂w` into `parameters.gradients` given the embedding `e` and its gradient `de`.
  public func backward(_ t: [Float], embedding e: Matrix, embeddingGradient de: Matrix, parameters: ParameterBuffer) {
    t.withUnsafeBufferPointer { tp in
      e.withUnsafeBufferPointer { ep in
        de.withUnsafeBufferPointer { dp in
          accumulateGradients(rows: t.count, t: tp.baseAddress!, e: ep.baseAddress!, de: dp.baseAddress!,
                              gradients: parameters.gradients)
        }
      }
    }
  }
}

// Group normalization of channels-last images (Wu & He 2018).

import NumericCore

/// Group normalization with learned per-channel scale and shift.
///
/// The C channels are split into G groups of C/G consecutive channels; per image and group, over its n = HW·C/G
/// values: `μ = mean(x)`, `σ² = mean((x − μ)²)`, `r = 1/√(σ² + ε)`, `x̂ = (x − μ)·r`, and `y = γ_c x̂ + β_c` per
/// channel c. ε = 1e-3 (Keras' `GroupNormalization`). Backward with `g = dy ⊙ γ` over each image and group:
/// `dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂))`, `dγ_c += Σ dy ⊙ x̂`, `dβ_c += Σ dy` over images and pixels.
/// Init γ = 1, β = 0. With G = C it is instance normalization, with G = 1 layer normalization over the image.
public struct GroupNorm: Sendable, Equatable {
  public let channels: Int
  public let groups: Int
  public let epsilon: Float
  public let gammaOffset: Int
  public let betaOffset: Int

  /// Registers `name.gamma` and `name.beta` [channels]; `groups` must divide `channels`.
  public init(_ name: String, channels: Int, groups: Int, epsilon: Float = 1e-3, layout: inout ParameterLayout) {
    precondition(channels > 0 && groups > 0 && channels % groups == 0, "GroupNorm: \(groups) groups must divide \(channels) channels")
    (self.channels, self.groups, self.epsilon) = (channels, groups, epsilon)
    gammaOffset = layout.add(name + ".gamma", shape: [channels], initializer: .ones)
    betaOffset = layout.add(name + ".beta", shape: [channels], initializer: .zeros)
  }

  /// Normalizes `batch` images of `pixels` pixels; keeps x̂ (same size as x) and r per (image, group) for backward.
  /// `y` may alias `x`.
  func forward(
    batch: Int, pixels: Int, x: UnsafePointer<Float>, parameters p: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
    xhat: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>
  ) {
    let c = channels, cg = c / groups, n = Double(pixels * cg)
    let gamma = p + gammaOffset, beta = p + betaOffset
    for b in 0..<batch {
      let image = x + b * pixels * c, out = y + b * pixels * c, h = xhat + b * pixels * c
      for g in 0..<groups {
        // Mean and variance in Double: a group can hold tens of thousands of values.
        var sum = 0.0
        for i in 0..<pixels { for k in (g * cg)..<((g + 1) * cg) { sum += Double(image[i * c + k]) } }
        let mean = sum / n
        var squares = 0.0
        for i in 0..<pixels {
          for k in (g * cg)..<((g + 1) * cg) {
            let d = Double(image[i * c + k]) - mean
            squares += d * d
          }
        }
        let r = Float(1 / (squares / n + Double(epsilon)).squareRoot()), m = Float(mean)
        rstd[b * groups + g] = r
        for i in 0..<pixels {
          for k in (g * cg)..<((g + 1) * cg) {
            let v = (image[i * c + k] - m) * r
            h[i * c + k] = v
            out[i * c + k] = v * gamma[k] + beta[k]
          }
        }
      }
    }
  }

  /// Accumulates dγ, dβ and writes dx (which may alias dy).
  func backward(
    batch: Int, pixels: Int, dy: UnsafePointer<Float>, xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    parameters p: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>
  ) {
    let c = channels, cg = c / groups, n = Double(pixels * cg)
    let gamma = p + gammaOffset, dgamma = gradients + gammaOffset, dbeta = gradients + betaOffset
    for b in 0..<batch {
      let d = dy + b * pixels * c, h = xhat + b * pixels * c, out = dx + b * pixels * c
      for i in 0..<pixels {
        for k in 0..<c {
          dgamma[k] += d[i * c + k] * h[i * c + k]
          dbeta[k] += d[i * c + k]
        }
      }
      for g in 0..<groups {
        var sumG = 0.0, sumGH = 0.0
        for i in 0..<pixels {
          for k in (g * cg)..<((g + 1) * cg) {
            let v = Double(d[i * c + k] * gamma[k])
            sumG += v
            sumGH += v * Double(h[i * c + k])
          }
        }
        let meanG = Float(sumG / n), meanGH = Float(sumGH / n), r = rstd[b * groups + g]
        for i in 0..<pixels {
          for k in (g * cg)..<((g + 1) * cg) {
            out[i * c + k] = r * (d[i * c + k] * gamma[k] - meanG - h[i * c + k] * meanGH)
          }
        }
      }
    }
  }
}

import Foundation
import NumericCore
import TestSupport
import Testing

@testable import NeuralNet

/// A layer under test as a function of its input values (and its parameters, when it has any).
private struct LayerProbe {
  let input: Matrix
  let parameters: ParameterBuffer?
  let forward: (UnsafePointer<Float>) -> [Float]
  /// Accumulates parameter gradients and returns ∂L/∂x for output gradient `dy`.
  let backward: ([Float]) -> [Float]

  /// Checks the analytic ∂L/∂x and ∂L/∂parameters of L = Σ y ⊙ w (w fixed normal weights) by central differences.
  func check(_ label: String, rng: inout Xoshiro, step: Float = 1e-2) {
    let w = (0..<forward(input.storage.withUnsafeBufferPointer { $0.baseAddress! }).count).map { _ in
      Float(rng.nextNormal())
    }
    parameters?.zeroGradients()
    let dx = backward(w)
    let n = input.count, x = UnsafeMutablePointer<Float>.allocate(capacity: n)
    defer { x.deallocate() }
    input.storage.withUnsafeBufferPointer { x.initialize(from: $0.baseAddress!, count: n) }
    let forward = self.forward
    func loss() -> Double { zip(forward(x), w).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
    let check = GradientCheck(step: step)
    let inputResult = check.worstError(indices: Array(0..<n), values: x, analytic: dx, loss: loss)
    #expect(inputResult.error <= 1, "\(label) ∂L/∂x: \(inputResult)")
    if let parameters {
      let result = check.worstError(
        indices: Array(0..<parameters.count), values: parameters.values, analytic: parameters.gradientArray, loss: loss)
      #expect(result.error <= 1, "\(label) ∂L/∂parameters: \(result)")
    }
  }
}

/// y[b, i, j, o] straight from the definition in Sources/NeuralNet/Convolution.swift, in Double.
private func referenceConvolution(
  _ conv: Conv2D, _ p: ParameterBuffer, x: [Float], batch: Int, height h: Int, width w: Int
) -> [Double] {
  let k = conv.kernelSize, r = k / 2, cin = conv.inputChannels, cout = conv.outputChannels
  let kernel = p.values + conv.dense.kernelOffset, bias = p.values + conv.dense.biasOffset!
  var y = [Double](repeating: 0, count: batch * h * w * cout)
  for b in 0..<batch {
    for i in 0..<h {
      for j in 0..<w {
        for o in 0..<cout {
          var s = Double(bias[o])
          for pi in 0..<k {
            for qi in 0..<k {
              let si = i + pi - r, sj = j + qi - r
              guard si >= 0 && si < h && sj >= 0 && sj < w else { continue }
              for c in 0..<cin {
                s += Double(x[((b * h + si) * w + sj) * cin + c]) * Double(kernel[((pi * k + qi) * cin + c) * cout + o])
              }
            }
          }
          y[((b * h + i) * w + j) * cout + o] = s
        }
      }
    }
  }
  return y
}

extension NeuralNetSuite {
  /// Convolution, pooling, upsampling and group normalization (Conv2D, Pooling, GroupNorm) and the ResNet summary.
  @Suite struct ConvolutionTests {
    /// A convolution with random parameters (biases too, so that their gradients are not trivially zero).
    static func convolution(kernel: Int, inputs: Int, outputs: Int, rng: inout Xoshiro) -> (Conv2D, ParameterBuffer) {
      var layout = ParameterLayout()
      let conv = Conv2D("conv", kernelSize: kernel, inputChannels: inputs, outputChannels: outputs, layout: &layout)
      let p = ParameterBuffer(layout: layout, rng: &rng)
      for i in 0..<p.count { p.values[i] += Float(rng.nextNormal()) * 0.1 }
      return (conv, p)
    }

    /// Forward against the definition, in one chunk and in chunks of one image, for 3 × 3, 5 × 5 and 1 × 1 kernels
    /// on non-square images; gradients by finite differences.
    @Test(arguments: [(3, 2, 3), (5, 1, 2), (1, 3, 2)])
    func convolutionMatchesTheDefinitionAndItsGradients(kernel: Int, inputs: Int, outputs: Int) {
      var rng = Xoshiro(seed: UInt64(kernel * 10 + inputs))
      let (conv, p) = Self.convolution(kernel: kernel, inputs: inputs, outputs: outputs, rng: &rng)
      let (b, h, w) = (3, 5, 4)
      let x = rng.normalMatrix(rows: b, cols: h * w * inputs)
      let reference = referenceConvolution(conv, p, x: x.storage, batch: b, height: h, width: w)
      for chunk in [Conv2D.chunkValues, 1] {
        let cols = ScratchBuffer(), patchGradient = ScratchBuffer()
        let probe = LayerProbe(
          input: x, parameters: p,
          forward: { xp in
            var y = [Float](repeating: 0, count: b * h * w * outputs)
            y.withUnsafeMutableBufferPointer {
              conv.forward(batch: b, height: h, width: w, x: xp, parameters: p.values, y: $0.baseAddress!, cols: cols,
                           chunkValues: chunk)
            }
            return y
          },
          backward: { dy in
            var dx = [Float](repeating: 7, count: b * h * w * inputs)  // overwritten, not accumulated
            x.storage.withUnsafeBufferPointer { xp in
              dx.withUnsafeMutableBufferPointer {
                conv.backward(
                  batch: b, height: h, width: w, x: xp.baseAddress!, dy: dy, parameters: p.values, gradients: p.gradients,
                  dx: $0.baseAddress!, cols: cols, patchGradient: patchGradient, chunkValues: chunk)
              }
            }
            return dx
          })
        let y = probe.forward(x.storage.withUnsafeBufferPointer { $0.baseAddress! })
        let worst = zip(y, reference).map { abs(Double($0) - $1) }.max()!
        #expect(worst < 1e-5, "k = \(kernel), chunk \(chunk): largest difference \(worst)")
        probe.check("conv k = \(kernel) chunk \(chunk)", rng: &rng)
      }
    }

    /// Shifting an image whose content stays clear of the border shifts the convolution's output by the same
    /// offset (zero padding only meets zeros).
    @Test func convolutionIsTranslationEquivariant() {
      var rng = Xoshiro(seed: 8)
      let (conv, p) = Self.convolution(kernel: 3, inputs: 2, outputs: 3, rng: &rng)
      let (h, w, c) = (12, 10, 2)
      var x = [Float](repeating: 0, count: h * w * c), shifted = x
      for i in 3..<7 { for j in 2..<6 { for k in 0..<c { x[(i * w + j) * c + k] = Float(rng.nextNormal()) } } }
      let (di, dj) = (2, 3)
      for i in 0..<(h - di) { for j in 0..<(w - dj) { for k in 0..<c { shifted[((i + di) * w + j + dj) * c + k] = x[(i * w + j) * c + k] } } }
      func run(_ input: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: h * w * 3)
        input.withUnsafeBufferPointer { xp in
          y.withUnsafeMutableBufferPointer {
            conv.forward(batch: 1, height: h, width: w, x: xp.baseAddress!, parameters: p.values, y: $0.baseAddress!,
                         cols: ScratchBuffer())
          }
        }
        return y
      }
      let (y, ys) = (run(x), run(shifted))
      var worst: Float = 0
      for i in 0..<(h - di) {
        for j in 0..<(w - dj) {
          for o in 0..<3 { worst = max(worst, abs(ys[((i + di) * w + j + dj) * 3 + o] - y[(i * w + j) * 3 + o])) }
        }
      }
      #expect(worst < 1e-6, "largest difference \(worst)")
    }

    @Test func poolingAndUpsamplingGradients() {
      var rng = Xoshiro(seed: 4)
      // 5 × 6 images: max and average pooling drop the odd last row.
      let s = ImageShape(height: 5, width: 6, channels: 3), b = 2
      let pooled = Pooling.pooledShape(s)
      #expect(pooled == ImageShape(height: 2, width: 3, channels: 3))
      let x = rng.normalMatrix(rows: b, cols: s.count)
      var position = [Float](repeating: 0, count: b * pooled.count)
      // Parameter-free layers: `forward(x, y)` and `backward(dy, dx)` on buffers of `outputs` and `b·s.count` values.
      func layer(
        outputs: Int, _ forward: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
        _ backward: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
      ) -> LayerProbe {
        LayerProbe(
          input: x, parameters: nil,
          forward: { xp in
            var y = [Float](repeating: 0, count: outputs)
            y.withUnsafeMutableBufferPointer { forward(xp, $0.baseAddress!) }
            return y
          },
          backward: { dy in
            // Max pooling's backward reads the window positions of a forward pass on x.
            x.storage.withUnsafeBufferPointer { xp in
              var y = [Float](repeating: 0, count: outputs)
              y.withUnsafeMutableBufferPointer { forward(xp.baseAddress!, $0.baseAddress!) }
            }
            var dx = [Float](repeating: 0, count: b * s.count)
            dx.withUnsafeMutableBufferPointer { backward(dy, $0.baseAddress!) }
            return dx
          })
      }
      let probes: [(String, LayerProbe)] = [
        ("max pool", layer(outputs: b * pooled.count,
          { Pooling.maxPool(batch: b, s, x: $0, y: $1, position: &position) },
          { Pooling.maxPoolBackward(batch: b, s, dy: $0, position: position, dx: $1) })),
        ("average pool", layer(outputs: b * pooled.count,
          { Pooling.averagePool(batch: b, s, x: $0, y: $1) }, { Pooling.averagePoolBackward(batch: b, s, dy: $0, dx: $1) })),
        ("upsample", layer(outputs: 4 * b * s.count,
          { Pooling.upsample(batch: b, s, x: $0, y: $1) }, { Pooling.upsampleBackward(batch: b, s, dy: $0, dx: $1) })),
        ("global average", layer(outputs: b * s.channels,
          { Pooling.globalAverage(batch: b, s, x: $0, y: $1) },
          { Pooling.globalAverageBackward(batch: b, s, dy: $0, dx: $1) })),
      ]
      // Max pooling's values: a window's maximum is unique (normal draws) and at least 2·step above the runner-up
      // with overwhelming probability only for a coarse step; 1e-3 keeps the argmax fixed under the perturbation.
      for (label, probe) in probes { probe.check(label, rng: &rng, step: 1e-3) }
      // Values: the upsampled image repeats each pixel over a 2 × 2 block; average pooling undoes it.
      var up = [Float](repeating: 0, count: 4 * b * s.count), back = [Float](repeating: 0, count: b * s.count)
      let big = ImageShape(height: 10, width: 12, channels: 3)
      x.storage.withUnsafeBufferPointer { Pooling.upsample(batch: b, s, x: $0.baseAddress!, y: &up) }
      Pooling.averagePool(batch: b, big, x: up, y: &back)
      #expect(zip(back, x.storage).allSatisfy { abs($0 - $1) < 1e-6 })
      #expect(up[((1 * 10 + 3) * 12 + 5) * 3 + 2] == x[1, ((1 * 6) + 2) * 3 + 2])
    }

    @Test func groupNormNormalizesEachGroupAndMatchesFiniteDifferences() {
      var rng = Xoshiro(seed: 6)
      var layout = ParameterLayout()
      let norm = GroupNorm("norm", channels: 6, groups: 3, layout: &layout)
      let p = ParameterBuffer(layout: layout, rng: &rng)
      let (b, pixels) = (2, 5)
      var x = rng.normalMatrix(rows: b, cols: pixels * 6)
      for i in 0..<x.count { x.storage[i] = x.storage[i] * 3 + 1 }
      let xhat = ScratchBuffer(b * pixels * 6), rstd = ScratchBuffer(b * 3)
      func run(_ xp: UnsafePointer<Float>) -> [Float] {
        var y = [Float](repeating: 0, count: b * pixels * 6)
        norm.forward(batch: b, pixels: pixels, x: xp, parameters: p.values, y: &y, xhat: xhat.p, rstd: rstd.p)
        return y
      }
      // γ = 1, β = 0: every (image, group) has mean 0 and variance σ²/(σ² + ε).
      let y = x.storage.withUnsafeBufferPointer { run($0.baseAddress!) }
      for image in 0..<b {
        for g in 0..<3 {
          var group: [Double] = []
          for i in 0..<pixels { for k in (2 * g)..<(2 * g + 2) { group.append(Double(y[(image * pixels + i) * 6 + k])) } }
          let mean = group.reduce(0, +) / Double(group.count)
          let variance = group.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(group.count)
          #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-3, "image \(image) group \(g): \(mean), \(variance)")
        }
      }
      for i in 0..<p.count { p.values[i] += Float(rng.nextNormal()) * 0.3 }
      let probe = LayerProbe(
        input: x, parameters: p, forward: run,
        backward: { dy in
          _ = x.storage.withUnsafeBufferPointer { run($0.baseAddress!) }
          var dx = [Float](repeating: 0, count: b * pixels * 6)
          norm.backward(
            batch: b, pixels: pixels, dy: dy, xhat: xhat.p, rstd: rstd.p, parameters: p.values, gradients: p.gradients,
            dx: &dx)
          return dx
        })
      probe.check("group norm", rng: &rng)
    }

    /// The review's configuration for 16 × 16 images: 2,648 parameters, and 7,560 with two blocks.
    @Test func resNetSummaryParameterCounts() {
      var rng = Xoshiro(seed: 1)
      let one = ConvolutionalConfiguration(height: 16, width: 16)
      #expect(one.widths == [16] && one.summaryDimension == 8)
      #expect(ResNetSummary(configuration: one, rng: &rng).parameters.count == 2648)
      #expect(SummaryArchitecture.convolutional(ConvolutionalConfiguration(height: 64, width: 64)).parameterCount == 7560)
      #expect(SummaryArchitecture.convolutional(ConvolutionalConfiguration(height: 128, width: 128)).parameterCount == 17384)
    }

    @Test func resNetSummaryGradientsMatchFiniteDifferences() {
      var rng = Xoshiro(seed: 2)
      let c = ConvolutionalConfiguration(height: 8, width: 6, channels: 2, summaryDimension: 3, widths: [3, 4])
      let net = ResNetSummary(configuration: c, rng: &rng)
      for i in 0..<net.parameters.count { net.parameters.values[i] += Float(rng.nextNormal()) * 0.1 }
      let x = rng.normalMatrix(rows: 3, cols: 8 * 6 * 2)
      let w = rng.normalMatrix(rows: 3, cols: 3)
      #expect(net.forward(x, training: true, rng: &rng).allFinite)
      net.parameters.zeroGradients()
      net.backward(w)
      // Max pooling has kinks where two values of a window tie; two levels of it put near-ties within reach of
      // steps of 1e-2 and 2e-3 here, so the step is 5e-4 (Float rounding then costs about 0.1 of the tolerance).
      let result = GradientCheck(step: 5e-4).worstError(
        indices: Array(0..<net.parameters.count), values: net.parameters.values, analytic: net.parameters.gradientArray
      ) {
        var r = Xoshiro(seed: 0)
        return weightedSum(net.forward(x, training: true, rng: &r), w)
      }
      #expect(result.error <= 1, "ResNetSummary gradient \(result)")
      // A replica shares the values and computes the same summary.
      #expect(net.replica().forward(x, training: false, rng: &rng) == net.forward(x, training: false, rng: &rng))
    }

    /// A summary of content clear of the border does not change when the content moves by two pixels (one max-pool
    /// stride): the convolutions are equivariant, pooling windows stay aligned and the global average sees the same
    /// values.
    @Test func resNetSummaryIsInvariantToShiftsByThePoolingStride() {
      var rng = Xoshiro(seed: 9)
      let net = ResNetSummary(configuration: ConvolutionalConfiguration(height: 16, width: 16), rng: &rng)
      for i in 0..<net.parameters.count { net.parameters.values[i] += Float(rng.nextNormal()) * 0.1 }
      var x = Matrix(rows: 2, cols: 256)
      for i in 4..<10 { for j in 4..<10 { x[0, i * 16 + j] = Float(rng.nextNormal()) } }
      for i in 4..<10 { for j in 4..<10 { x[1, (i + 2) * 16 + j + 2] = x[0, i * 16 + j] } }
      let s = net.forward(x, training: false, rng: &rng)
      for k in 0..<8 { #expect(abs(s[0, k] - s[1, k]) < 1e-5, "summary \(k): \(s[0, k]) vs \(s[1, k])") }
    }
  }
}

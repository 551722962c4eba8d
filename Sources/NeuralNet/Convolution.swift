// 2-D convolution on channels-last images by im2col and one GEMM per chunk of images.

import NumericCore

/// The spatial shape of one channels-last (NHWC) image: `height × width` pixels of `channels` values each, stored
/// pixel after pixel, row after row; a batch is B such images one after another.
public struct ImageShape: Sendable, Codable, Equatable {
  public var height: Int
  public var width: Int
  public var channels: Int
  public init(height: Int, width: Int, channels: Int) {
    (self.height, self.width, self.channels) = (height, width, channels)
  }
  /// Pixels per image.
  public var pixels: Int { height * width }
  /// Values per image.
  public var count: Int { height * width * channels }
}

/// 2-D convolution with stride 1 and "same" zero padding (odd kernel size k, r = (k − 1)/2) on NHWC images:
///
///     y[b, i, j, o] = bias[o] + Σ_{p,q<k} Σ_c x[b, i + p − r, j + q − r, c] · W[p, q, c, o]   (x = 0 outside)
///
/// computed as im2col + GEMM: row (b, i, j) of `cols` is the k·k·C_in patch around pixel (i, j), ordered (p, q, c),
/// so that `y = cols·W + b` with W [k²C_in, C_out] (Keras' [k, k, C_in, C_out] kernel, flattened). Backward:
/// `dW += colsᵀ·dy`, `db += Σ dy`, and `dx` = `dy·Wᵀ` scattered back onto the pixels it was gathered from
/// (col2im, the adjoint of im2col). 1 × 1 convolutions skip im2col. Images go through in chunks so that the
/// patch matrix stays near `chunkValues` floats; backward rebuilds each chunk's patches instead of keeping them.
/// Init: Glorot uniform with fan-in k²C_in and fan-out k²C_out (Keras), bias zero.
public struct Conv2D: Sendable, Equatable {
  public let kernelSize: Int
  public let inputChannels: Int
  public let outputChannels: Int
  /// The kernel and bias as a dense layer on patch rows.
  let dense: Dense
  /// Target size of one chunk's patch matrix, in floats (8 MB).
  static let chunkValues = 1 << 21

  /// Registers `name.kernel` [k²C_in, C_out] and `name.bias` [C_out].
  public init(_ name: String, kernelSize k: Int, inputChannels: Int, outputChannels: Int, layout: inout ParameterLayout) {
    precondition(k > 0 && k % 2 == 1 && inputChannels > 0 && outputChannels > 0, "invalid Conv2D shape")
    (kernelSize, self.inputChannels, self.outputChannels) = (k, inputChannels, outputChannels)
    dense = Dense(
      name, inputs: k * k * inputChannels, outputs: outputChannels,
      initializer: .glorotUniform(fanIn: k * k * inputChannels, fanOut: k * k * outputChannels), layout: &layout)
  }

  /// Number of parameters.
  public var parameterCount: Int { dense.parameterCount }

  /// Images per im2col chunk for `pixels`-pixel images and a patch matrix of about `values` floats.
  func imagesPerChunk(pixels: Int, values: Int) -> Int { max(1, values / max(1, pixels * dense.inputs)) }

  /// `y = conv(x)` for `batch` images of `height × width` pixels; `y` holds C_out channels per pixel.
  func forward(
    batch: Int, height h: Int, width w: Int, x: UnsafePointer<Float>, parameters p: UnsafePointer<Float>,
    y: UnsafeMutablePointer<Float>, cols: ScratchBuffer, chunkValues: Int = Conv2D.chunkValues
  ) {
    let px = h * w, cin = inputChannels, cout = outputChannels
    guard kernelSize > 1 else {
      dense.forward(rows: batch * px, x: x, ldx: cin, parameters: p, y: y, ldy: cout)
      return
    }
    let kk = dense.inputs, chunk = imagesPerChunk(pixels: px, values: chunkValues)
    for b0 in stride(from: 0, to: batch, by: chunk) {
      let nb = min(chunk, batch - b0), c = cols.ensure(nb * px * kk)
      im2col(images: nb, height: h, width: w, x: x + b0 * px * cin, cols: c)
      dense.forward(rows: nb * px, x: c, ldx: kk, parameters: p, y: y + b0 * px * cout, ldy: cout)
    }
  }

  /// Accumulates the parameter gradients for `dy` at input `x`, and, when `dx` is given, writes ∂L/∂x there
  /// (added to what `dx` holds when `accumulate`).
  func backward(
    batch: Int, height h: Int, width w: Int, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    parameters p: UnsafePointer<Float>, gradients g: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?,
    accumulate: Bool = false, cols: ScratchBuffer, patchGradient: ScratchBuffer, chunkValues: Int = Conv2D.chunkValues
  ) {
    let px = h * w, cin = inputChannels, cout = outputChannels
    guard kernelSize > 1 else {
      dense.accumulateGradients(rows: batch * px, x: x, ldx: cin, dy: dy, ldy: cout, gradients: g)
      if let dx {
        dense.inputGradient(rows: batch * px, dy: dy, ldy: cout, parameters: p, dx: dx, ldx: cin, accumulate: accumulate)
      }
      return
    }
    let kk = dense.inputs, chunk = imagesPerChunk(pixels: px, values: chunkValues)
    if let dx, !accumulate { dx.update(repeating: 0, count: batch * px * cin) }
    for b0 in stride(from: 0, to: batch, by: chunk) {
      let nb = min(chunk, batch - b0), c = cols.ensure(nb * px * kk), dyb = dy + b0 * px * cout
      im2col(images: nb, height: h, width: w, x: x + b0 * px * cin, cols: c)
      dense.accumulateGradients(rows: nb * px, x: c, ldx: kk, dy: dyb, ldy: cout, gradients: g)
      if let dx {
        let dc = patchGradient.ensure(nb * px * kk)
        dense.inputGradient(rows: nb * px, dy: dyb, ldy: cout, parameters: p, dx: dc, ldx: kk)
        col2im(images: nb, height: h, width: w, cols: dc, dx: dx + b0 * px * cin)
      }
    }
  }

  /// Visits the patch matrix of `images` images kernel row by kernel row: for output pixel (n, i, j) and kernel row
  /// p, `body(patch, pixel, q0, q1)` gets the offset of that kernel row's k·C_in values in the patch matrix, the
  /// offset of input pixel (i + p − r, j + q0 − r) in the images (nil when that input row is outside), and the
  /// kernel columns q0 ..< q1 whose input pixels are inside.
  @inline(__always)
  private func forEachPatchRow(images: Int, height h: Int, width w: Int, _ body: (Int, Int?, Int, Int) -> Void) {
    let k = kernelSize, r = k / 2, cin = inputChannels, kk = dense.inputs
    for n in 0..<images {
      for i in 0..<h {
        for j in 0..<w {
          let q0 = max(0, r - j), q1 = min(k, w + r - j), patch = ((n * h + i) * w + j) * kk
          for p in 0..<k {
            let si = i + p - r
            body(patch + p * k * cin, si >= 0 && si < h ? ((n * h + si) * w + j + q0 - r) * cin : nil, q0, q1)
          }
        }
      }
    }
  }

  /// Gathers the k × k patches of `images` images into `cols` ([images·h·w, k²C_in]); zeros outside the image.
  func im2col(images: Int, height h: Int, width w: Int, x: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>) {
    let k = kernelSize, cin = inputChannels
    forEachPatchRow(images: images, height: h, width: w) { patch, pixel, q0, q1 in
      let dst = cols + patch
      guard let pixel else {
        dst.update(repeating: 0, count: k * cin)
        return
      }
      if q0 > 0 { dst.update(repeating: 0, count: q0 * cin) }
      (dst + q0 * cin).update(from: x + pixel, count: (q1 - q0) * cin)
      if q1 < k { (dst + q1 * cin).update(repeating: 0, count: (k - q1) * cin) }
    }
  }

  /// The adjoint of `im2col`: adds each patch row of `cols` back onto the pixels it was gathered from.
  func col2im(images: Int, height h: Int, width w: Int, cols: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
    let cin = inputChannels
    forEachPatchRow(images: images, height: h, width: w) { patch, pixel, q0, q1 in
      guard let pixel else { return }
      Kernels.axpy(count: (q1 - q0) * cin, alpha: 1, x: cols + patch + q0 * cin, y: dx + pixel)
    }
  }
}

// Spatial resampling of channels-last images: 2 × 2 max and average pooling, nearest-neighbour upsampling and
// global average pooling, each with its backward pass.

import NumericCore

/// Resampling layers on NHWC batches (`ImageShape` is the input image's shape). They have no parameters.
///
///     max pool:      y[i, j, c] = max_{p,q<2} x[2i + p, 2j + q, c]      (stride 2; an odd last row or column is
///                                                                        dropped, Keras "valid")
///     average pool:  y[i, j, c] = ¼ Σ_{p,q<2} x[2i + p, 2j + q, c]
///     upsample ×2:   y[i, j, c] = x[⌊i/2⌋, ⌊j/2⌋, c]                    (nearest neighbour)
///     global average: y[c] = (1/HW) Σ_{i,j} x[i, j, c]
///
/// Backward: max pooling routes dy to the first maximal input of each window (the window position is kept by the
/// forward pass), average pooling spreads dy/4 over the window, upsampling sums dy over each 2 × 2 block, and
/// global averaging spreads dy/HW over every pixel.
public enum Pooling {
  /// Output shape of a 2 × 2 pooling.
  public static func pooledShape(_ s: ImageShape) -> ImageShape {
    ImageShape(height: s.height / 2, width: s.width / 2, channels: s.channels)
  }

  /// Visits every output pixel of a 2 × 2 pooling: `body(input offset of the window's top-left value,
  /// output offset)`, channel 0 of each.
  @inline(__always)
  static func forEachWindow(batch: Int, _ s: ImageShape, _ body: (Int, Int) -> Void) {
    let oh = s.height / 2, ow = s.width / 2, c = s.channels
    for b in 0..<batch {
      for i in 0..<oh {
        for j in 0..<ow {
          body(((b * s.height + 2 * i) * s.width + 2 * j) * c, ((b * oh + i) * ow + j) * c)
        }
      }
    }
  }

  /// 2 × 2 max pooling; `position` receives, per output value, the window index p·2 + q of its maximum.
  static func maxPool(
    batch: Int, _ s: ImageShape, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
    position: UnsafeMutablePointer<Float>
  ) {
    let c = s.channels, row = s.width * c
    forEachWindow(batch: batch, s) { src, dst in
      for k in 0..<c {
        var best = x[src + k], at: Float = 0
        if x[src + c + k] > best { (best, at) = (x[src + c + k], 1) }
        if x[src + row + k] > best { (best, at) = (x[src + row + k], 2) }
        if x[src + row + c + k] > best { (best, at) = (x[src + row + c + k], 3) }
        y[dst + k] = best
        position[dst + k] = at
      }
    }
  }

  /// ∂L/∂x of max pooling (overwrites `dx`, the whole input batch).
  static func maxPoolBackward(
    batch: Int, _ s: ImageShape, dy: UnsafePointer<Float>, position: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>
  ) {
    let c = s.channels, row = s.width * c
    dx.update(repeating: 0, count: batch * s.count)
    forEachWindow(batch: batch, s) { src, dst in
      for k in 0..<c {
        let w = Int(position[dst + k])
        dx[src + (w >> 1) * row + (w & 1) * c + k] = dy[dst + k]
      }
    }
  }

  /// 2 × 2 average pooling.
  static func averagePool(batch: Int, _ s: ImageShape, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let c = s.channels, row = s.width * c
    forEachWindow(batch: batch, s) { src, dst in
      for k in 0..<c { y[dst + k] = 0.25 * (x[src + k] + x[src + c + k] + x[src + row + k] + x[src + row + c + k]) }
    }
  }

  /// ∂L/∂x of average pooling (overwrites `dx`).
  static func averagePoolBackward(batch: Int, _ s: ImageShape, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
    let c = s.channels, row = s.width * c
    dx.update(repeating: 0, count: batch * s.count)
    forEachWindow(batch: batch, s) { src, dst in
      for k in 0..<c {
        let g = 0.25 * dy[dst + k]
        (dx[src + k], dx[src + c + k], dx[src + row + k], dx[src + row + c + k]) = (g, g, g, g)
      }
    }
  }

  /// Nearest-neighbour upsampling by 2 of images of shape `s` (output 2H × 2W).
  static func upsample(batch: Int, _ s: ImageShape, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let c = s.channels, ow = 2 * s.width
    for b in 0..<batch {
      for i in 0..<(2 * s.height) {
        let src = x + (b * s.height + i / 2) * s.width * c, dst = y + (b * 2 * s.height + i) * ow * c
        for j in 0..<ow { (dst + j * c).update(from: src + (j / 2) * c, count: c) }
      }
    }
  }

  /// ∂L/∂x of upsampling: dy (2H × 2W) summed over each 2 × 2 block (overwrites `dx`).
  static func upsampleBackward(batch: Int, _ s: ImageShape, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
    let up = ImageShape(height: 2 * s.height, width: 2 * s.width, channels: s.channels)
    let c = s.channels, row = up.width * c
    forEachWindow(batch: batch, up) { src, dst in
      for k in 0..<c { dx[dst + k] = dy[src + k] + dy[src + c + k] + dy[src + row + k] + dy[src + row + c + k] }
    }
  }

  /// Global average over the pixels: [batch, HW, C] → [batch, C].
  static func globalAverage(batch: Int, _ s: ImageShape, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let c = s.channels, scale = 1 / Float(s.pixels)
    for b in 0..<batch {
      let out = y + b * c
      out.update(repeating: 0, count: c)
      for i in 0..<s.pixels { Kernels.axpy(count: c, alpha: 1, x: x + (b * s.pixels + i) * c, y: out) }
      Kernels.scale(count: c, out, by: scale)
    }
  }

  /// ∂L/∂x of global averaging (overwrites `dx`).
  static func globalAverageBackward(batch: Int, _ s: ImageShape, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
    let c = s.channels, scale = 1 / Float(s.pixels)
    for b in 0..<batch {
      for i in 0..<s.pixels {
        let dst = dx + (b * s.pixels + i) * c
        for k in 0..<c { dst[k] = dy[b * c + k] * scale }
      }
    }
  }
}

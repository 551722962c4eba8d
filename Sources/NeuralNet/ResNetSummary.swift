// Summary network for images: residual convolution blocks with max pooling, a 1 × 1 convolution and global
// average pooling (the review's ResNetSummary for the Gaussian random field case study,
// Documentation/Methods.md §14).

import NumericCore

/// Shape of a `ResNetSummary`.
public struct ConvolutionalConfiguration: Sendable, Codable, Equatable {
  /// Input images: rows are H·W·C values, channels last.
  public var height: Int
  public var width: Int
  public var channels: Int
  public var summaryDimension: Int
  /// One residual block per entry, with that many filters.
  public var widths: [Int]
  public var kernelSize: Int
  public var activation: Activation

  public init(
    height: Int, width: Int, channels: Int = 1, summaryDimension: Int = 8, widths: [Int]? = nil, kernelSize: Int = 3,
    activation: Activation = .mish
  ) {
    (self.height, self.width, self.channels, self.summaryDimension) = (height, width, channels, summaryDimension)
    self.widths = widths ?? ConvolutionalConfiguration.defaultWidths(side: min(height, width))
    (self.kernelSize, self.activation) = (kernelSize, activation)
  }

  /// The review's blocks for an image of side S: one block of 16 filters up to S = 16, two up to 64, four beyond.
  public static func defaultWidths(side: Int) -> [Int] {
    [Int](repeating: 16, count: side <= 16 ? 1 : side <= 64 ? 2 : 4)
  }

  public var inputShape: ImageShape { ImageShape(height: height, width: width, channels: channels) }
}

/// Residual convolutional summary network on channels-last images (residual blocks as He et al. 2016, with a 1 × 1
/// convolution on the skip path):
///
///     for each width w:  h ← maxpool₂(act(conv₃ₓ₃(act(conv₃ₓ₃(h))) + conv₁ₓ₁(h)))   (residual block, C → w)
///     s = mean over pixels of conv₁ₓ₁(h)                                               (summary, w → d)
///
/// Convolutions use "same" zero padding and biases (Conv2D, im2col + GEMM), pooling is 2 × 2 max pooling with
/// stride 2 (`Pooling`). With one block of 16 filters on one channel it has 2,648 parameters. Backward runs the
/// blocks in reverse; the first block does not form ∂L/∂x. Non-finite inputs are read as 0.
public final class ResNetSummary: SummaryNetwork, @unchecked Sendable {
  public let configuration: ConvolutionalConfiguration
  public let parameters: ParameterBuffer
  let blocks: [Block]
  let head: Conv2D
  let ws = Work()

  /// The layers of one residual block.
  struct Block: Sendable {
    let first: Conv2D, second: Conv2D, projection: Conv2D
  }

  /// Activations of one block for backward: its input, the first convolution's activated output and
  /// derivative, the pre-pooling activation's output and derivative, and the max-pooling positions.
  final class BlockCache: @unchecked Sendable {
    let input = ScratchBuffer(), hidden = ScratchBuffer(), hiddenGate = ScratchBuffer()
    let sum = ScratchBuffer(), sumGate = ScratchBuffer(), position = ScratchBuffer()
  }

  final class Work: @unchecked Sendable {
    var rows = 0
    var caches: [BlockCache] = []
    let top = ScratchBuffer(), headOut = ScratchBuffer(), cols = ScratchBuffer(), patchGradient = ScratchBuffer()
    let g1 = ScratchBuffer(), g2 = ScratchBuffer(), g3 = ScratchBuffer(), hiddenGradient = ScratchBuffer()
  }

  public convenience init(configuration: ConvolutionalConfiguration, rng: inout Xoshiro) {
    let (layout, parts) = ResNetSummary.makeLayout(configuration)
    self.init(configuration, ParameterBuffer(layout: layout, rng: &rng), parts)
  }

  init(_ c: ConvolutionalConfiguration, _ p: ParameterBuffer, _ parts: ([Block], Conv2D)) {
    configuration = c
    parameters = p
    (blocks, head) = parts
    ws.caches = blocks.map { _ in BlockCache() }
  }

  static func makeLayout(_ c: ConvolutionalConfiguration) -> (ParameterLayout, ([Block], Conv2D)) {
    precondition(
      c.height > 0 && c.width > 0 && c.channels > 0 && c.summaryDimension > 0 && !c.widths.isEmpty
        && c.widths.allSatisfy { $0 > 0 } && c.kernelSize % 2 == 1 && c.height >> c.widths.count > 0
        && c.width >> c.widths.count > 0, "invalid ResNetSummary shape")
    var layout = ParameterLayout()
    var blocks: [Block] = []
    var cin = c.channels
    for (l, w) in c.widths.enumerated() {
      blocks.append(
        Block(
          first: Conv2D("block\(l).conv1", kernelSize: c.kernelSize, inputChannels: cin, outputChannels: w, layout: &layout),
          second: Conv2D("block\(l).conv2", kernelSize: c.kernelSize, inputChannels: w, outputChannels: w, layout: &layout),
          projection: Conv2D("block\(l).projection", kernelSize: 1, inputChannels: cin, outputChannels: w, layout: &layout)))
      cin = w
    }
    let head = Conv2D("output", kernelSize: 1, inputChannels: cin, outputChannels: c.summaryDimension, layout: &layout)
    return (layout, (blocks, head))
  }

  public var inputDimension: Int { configuration.inputShape.count }
  public var outputDimension: Int { configuration.summaryDimension }
  public var architecture: SummaryArchitecture { .convolutional(configuration) }

  public func replica() -> any SummaryNetwork {
    ResNetSummary(configuration, parameters.sharingValues(), ResNetSummary.makeLayout(configuration).1)
  }

  /// The input shape of block `l` (`blocks.count`: the head's input).
  func shape(ofBlock l: Int) -> ImageShape {
    let c = configuration
    return ImageShape(height: c.height >> l, width: c.width >> l, channels: l == 0 ? c.channels : c.widths[l - 1])
  }

  public func forward(_ x: Matrix, training: Bool, rng: inout Xoshiro) -> Matrix {
    let c = configuration
    precondition(x.cols == inputDimension, "ResNetSummary expects rows of \(inputDimension) values, got \(x.cols)")
    let b = x.rows, p = UnsafePointer(parameters.values)
    ws.rows = b
    let first = ws.caches[0].input.ensure(b * inputDimension)
    x.withUnsafeBufferPointer { src in
      for i in 0..<(b * inputDimension) { first[i] = src[i].isFinite ? src[i] : 0 }
    }
    for (l, block) in blocks.enumerated() {
      let s = shape(ofBlock: l), cache = ws.caches[l], w = c.widths[l], n = b * s.pixels * w
      let input = UnsafePointer(cache.input.p)
      let hidden = cache.hidden.ensure(n), sum = cache.sum.ensure(n)
      block.first.forward(batch: b, height: s.height, width: s.width, x: input, parameters: p, y: hidden, cols: ws.cols)
      c.activation.forward(count: n, hidden, into: hidden, derivative: cache.hiddenGate.ensure(n))
      block.second.forward(batch: b, height: s.height, width: s.width, x: hidden, parameters: p, y: sum, cols: ws.cols)
      let projected = ws.g1.ensure(n)
      block.projection.forward(batch: b, height: s.height, width: s.width, x: input, parameters: p, y: projected, cols: ws.cols)
      Kernels.add(count: n, sum, projected, into: sum)
      c.activation.forward(count: n, sum, into: sum, derivative: cache.sumGate.ensure(n))
      let pooledShape = shape(ofBlock: l + 1)
      let pooled = (l + 1 < blocks.count ? ws.caches[l + 1].input : ws.top).ensure(b * pooledShape.count)
      Pooling.maxPool(
        batch: b, ImageShape(height: s.height, width: s.width, channels: w), x: sum, y: pooled,
        position: cache.position.ensure(b * pooledShape.count))
    }
    let s = shape(ofBlock: blocks.count), d = c.summaryDimension
    let headOut = ws.headOut.ensure(b * s.pixels * d)
    head.forward(batch: b, height: s.height, width: s.width, x: ws.top.p, parameters: p, y: headOut, cols: ws.cols)
    var out = Matrix(rows: b, cols: d)
    out.withUnsafeMutableBufferPointer {
      Pooling.globalAverage(
        batch: b, ImageShape(height: s.height, width: s.width, channels: d), x: headOut, y: $0.baseAddress!)
    }
    return out
  }

  public func backward(_ outputGradient: Matrix) {
    let c = configuration, b = ws.rows, d = c.summaryDimension
    precondition(outputGradient.rows == b && outputGradient.cols == d)
    let p = UnsafePointer(parameters.values), g = parameters.gradients
    let top = shape(ofBlock: blocks.count)
    let dHead = ws.g1.ensure(b * top.pixels * d)
    outputGradient.withUnsafeBufferPointer {
      Pooling.globalAverageBackward(
        batch: b, ImageShape(height: top.height, width: top.width, channels: d), dy: $0.baseAddress!, dx: dHead)
    }
    // `dOut`: ∂L/∂(output of block l), in g2 or g3 alternately.
    var dOut = ws.g2.ensure(b * top.count)
    head.backward(
      batch: b, height: top.height, width: top.width, x: ws.top.p, dy: dHead, parameters: p, gradients: g, dx: dOut,
      cols: ws.cols, patchGradient: ws.patchGradient)
    for l in stride(from: blocks.count - 1, through: 0, by: -1) {
      let block = blocks[l], cache = ws.caches[l], s = shape(ofBlock: l), w = c.widths[l], n = b * s.pixels * w
      // ∂L/∂sum: unpool, then through the activation.
      let dSum = ws.g1.ensure(n)
      Pooling.maxPoolBackward(
        batch: b, ImageShape(height: s.height, width: s.width, channels: w), dy: dOut, position: cache.position.p, dx: dSum)
      Kernels.mul(count: n, dSum, cache.sumGate.p, into: dSum)
      let dInput: UnsafeMutablePointer<Float>? =
        l > 0 ? (dOut == ws.g2.p ? ws.g3 : ws.g2).ensure(b * s.count) : nil
      let dHidden = ws.hiddenGradient.ensure(n)
      block.second.backward(
        batch: b, height: s.height, width: s.width, x: cache.hidden.p, dy: dSum, parameters: p, gradients: g,
        dx: dHidden, cols: ws.cols, patchGradient: ws.patchGradient)
      block.projection.backward(
        batch: b, height: s.height, width: s.width, x: cache.input.p, dy: dSum, parameters: p, gradients: g,
        dx: dInput, cols: ws.cols, patchGradient: ws.patchGradient)
      Kernels.mul(count: n, dHidden, cache.hiddenGate.p, into: dHidden)
      block.first.backward(
        batch: b, height: s.height, width: s.width, x: cache.input.p, dy: dHidden, parameters: p, gradients: g,
        dx: dInput, accumulate: true, cols: ws.cols, patchGradient: ws.patchGradient)
      if let dInput { dOut = dInput }
    }
  }
}

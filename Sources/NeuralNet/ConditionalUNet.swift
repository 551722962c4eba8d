// A conditional U-Net for image targets: the field-generation network of the random-field case study
// (Documentation/Methods.md §11.6).

import NumericCore

/// Shape of a `ConditionalUNet`.
public struct UNetConfiguration: Codable, Sendable, Equatable {
  /// The target images: rows are H·W·C values, channels last.
  public var height: Int
  public var width: Int
  public var channels: Int
  /// Width of the condition (θ), broadcast over the pixels as constant input channels; 0 for none.
  public var conditionDimension: Int
  /// Channels of each resolution stage, highest resolution first; stage s runs at H/2^s × W/2^s.
  public var widths: [Int]
  /// Residual blocks per stage, in the encoder and in the decoder.
  public var blocksPerStage: Int
  /// Upper bound on the groups of each group normalization (the largest divisor of the channels up to it).
  public var groups: Int
  public var timeEmbeddingDimension: Int
  public var fourierScale: Float
  public var activation: Activation

  public init(
    height: Int, width: Int, channels: Int = 1, conditionDimension: Int, widths: [Int]? = nil, blocksPerStage: Int = 2,
    groups: Int = 8, timeEmbeddingDimension: Int = 32, fourierScale: Float = 30, activation: Activation = .mish
  ) {
    (self.height, self.width, self.channels, self.conditionDimension) = (height, width, channels, conditionDimension)
    self.widths = widths ?? UNetConfiguration.defaultWidths(side: min(height, width))
    (self.blocksPerStage, self.groups) = (blocksPerStage, groups)
    (self.timeEmbeddingDimension, self.fourierScale, self.activation) = (timeEmbeddingDimension, fourierScale, activation)
  }

  /// The review's stages for an image of side S (32 channels each): 2 up to S = 8, 3 up to 32, 4 up to 64, 5 beyond.
  public static func defaultWidths(side: Int) -> [Int] {
    [Int](repeating: 32, count: side <= 8 ? 2 : side <= 32 ? 3 : side <= 64 ? 4 : 5)
  }

  /// Values per target row.
  public var inputDimension: Int { height * width * channels }

  /// Shapes that can be built: every stage's resolution is a whole number of pixels, sizes bounded.
  public var isValidShape: Bool {
    let s = widths.count
    return height > 0 && width > 0 && channels > 0 && conditionDimension >= 0 && s > 0 && s <= 8
      && widths.allSatisfy { $0 > 0 && $0 <= 4096 } && blocksPerStage > 0 && blocksPerStage <= 16 && groups > 0
      && height <= 4096 && width <= 4096 && channels <= 64 && conditionDimension <= 4096
      && height % (1 << (s - 1)) == 0 && width % (1 << (s - 1)) == 0
      && timeEmbeddingDimension >= 2 && timeEmbeddingDimension % 2 == 0 && timeEmbeddingDimension <= 4096
  }

  /// Groups of a group normalization over `c` channels: the largest divisor of `c` not above `groups`.
  func groupCount(_ c: Int) -> Int { (1...min(groups, c)).last { c % $0 == 0 }! }
}

/// Conditional U-Net on channels-last images, in the denoiser interface of the inference networks (input x and
/// output of the same shape, a time and a condition per row):
///
///     e = [t, sin(2π·s·t·w), cos(2π·s·t·w)];  shifts = e·W_film + b_film       (one shift vector per block)
///     h = conv₃ₓ₃([x, θ broadcast over the pixels])                             (C + dθ → w₀ channels)
///     encoder, stage s = 0 … S−1:  (s > 0: h = avgpool₂(h));  blocksPerStage × h = Res(h);  skip_s = h
///     middle:  h = Res(h)
///     decoder, stage s = S−1 … 0:  (s < S−1: h = upsample₂(h));  h = [h, skip_s];  blocksPerStage × h = Res(h)
///     y = conv₃ₓ₃(act(GroupNorm(h)))                                             (w₀ → C, zero-initialized)
///
///     Res(h) = conv₃ₓ₃(act(GN(conv₃ₓ₃(act(GN(h))) + shift_j(e)))) + P h          (P: 1 × 1 conv when the
///                                                                                 channels change, else identity)
///
/// Convolutions are `Conv2D` ("same" zero padding, im2col + GEMM), normalization `GroupNorm` (at most `groups`
/// groups), pooling and upsampling `Pooling`; every backward pass is the hand-written one of those layers, chained
/// in reverse. The time embedding's shift is added per channel after the first convolution of each block, as the
/// TimeMLP's FiLM shift. `backward` returns ∂L/∂θ (the broadcast channels' gradients summed over the pixels).
public final class ConditionalUNet: ConditionalNetwork, @unchecked Sendable {
  public let configuration: UNetConfiguration
  public let parameters: ParameterBuffer
  let layers: Layers
  let work = Workspace()
  /// One workspace per thread of `predict`.
  var inferenceWorkspaces: [Workspace] = []
  /// Rows per forward pass of `predict`.
  static let inferenceChunkRows = 32

  /// One residual block.
  struct Block: Sendable {
    let norm1: GroupNorm, conv1: Conv2D, norm2: GroupNorm, conv2: Conv2D, projection: Conv2D?
    let filmColumn: Int
    var inputs: Int { conv1.inputChannels }
    var outputs: Int { conv1.outputChannels }
  }

  /// The forward schedule; tensor 0 is the input with its condition channels, the last op writes the output.
  enum Op: Sendable {
    case inputConv(to: Int)
    case block(Int, from: Int, to: Int, level: Int)
    case pool(from: Int, to: Int, level: Int)  // level of the input
    case upsample(from: Int, to: Int, level: Int)  // level of the output
    case concat(Int, Int, to: Int, level: Int)
    case head(from: Int)
  }

  struct Layers: Sendable {
    let embedding: FourierEmbedding
    let film: Dense
    let inputConv: Conv2D
    let blocks: [Block]
    let outputNorm: GroupNorm
    let outputConv: Conv2D
    let ops: [Op]
    /// (level, channels) of every tensor.
    let tensors: [(level: Int, channels: Int)]
  }

  /// Caches of one block for backward.
  final class BlockCache: @unchecked Sendable {
    let xhat1 = ScratchBuffer(), rstd1 = ScratchBuffer(), gate1 = ScratchBuffer(), a1 = ScratchBuffer()
    let xhat2 = ScratchBuffer(), rstd2 = ScratchBuffer(), gate2 = ScratchBuffer(), a3 = ScratchBuffer()
  }

  final class Workspace: @unchecked Sendable {
    var rows = 0
    var values: [ScratchBuffer] = []
    var gradients: [ScratchBuffer] = []
    var caches: [BlockCache] = []
    let time = ScratchBuffer(), embedding = ScratchBuffer(), shifts = ScratchBuffer(), dShifts = ScratchBuffer()
    let dEmbedding = ScratchBuffer()
    let headXhat = ScratchBuffer(), headRstd = ScratchBuffer(), headGate = ScratchBuffer(), headA = ScratchBuffer()
    let t1 = ScratchBuffer(), t2 = ScratchBuffer(), output = ScratchBuffer()
    let cols = ScratchBuffer(), patchGradient = ScratchBuffer()
  }

  /// Builds the network with fresh parameters drawn from `rng`.
  public convenience init(configuration: UNetConfiguration, rng: inout Xoshiro) {
    let (layout, layers) = ConditionalUNet.makeLayout(configuration)
    self.init(configuration, ParameterBuffer(layout: layout, rng: &rng), layers)
  }

  init(_ c: UNetConfiguration, _ p: ParameterBuffer, _ layers: Layers) {
    configuration = c
    parameters = p
    self.layers = layers
  }

  /// Number of trainable parameters of a configuration, without building it.
  public static func parameterCount(_ configuration: UNetConfiguration) -> Int { makeLayout(configuration).0.count }

  static func makeLayout(_ c: UNetConfiguration) -> (ParameterLayout, Layers) {
    precondition(c.isValidShape, "invalid UNet shape")
    var layout = ParameterLayout()
    let emb = FourierEmbedding("time_embedding", embedDimension: c.timeEmbeddingDimension, scale: c.fourierScale,
                               layout: &layout)
    let stages = c.widths.count, nb = c.blocksPerStage
    // Block shapes in forward order: encoder, middle, decoder.
    var shapes: [(Int, Int)] = []
    var channels = c.widths[0]
    for s in 0..<stages {
      for _ in 0..<nb {
        shapes.append((channels, c.widths[s]))
        channels = c.widths[s]
      }
    }
    shapes.append((channels, channels))
    for s in stride(from: stages - 1, through: 0, by: -1) {
      channels += c.widths[s]
      for _ in 0..<nb {
        shapes.append((channels, c.widths[s]))
        channels = c.widths[s]
      }
    }
    let filmWidth = shapes.reduce(0) { $0 + $1.1 }
    let film = Dense("film", inputs: emb.outputs, outputs: filmWidth, initializer: .heNormal(fanIn: emb.outputs),
                     layout: &layout)
    let inputConv = Conv2D("input_conv", kernelSize: 3, inputChannels: c.channels + c.conditionDimension,
                           outputChannels: c.widths[0], layout: &layout)
    var blocks: [Block] = []
    var column = 0
    for (j, (cin, cout)) in shapes.enumerated() {
      blocks.append(Block(
        norm1: GroupNorm("blocks.\(j).norm1", channels: cin, groups: c.groupCount(cin), layout: &layout),
        conv1: Conv2D("blocks.\(j).conv1", kernelSize: 3, inputChannels: cin, outputChannels: cout, layout: &layout),
        norm2: GroupNorm("blocks.\(j).norm2", channels: cout, groups: c.groupCount(cout), layout: &layout),
        conv2: Conv2D("blocks.\(j).conv2", kernelSize: 3, inputChannels: cout, outputChannels: cout, layout: &layout),
        projection: cin == cout ? nil
          : Conv2D("blocks.\(j).projection", kernelSize: 1, inputChannels: cin, outputChannels: cout, layout: &layout),
        filmColumn: column))
      column += cout
    }
    let outputNorm = GroupNorm("output_norm", channels: channels, groups: c.groupCount(channels), layout: &layout)
    let outputConv = Conv2D("output_conv", kernelSize: 3, inputChannels: channels, outputChannels: c.channels,
                            layout: &layout)
    // A zero output convolution: the untrained network predicts 0.
    if let k = layout.tensors.firstIndex(where: { $0.name == "output_conv.kernel" }) { layout.initializers[k] = .zeros }
    // The schedule.
    var tensors: [(level: Int, channels: Int)] = [(0, c.channels + c.conditionDimension), (0, c.widths[0])]
    var ops: [Op] = [.inputConv(to: 1)]
    func add(_ level: Int, _ ch: Int) -> Int {
      tensors.append((level, ch))
      return tensors.count - 1
    }
    var current = 1, b = 0
    var skips: [Int] = []
    for s in 0..<stages {
      if s > 0 {
        let t = add(s, tensors[current].channels)
        ops.append(.pool(from: current, to: t, level: s - 1))
        current = t
      }
      for _ in 0..<nb {
        let t = add(s, blocks[b].outputs)
        ops.append(.block(b, from: current, to: t, level: s))
        (current, b) = (t, b + 1)
      }
      skips.append(current)
    }
    let middle = add(stages - 1, blocks[b].outputs)
    ops.append(.block(b, from: current, to: middle, level: stages - 1))
    (current, b) = (middle, b + 1)
    for s in stride(from: stages - 1, through: 0, by: -1) {
      if s < stages - 1 {
        let t = add(s, tensors[current].channels)
        ops.append(.upsample(from: current, to: t, level: s))
        current = t
      }
      let t = add(s, tensors[current].channels + tensors[skips[s]].channels)
      ops.append(.concat(current, skips[s], to: t, level: s))
      current = t
      for _ in 0..<nb {
        let t = add(s, blocks[b].outputs)
        ops.append(.block(b, from: current, to: t, level: s))
        (current, b) = (t, b + 1)
      }
    }
    ops.append(.head(from: current))
    return (layout, Layers(embedding: emb, film: film, inputConv: inputConv, blocks: blocks, outputNorm: outputNorm,
                           outputConv: outputConv, ops: ops, tensors: tensors))
  }

  public var inputDimension: Int { configuration.inputDimension }
  public var conditionDimension: Int { configuration.conditionDimension }

  public func replicaNetwork() -> any ConditionalNetwork {
    ConditionalUNet(configuration, parameters.sharingValues(), layers)
  }

  /// Pixels at a level.
  func pixels(_ level: Int) -> (height: Int, width: Int) {
    (configuration.height >> level, configuration.width >> level)
  }

  // MARK: Passes

  public func forward(_ x: Matrix, time: [Float], condition: Matrix?, training: Bool, rng: inout Xoshiro) -> Matrix {
    checkShapes(x, time: time, condition: condition, network: "UNet")
    var out = Matrix(rows: x.rows, cols: inputDimension)
    out.withUnsafeMutableBufferPointer { run(work, x: x, rows: 0..<x.rows, time: time, condition: condition, into: $0.baseAddress!) }
    return out
  }

  /// Inference pass without keeping the caches of the last `forward`: chunks of `inferenceChunkRows` rows spread
  /// over `Threading.count` threads, each with its own workspace and a single-threaded BLAS (small convolutions
  /// gain little from a threaded GEMM). Every chunk goes through the same operations whatever the thread count,
  /// so the output does not depend on it.
  public func predict(_ x: Matrix, time: [Float], condition: Matrix?) -> Matrix {
    checkShapes(x, time: time, condition: condition, network: "UNet")
    return chunkedInference(
      rows: x.rows, columns: inputDimension, chunkRows: ConditionalUNet.inferenceChunkRows,
      workspaces: &inferenceWorkspaces, make: Workspace.init
    ) { w, rows, out in self.run(w, x: x, rows: rows, time: time, condition: condition, into: out) }
  }

  /// Forward pass of rows `range` of `x` into the same rows of `out` ([x.rows, inputDimension]), keeping caches in
  /// `w`.
  func run(
    _ w: Workspace, x: Matrix, rows range: Range<Int>, time: [Float], condition: Matrix?, into out: UnsafeMutablePointer<Float>
  ) {
    let c = configuration, l = layers, b = range.count, p = UnsafePointer(parameters.values)
    w.rows = b
    while w.values.count < l.tensors.count { w.values.append(ScratchBuffer()); w.gradients.append(ScratchBuffer()) }
    while w.caches.count < l.blocks.count { w.caches.append(BlockCache()) }
    func size(_ t: Int) -> Int {
      let (h, wd) = pixels(l.tensors[t].level)
      return b * h * wd * l.tensors[t].channels
    }
    for t in 0..<l.tensors.count { w.values[t].ensure(size(t)) }
    // Time embedding and the blocks' shifts.
    let tp = w.time.ensure(b)
    for i in 0..<b { tp[i] = time[range.lowerBound + i] }
    let e = w.embedding.ensure(b * l.embedding.outputs), shifts = w.shifts.ensure(b * l.film.outputs)
    l.embedding.forward(rows: b, t: tp, parameters: p, e: e)
    l.film.forward(rows: b, x: e, ldx: l.embedding.outputs, parameters: p, y: shifts, ldy: l.film.outputs)
    // Input with the condition broadcast as constant channels.
    let cin = c.channels + c.conditionDimension, px = c.height * c.width, input = w.values[0].p
    x.withUnsafeBufferPointer { xs in
      for i in 0..<b {
        let row = xs.baseAddress! + (range.lowerBound + i) * inputDimension
        for q in 0..<px {
          let dst = input + (i * px + q) * cin
          for k in 0..<c.channels { dst[k] = row[q * c.channels + k] }
        }
      }
    }
    if let condition, c.conditionDimension > 0 {
      condition.withUnsafeBufferPointer { cs in
        for i in 0..<b {
          let row = cs.baseAddress! + (range.lowerBound + i) * c.conditionDimension
          for q in 0..<px {
            let dst = input + (i * px + q) * cin + c.channels
            for k in 0..<c.conditionDimension { dst[k] = row[k] }
          }
        }
      }
    }
    for op in l.ops {
      switch op {
      case .inputConv(let to):
        l.inputConv.forward(batch: b, height: c.height, width: c.width, x: input, parameters: p, y: w.values[to].p,
                            cols: w.cols)
      case .block(let j, let from, let to, let level):
        blockForward(j, w, level: level, x: w.values[from].p, y: w.values[to].p)
      case .pool(let from, let to, let level):
        let (h, wd) = pixels(level)
        Pooling.averagePool(batch: b, ImageShape(height: h, width: wd, channels: l.tensors[from].channels),
                            x: w.values[from].p, y: w.values[to].p)
      case .upsample(let from, let to, let level):
        let (h, wd) = pixels(level + 1)
        Pooling.upsample(batch: b, ImageShape(height: h, width: wd, channels: l.tensors[from].channels),
                         x: w.values[from].p, y: w.values[to].p)
      case .concat(let a, let s, let to, let level):
        let (h, wd) = pixels(level), ca = l.tensors[a].channels, cs = l.tensors[s].channels
        let va = w.values[a].p, vs = w.values[s].p, vt = w.values[to].p
        for r in 0..<(b * h * wd) {
          (vt + r * (ca + cs)).update(from: va + r * ca, count: ca)
          (vt + r * (ca + cs) + ca).update(from: vs + r * cs, count: cs)
        }
      case .head(let from):
        let ch = l.tensors[from].channels, n = b * px * ch
        let a = w.headA.ensure(n)
        l.outputNorm.forward(batch: b, pixels: px, x: w.values[from].p, parameters: p, y: a, xhat: w.headXhat.ensure(n),
                             rstd: w.headRstd.ensure(b * l.outputNorm.groups))
        c.activation.forward(count: n, a, into: a, derivative: w.headGate.ensure(n))
        l.outputConv.forward(batch: b, height: c.height, width: c.width, x: a, parameters: p,
                             y: out + range.lowerBound * inputDimension, cols: w.cols)
      }
    }
  }

  func blockForward(_ j: Int, _ w: Workspace, level: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let block = layers.blocks[j], cache = w.caches[j], act = configuration.activation, b = w.rows
    let p = UnsafePointer(parameters.values)
    let (h, wd) = pixels(level), px = h * wd, cin = block.inputs, cout = block.outputs
    let nIn = b * px * cin, nOut = b * px * cout
    let a1 = cache.a1.ensure(nIn)
    block.norm1.forward(batch: b, pixels: px, x: x, parameters: p, y: a1, xhat: cache.xhat1.ensure(nIn),
                        rstd: cache.rstd1.ensure(b * block.norm1.groups))
    act.forward(count: nIn, a1, into: a1, derivative: cache.gate1.ensure(nIn))
    let a2 = w.t1.ensure(nOut)
    block.conv1.forward(batch: b, height: h, width: wd, x: a1, parameters: p, y: a2, cols: w.cols)
    let shifts = w.shifts.p, fw = layers.film.outputs
    for i in 0..<b {
      let s = shifts + i * fw + block.filmColumn
      for q in 0..<px { Kernels.add(count: cout, a2 + (i * px + q) * cout, s, into: a2 + (i * px + q) * cout) }
    }
    let a3 = cache.a3.ensure(nOut)
    block.norm2.forward(batch: b, pixels: px, x: a2, parameters: p, y: a3, xhat: cache.xhat2.ensure(nOut),
                        rstd: cache.rstd2.ensure(b * block.norm2.groups))
    act.forward(count: nOut, a3, into: a3, derivative: cache.gate2.ensure(nOut))
    block.conv2.forward(batch: b, height: h, width: wd, x: a3, parameters: p, y: y, cols: w.cols)
    if let projection = block.projection {
      let skip = w.t2.ensure(nOut)
      projection.forward(batch: b, height: h, width: wd, x: x, parameters: p, y: skip, cols: w.cols)
      Kernels.add(count: nOut, y, skip, into: y)
    } else {
      Kernels.add(count: nOut, y, x, into: y)
    }
  }

  /// Accumulates parameter gradients for the last `forward` and returns ∂L/∂condition (nil without one).
  @discardableResult
  public func backward(_ outputGradient: Matrix) -> Matrix? {
    let c = configuration, l = layers, w = work, b = w.rows, p = UnsafePointer(parameters.values)
    let g = parameters.gradients
    precondition(outputGradient.rows == b && outputGradient.cols == inputDimension,
                 "output gradient must be [\(b), \(inputDimension)]")
    for t in 0..<l.tensors.count {
      let (h, wd) = pixels(l.tensors[t].level)
      w.gradients[t].ensure(b * h * wd * l.tensors[t].channels).update(
        repeating: 0, count: b * h * wd * l.tensors[t].channels)
    }
    let dShifts = w.dShifts.ensure(b * l.film.outputs)
    dShifts.update(repeating: 0, count: b * l.film.outputs)
    let px = c.height * c.width
    for op in l.ops.reversed() {
      switch op {
      case .head(let from):
        let ch = l.tensors[from].channels, n = b * px * ch
        let da = w.t1.ensure(n)
        outputGradient.withUnsafeBufferPointer {
          l.outputConv.backward(batch: b, height: c.height, width: c.width, x: w.headA.p, dy: $0.baseAddress!,
                                parameters: p, gradients: g, dx: da, cols: w.cols, patchGradient: w.patchGradient)
        }
        Kernels.mul(count: n, da, w.headGate.p, into: da)
        l.outputNorm.backward(batch: b, pixels: px, dy: da, xhat: w.headXhat.p, rstd: w.headRstd.p, parameters: p,
                              gradients: g, dx: da)
        Kernels.add(count: n, w.gradients[from].p, da, into: w.gradients[from].p)
      case .concat(let a, let s, let to, let level):
        let (h, wd) = pixels(level), ca = l.tensors[a].channels, cs = l.tensors[s].channels
        let ga = w.gradients[a].p, gs = w.gradients[s].p, gt = w.gradients[to].p
        for r in 0..<(b * h * wd) {
          Kernels.add(count: ca, ga + r * ca, gt + r * (ca + cs), into: ga + r * ca)
          Kernels.add(count: cs, gs + r * cs, gt + r * (ca + cs) + ca, into: gs + r * cs)
        }
      case .upsample(let from, let to, let level):
        let (h, wd) = pixels(level + 1), ch = l.tensors[from].channels, n = b * h * wd * ch
        let d = w.t1.ensure(n)
        Pooling.upsampleBackward(batch: b, ImageShape(height: h, width: wd, channels: ch), dy: w.gradients[to].p, dx: d)
        Kernels.add(count: n, w.gradients[from].p, d, into: w.gradients[from].p)
      case .pool(let from, let to, let level):
        let (h, wd) = pixels(level), ch = l.tensors[from].channels, n = b * h * wd * ch
        let d = w.t1.ensure(n)
        Pooling.averagePoolBackward(batch: b, ImageShape(height: h, width: wd, channels: ch), dy: w.gradients[to].p,
                                    dx: d)
        Kernels.add(count: n, w.gradients[from].p, d, into: w.gradients[from].p)
      case .block(let j, let from, let to, let level):
        blockBackward(j, w, level: level, x: w.values[from].p, dy: w.gradients[to].p, dx: w.gradients[from].p)
      case .inputConv(let to):
        l.inputConv.backward(batch: b, height: c.height, width: c.width, x: w.values[0].p, dy: w.gradients[to].p,
                             parameters: p, gradients: g, dx: c.conditionDimension > 0 ? w.gradients[0].p : nil,
                             cols: w.cols, patchGradient: w.patchGradient)
      }
    }
    // The time embedding's shifts.
    let e = w.embedding.p, de = w.dEmbedding.ensure(b * l.embedding.outputs)
    l.film.accumulateGradients(rows: b, x: e, ldx: l.embedding.outputs, dy: dShifts, ldy: l.film.outputs, gradients: g)
    l.film.inputGradient(rows: b, dy: dShifts, ldy: l.film.outputs, parameters: p, dx: de, ldx: l.embedding.outputs)
    l.embedding.accumulateGradients(rows: b, t: w.time.p, e: e, de: de, gradients: g)
    guard c.conditionDimension > 0 else { return nil }
    var dc = Matrix(rows: b, cols: c.conditionDimension)
    let cin = c.channels + c.conditionDimension, g0 = w.gradients[0].p
    dc.withUnsafeMutableBufferPointer { d in
      for i in 0..<b {
        for k in 0..<c.conditionDimension {
          var s: Float = 0
          for q in 0..<px { s += g0[(i * px + q) * cin + c.channels + k] }
          d[i * c.conditionDimension + k] = s
        }
      }
    }
    return dc
  }

  /// Adds ∂L/∂x of block `j` into `dx` and accumulates its parameter and shift gradients.
  func blockBackward(
    _ j: Int, _ w: Workspace, level: Int, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>
  ) {
    let block = layers.blocks[j], cache = w.caches[j], b = w.rows
    let p = UnsafePointer(parameters.values), g = parameters.gradients
    let (h, wd) = pixels(level), px = h * wd, cin = block.inputs, cout = block.outputs
    let nIn = b * px * cin, nOut = b * px * cout
    // The skip path.
    if let projection = block.projection {
      projection.backward(batch: b, height: h, width: wd, x: x, dy: dy, parameters: p, gradients: g, dx: dx,
                          accumulate: true, cols: w.cols, patchGradient: w.patchGradient)
    } else {
      Kernels.add(count: nOut, dx, dy, into: dx)
    }
    let d3 = w.t1.ensure(nOut)
    block.conv2.backward(batch: b, height: h, width: wd, x: cache.a3.p, dy: dy, parameters: p, gradients: g, dx: d3,
                         cols: w.cols, patchGradient: w.patchGradient)
    Kernels.mul(count: nOut, d3, cache.gate2.p, into: d3)
    block.norm2.backward(batch: b, pixels: px, dy: d3, xhat: cache.xhat2.p, rstd: cache.rstd2.p, parameters: p,
                         gradients: g, dx: d3)
    let ds = w.dShifts.p, fw = layers.film.outputs
    for i in 0..<b {
      ColumnSums.accumulate(rows: px, cols: cout, d3 + i * px * cout, ld: cout, into: ds + i * fw + block.filmColumn)
    }
    let d1 = w.t2.ensure(nIn)
    block.conv1.backward(batch: b, height: h, width: wd, x: cache.a1.p, dy: d3, parameters: p, gradients: g, dx: d1,
                         cols: w.cols, patchGradient: w.patchGradient)
    Kernels.mul(count: nIn, d1, cache.gate1.p, into: d1)
    block.norm1.backward(batch: b, pixels: px, dy: d1, xhat: cache.xhat1.p, rstd: cache.rstd1.p, parameters: p,
                         gradients: g, dx: d1)
    Kernels.add(count: nIn, dx, d1, into: dx)
  }
}

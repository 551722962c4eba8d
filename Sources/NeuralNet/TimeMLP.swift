// The review's default inference subnet: a residual MLP with Fourier time embedding and FiLM conditioning.

import Foundation
import NumericCore

/// Architecture of a `TimeMLP` (BayesFlow `TimeMLP` defaults, Documentation/Methods.md §10).
public struct TimeMLPConfiguration: Codable, Sendable, Equatable {
  /// Dimension of the network input and output (θ).
  public var inputDimension: Int
  /// Dimension of the condition (0 for none).
  public var conditionDimension: Int
  /// Hidden widths, one residual block each.
  public var widths: [Int] = [256, 256, 256, 256, 256]
  /// Fourier features: `timeEmbeddingDimension/2` frequencies, plus the identity when `includeTimeIdentity`.
  public var timeEmbeddingDimension = 32
  public var fourierScale: Float = 30
  public var includeTimeIdentity = true
  public var activation: Activation = .mish
  public var dropout: Float = 0.05
  /// FiLM with a scale γ(t) as well as the shift β(t): `a ← a ⊙ (1 + γ) + β`.
  public var filmUseScale = false
  public var layerNormEpsilon: Float = 1e-3
  public var kernelInitializer: KernelInitializer = .heNormal

  /// Kernel initialization of every dense layer.
  public enum KernelInitializer: String, Codable, Sendable { case heNormal, glorotUniform }

  public init(inputDimension: Int, conditionDimension: Int) {
    self.inputDimension = inputDimension
    self.conditionDimension = conditionDimension
  }

}

/// Residual MLP with Fourier time embedding, FiLM shift and post-LayerNorm (Documentation/Methods.md §10).
///
///     e = [t, sin(2π·30·t·w), cos(2π·30·t·w)]                                  (33 dims)
///     h = x_proj(x);  with a condition c: h = merge(mish(concat(h, c_proj(c))));  h = mish(h)
///     5 × ConditionalDenseBlock:  a = mish(W h + b);  a = dropout(a);  a = a + β_j(e);  h = LayerNorm(h + a)
///     y = out(h)                                                               (zero bias)
///
/// All β_j share one GEMM: `[β_1 … β_5] = e·W_film + b_film`. Parameters live in one `ParameterBuffer`.
/// `forward` keeps a cache for `backward`, which accumulates parameter gradients and returns the gradient of
/// the condition (for summary networks trained jointly). `predict` is an inference-only pass without caches,
/// split over rows on `Threading.count` threads.
public final class TimeMLP: @unchecked Sendable {
  public let configuration: TimeMLPConfiguration
  public let parameters: ParameterBuffer
  let embedding: FourierEmbedding
  let inputProjection: Dense
  let conditionProjection: Dense?
  let merge: Dense?
  let film: Dense
  let blocks: [Block]
  let outputProjection: Dense
  let dropout: Dropout
  let workspace = Workspace()
  var inferenceWorkspaces: [Workspace] = []

  /// One ConditionalDenseBlock: dense, FiLM columns, LayerNorm, optional residual projector.
  struct Block {
    let dense: Dense
    let norm: LayerNorm
    let projector: Dense?
    /// First column of this block's FiLM outputs (γ then β when scaled, else β).
    let filmColumn: Int
    var inputs: Int { dense.inputs }
    var width: Int { dense.outputs }
  }

  /// Builds the network with fresh parameters drawn from `rng`.
  public convenience init(configuration: TimeMLPConfiguration, rng: inout Xoshiro) {
    let (layout, parts) = TimeMLP.makeLayout(configuration)
    self.init(configuration: configuration, parameters: ParameterBuffer(layout: layout, rng: &rng), parts: parts)
  }

  /// Builds the network with parameters seeded by `seed`.
  public convenience init(configuration: TimeMLPConfiguration, seed: UInt64) {
    var rng = Xoshiro(seed: seed)
    self.init(configuration: configuration, rng: &rng)
  }

  typealias Parts = (FourierEmbedding, Dense, Dense?, Dense?, Dense, [Block], Dense)

  init(configuration: TimeMLPConfiguration, parameters: ParameterBuffer, parts: Parts) {
    self.configuration = configuration
    self.parameters = parameters
    (embedding, inputProjection, conditionProjection, merge, film, blocks, outputProjection) = parts
    dropout = Dropout(rate: configuration.dropout)
  }

  static func makeLayout(_ c: TimeMLPConfiguration) -> (ParameterLayout, Parts) {
    precondition(c.inputDimension > 0 && !c.widths.isEmpty && c.widths.allSatisfy { $0 > 0 }, "invalid TimeMLP shape")
    var layout = ParameterLayout()
    func kernelInit(_ fanIn: Int, _ fanOut: Int) -> ParameterInitializer {
      c.kernelInitializer == .heNormal ? .heNormal(fanIn: fanIn) : .glorotUniform(fanIn: fanIn, fanOut: fanOut)
    }
    let emb = FourierEmbedding(
      "time_embedding", embedDimension: c.timeEmbeddingDimension, scale: c.fourierScale,
      includeIdentity: c.includeTimeIdentity, layout: &layout)
    let w0 = c.widths[0]
    let xp = Dense("x_proj", inputs: c.inputDimension, outputs: w0, initializer: kernelInit(c.inputDimension, w0), layout: &layout)
    var cp: Dense?
    var mg: Dense?
    if c.conditionDimension > 0 {
      cp = Dense("c_proj", inputs: c.conditionDimension, outputs: w0, initializer: kernelInit(c.conditionDimension, w0), layout: &layout)
      mg = Dense("merge_proj", inputs: 2 * w0, outputs: w0, initializer: kernelInit(2 * w0, w0), layout: &layout)
    }
    let perBlock = c.widths.map { $0 * (c.filmUseScale ? 2 : 1) }
    let filmWidth = perBlock.reduce(0, +)
    let fl = Dense("film", inputs: emb.outputs, outputs: filmWidth, initializer: kernelInit(emb.outputs, filmWidth), layout: &layout)
    var blocks: [Block] = []
    var prev = w0
    var col = 0
    for (j, w) in c.widths.enumerated() {
      let d = Dense("blocks.\(j).dense", inputs: prev, outputs: w, initializer: kernelInit(prev, w), layout: &layout)
      let n = LayerNorm("blocks.\(j).norm", features: w, epsilon: c.layerNormEpsilon, layout: &layout)
      let p = prev == w ? nil : Dense("blocks.\(j).projector", inputs: prev, outputs: w, initializer: kernelInit(prev, w), layout: &layout)
      blocks.append(Block(dense: d, norm: n, projector: p, filmColumn: col))
      col += perBlock[j]
      prev = w
    }
    let out = Dense("output_projector", inputs: prev, outputs: c.inputDimension, initializer: kernelInit(prev, c.inputDimension), layout: &layout)
    return (layout, (emb, xp, cp, mg, fl, blocks, out))
  }

  /// Number of trainable parameters.
  public var parameterCount: Int { parameters.count }

  /// Number of trainable parameters of a configuration, without building it.
  public static func parameterCount(_ configuration: TimeMLPConfiguration) -> Int {
    makeLayout(configuration).0.count
  }

  /// A network reading the same parameter values, with its own gradients and caches (for another thread).
  public func replica() -> TimeMLP {
    let (_, parts) = TimeMLP.makeLayout(configuration)
    return TimeMLP(configuration: configuration, parameters: parameters.sharingValues(), parts: parts)
  }

  var filmWidth: Int { film.outputs }
  var maxWidth: Int { max(configuration.widths.max()!, 2 * configuration.widths[0]) }

  // MARK: Public passes

  /// Training or evaluation forward pass; keeps what `backward` needs.
  ///
  /// - Parameters: `x` [B, dθ]; `time` B values; `condition` [B, dc] or nil; `training` enables dropout,
  ///   whose masks are drawn from `rng`.
  /// - Returns: [B, dθ].
  public func forward(_ x: Matrix, time: [Float], condition: Matrix?, training: Bool, rng: inout Xoshiro) -> Matrix {
    checkShapes(x, time: time, condition: condition)
    var out = Matrix(rows: x.rows, cols: configuration.inputDimension)
    x.withUnsafeBufferPointer { xp in
      time.withUnsafeBufferPointer { tp in
        withOptionalPointer(condition) { cp in
          out.withUnsafeMutableBufferPointer { op in
            run(workspace, rows: x.rows, x: xp.baseAddress!, t: tp.baseAddress!, c: cp, out: op.baseAddress!,
                cache: true, training: training, rng: &rng)
          }
        }
      }
    }
    return out
  }

  /// Same as `forward(_:time:condition:training:rng:)` with the time as a [B, 1] matrix.
  public func forward(_ x: Matrix, time: Matrix, condition: Matrix?, training: Bool, rng: inout Xoshiro) -> Matrix {
    precondition(time.cols == 1, "time must be [B, 1]")
    return forward(x, time: time.storage, condition: condition, training: training, rng: &rng)
  }

  /// Backward pass for the last `forward`: accumulates parameter gradients into `parameters.gradients` and
  /// returns the gradient with respect to the condition (nil without a condition).
  @discardableResult
  public func backward(_ outputGradient: Matrix) -> Matrix? {
    let b = workspace.rows
    precondition(outputGradient.rows == b && outputGradient.cols == configuration.inputDimension,
                 "output gradient must be [\(b), \(configuration.inputDimension)]")
    var dc = configuration.conditionDimension > 0 && workspace.hasCondition
      ? Matrix(rows: b, cols: configuration.conditionDimension) : nil
    outputGradient.withUnsafeBufferPointer { gp in
      if dc != nil {
        dc!.withUnsafeMutableBufferPointer { runBackward(workspace, dOut: gp.baseAddress!, dCondition: $0.baseAddress!) }
      } else {
        runBackward(workspace, dOut: gp.baseAddress!, dCondition: nil)
      }
    }
    return dc
  }

  /// Inference-only forward pass (no dropout, no caches), over row tiles on `Threading.count` threads.
  ///
  /// Rows are cut into tiles of `inferenceTileRows` at fixed offsets and every tile runs with a single-threaded
  /// BLAS, so each row goes through GEMMs of the same shape at the same position whatever the thread count:
  /// the output is bit-identical for any `Threading.count`.
  public func predict(_ x: Matrix, time: [Float], condition: Matrix?) -> Matrix {
    checkShapes(x, time: time, condition: condition)
    return predictTiles(x, time: time, condition: condition, features: nil)
  }

  /// The tiled inference pass behind both `predict` methods.
  func predictTiles(_ x: Matrix, time: [Float], condition: Matrix?, features: ConditionFeatures?) -> Matrix {
    let rows = x.rows
    var out = Matrix(rows: rows, cols: configuration.inputDimension)
    let tile = TimeMLP.inferenceTileRows
    let tiles = (rows + tile - 1) / tile
    let chunks = max(1, min(Threading.count, tiles))
    while inferenceWorkspaces.count < chunks { inferenceWorkspaces.append(Workspace()) }
    let dx = configuration.inputDimension, dcn = configuration.conditionDimension
    x.withUnsafeBufferPointer { xp in
      time.withUnsafeBufferPointer { tp in
        withOptionalPointer(condition) { cp in
          withOptionalPointer(features?.table) { fp in
            (features?.index ?? []).withUnsafeBufferPointer { ip in
              out.withUnsafeMutableBufferPointer { op in
                let xs = xp.baseAddress!, ts = tp.baseAddress!, os = UnsafeSendablePointer(op.baseAddress!)
                let cs = cp.map { UncheckedSendableBox($0) }
                let fs = fp.map { UncheckedSendableBox(($0, ip.baseAddress!)) }
                withSingleThreadedBLAS(true) {
                  parallelFor(count: tiles, chunks: chunks) { chunk, range in
                    var unused = Xoshiro(seed: 0)
                    for k in range {
                      let lo = k * tile, n = min(tile, rows - lo)
                      self.run(self.inferenceWorkspaces[chunk], rows: n, x: xs + lo * dx, t: ts + lo,
                               c: cs.map { $0.value + lo * dcn }, features: fs.map { ($0.value.0, $0.value.1 + lo) },
                               out: os.base + lo * dx, cache: false, training: false, rng: &unused)
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    return out
  }

  /// Rows per inference tile (small enough to keep the activations in cache).
  static let inferenceTileRows = 256

  /// The part of the input stage that depends only on the condition, for rows that keep their condition over
  /// many evaluations (every step of a sampler).
  ///
  /// The merge layer reads `mish([x_proj(x), c_proj(c)])`, so its output splits into `mish(x_proj(x))·W_x` and
  /// `mish(c_proj(c))·W_c + b`; the second term is computed once per distinct condition (`table`, [K, w₀]) and
  /// each row adds its entry (`index`). A sampler evaluation then skips the condition projection, its activation
  /// and half of the merge product (the network's widest layer): about 13 % of the default network's
  /// multiply-adds. Results equal `predict(_:time:condition:)` up to float rounding (the merge product's sum is
  /// split in two).
  public struct ConditionFeatures: Sendable {
    /// [K, w₀]: `mish(c_proj(c_k))·W_c + b` for each distinct condition.
    public let table: Matrix
    /// The row of `table` each evaluated row uses.
    public let index: [Int32]

    /// The same table for other rows: row i uses `table[index[i]]`.
    public func indexed(_ index: [Int]) -> ConditionFeatures {
      precondition(index.allSatisfy { $0 >= 0 && $0 < table.rows }, "condition index out of range")
      return ConditionFeatures(table: table, index: index.map { Int32($0) })
    }
  }

  /// Condition features for rows whose conditions are `conditions[index[i]]` (`conditions` [K, d_c]).
  public func conditionFeatures(distinct conditions: Matrix, index: [Int]) -> ConditionFeatures {
    guard let cp = conditionProjection, let mg = merge else {
      preconditionFailure("condition features need a TimeMLP with a condition")
    }
    precondition(conditions.cols == configuration.conditionDimension, "conditions must have \(configuration.conditionDimension) columns")
    precondition(index.allSatisfy { $0 >= 0 && $0 < conditions.rows }, "condition index out of range")
    let k = conditions.rows, w0 = configuration.widths[0], dc = configuration.conditionDimension
    var projected = Matrix(rows: k, cols: w0)
    var table = Matrix(rows: k, cols: w0)
    let p = UnsafePointer(parameters.values)
    conditions.withUnsafeBufferPointer { cpb in
      projected.withUnsafeMutableBufferPointer { pp in
        cp.forward(rows: k, x: cpb.baseAddress!, ldx: dc, parameters: p, y: pp.baseAddress!, ldy: w0)
        activate(count: k * w0, pp.baseAddress!, derivative: nil)
      }
    }
    projected.withUnsafeBufferPointer { pp in
      table.withUnsafeMutableBufferPointer { tp in
        let t = tp.baseAddress!
        for r in 0..<k { (t + r * w0).update(from: p + mg.biasOffset!, count: w0) }
        // The condition half of the merge kernel: rows w₀..<2w₀ of W [2w₀, w₀].
        BLAS.sgemm(transA: false, transB: false, m: k, n: w0, k: w0, alpha: 1, a: pp.baseAddress!, lda: w0,
                   b: p + mg.kernelOffset + w0 * w0, ldb: w0, beta: 1, c: t, ldc: w0)
      }
    }
    return ConditionFeatures(table: table, index: index.map { Int32($0) })
  }

  /// Inference with condition features (see `ConditionFeatures`), split over row tiles and threads as
  /// `predict(_:time:condition:)`.
  public func predict(_ x: Matrix, time: [Float], conditionFeatures f: ConditionFeatures) -> Matrix {
    precondition(x.cols == configuration.inputDimension, "TimeMLP expects \(configuration.inputDimension) inputs, got \(x.cols)")
    precondition(time.count == x.rows && f.index.count == x.rows, "one time value and one condition index per row")
    precondition(f.table.cols == configuration.widths[0], "condition features of another network")
    if x.rows == 0 { return Matrix(rows: 0, cols: configuration.inputDimension) }
    return predictTiles(x, time: time, condition: nil, features: f)
  }

  func checkShapes(_ x: Matrix, time: [Float], condition: Matrix?) {
    precondition(x.cols == configuration.inputDimension, "TimeMLP expects \(configuration.inputDimension) inputs, got \(x.cols)")
    precondition(time.count == x.rows, "one time value per row expected")
    if let c = condition {
      precondition(c.rows == x.rows && c.cols == configuration.conditionDimension,
                   "condition must be [\(x.rows), \(configuration.conditionDimension)]")
    } else {
      precondition(configuration.conditionDimension == 0, "this TimeMLP needs a condition")
    }
  }
}

/// Calls `body` with the matrix's base pointer, or nil.
@inline(__always)
func withOptionalPointer<R>(_ m: Matrix?, _ body: (UnsafePointer<Float>?) -> R) -> R {
  guard let m else { return body(nil) }
  return m.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Runs `body` with the BLAS limited to one thread (when `enabled`), restoring the setting afterwards.
func withSingleThreadedBLAS<R>(_ enabled: Bool, _ body: () -> R) -> R {
  guard enabled else { return body() }
  let saved = BLAS.threads
  BLAS.threads = 1
  defer { BLAS.threads = saved }
  return body()
}

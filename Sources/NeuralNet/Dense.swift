// Fully connected layer y = x·W + b over a batch of rows.

import NumericCore

/// Dense (affine) layer.
///
/// Forward `y = x·W + b` with `x` [B, in], `W` [in, out] (row-major, Keras kernel layout), `b` [out].
/// Backward `dW += xᵀ·dy`, `db += Σ_rows dy`, `dx = dy·Wᵀ`. Every product is one GEMM.
/// Init: He normal by default (`he_normal`, as the review's TimeMLP), bias zero.
public struct Dense: Sendable, Equatable {
  public let inputs: Int
  public let outputs: Int
  /// Offset of `W` in the parameter buffer.
  public let kernelOffset: Int
  /// Offset of `b`, or nil without bias.
  public let biasOffset: Int?

  /// Registers `name.kernel` [in, out] and `name.bias` [out] in `layout`.
  public init(
    _ name: String, inputs: Int, outputs: Int, useBias: Bool = true,
    initializer: ParameterInitializer? = nil, layout: inout ParameterLayout
  ) {
    self.inputs = inputs
    self.outputs = outputs
    kernelOffset = layout.add(
      name + ".kernel", shape: [inputs, outputs], initializer: initializer ?? .heNormal(fanIn: inputs))
    biasOffset = useBias ? layout.add(name + ".bias", shape: [outputs], initializer: .zeros) : nil
  }

  /// Number of parameters.
  public var parameterCount: Int { inputs * outputs + (biasOffset == nil ? 0 : outputs) }

  /// `y = x·W (+ b)`; `x` has row stride `ldx`, `y` row stride `ldy`. With `addBias == false` the bias is left
  /// for a fused pass of the caller.
  func forward(
    rows: Int, x: UnsafePointer<Float>, ldx: Int, parameters p: UnsafePointer<Float>,
    y: UnsafeMutablePointer<Float>, ldy: Int, addBias: Bool = true
  ) {
    var beta: Float = 0
    if addBias, let bo = biasOffset {
      for r in 0..<rows { (y + r * ldy).update(from: p + bo, count: outputs) }
      beta = 1
    }
    BLAS.sgemm(
      transA: false, transB: false, m: rows, n: outputs, k: inputs, alpha: 1, a: x, lda: ldx,
      b: p + kernelOffset, ldb: outputs, beta: beta, c: y, ldc: ldy)
  }

  /// `dW += xᵀ·dy` and, when `biasFromRows` is true, `db += Σ_rows dy`.
  func accumulateGradients(
    rows: Int, x: UnsafePointer<Float>, ldx: Int, dy: UnsafePointer<Float>, ldy: Int,
    gradients g: UnsafeMutablePointer<Float>, biasFromRows: Bool = true
  ) {
    BLAS.sgemm(
      transA: true, transB: false, m: inputs, n: outputs, k: rows, alpha: 1, a: x, lda: ldx, b: dy, ldb: ldy,
      beta: 1, c: g + kernelOffset, ldc: outputs)
    if biasFromRows, let bo = biasOffset { ColumnSums.accumulate(rows: rows, cols: outputs, dy, ld: ldy, into: g + bo) }
  }

  /// `dx = dy·Wᵀ` (or `dx += dy·Wᵀ` when `accumulate`).
  func inputGradient(
    rows: Int, dy: UnsafePointer<Float>, ldy: Int, parameters p: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, ldx: Int, accumulate: Bool = false
  ) {
    BLAS.sgemm(
      transA: false, transB: true, m: rows, n: inputs, k: outputs, alpha: 1, a: dy, lda: ldy,
      b: p + kernelOffset, ldb: outputs, beta: accumulate ? 1 : 0, c: dx, ldc: ldx)
  }

  // MARK: Matrix convenience (tests, small uses)

  /// `x·W + b` for a batch.
  public func forward(_ x: Matrix, parameters: ParameterBuffer) -> Matrix {
    precondition(x.cols == inputs, "Dense expects \(inputs) inputs, got \(x.cols)")
    var y = Matrix(rows: x.rows, cols: outputs)
    x.withUnsafeBufferPointer { xp in
      y.withUnsafeMutableBufferPointer { yp in
        forward(rows: x.rows, x: xp.baseAddress!, ldx: inputs, parameters: parameters.values,
                y: yp.baseAddress!, ldy: outputs)
      }
    }
    return y
  }

  /// Accumulates parameter gradients into `parameters.gradients` and returns `dx`.
  public func backward(input x: Matrix, outputGradient dy: Matrix, parameters: ParameterBuffer) -> Matrix {
    var dx = Matrix(rows: x.rows, cols: inputs)
    x.withUnsafeBufferPointer { xp in
      dy.withUnsafeBufferPointer { dp in
        accumulateGradients(rows: x.rows, x: xp.baseAddress!, ldx: inputs, dy: dp.baseAddress!, ldy: outputs,
                            gradients: parameters.gradients)
        dx.withUnsafeMutableBufferPointer { dxp in
          inputGradient(rows: x.rows, dy: dp.baseAddress!, ldy: outputs, parameters: parameters.values,
                        dx: dxp.baseAddress!, ldx: inputs)
        }
      }
    }
    return dx
  }
}

/// Column sums of a strided block, accumulated: `g[j] += Σ_i a[i, j]`.
enum ColumnSums {
  static func accumulate(rows: Int, cols: Int, _ a: UnsafePointer<Float>, ld: Int, into g: UnsafeMutablePointer<Float>) {
    forEachChunk(cols) { j, n in
      var acc = V8(repeating: 0)
      for i in 0..<rows { acc += SIMDLoad.load(a + i * ld + j, n) }
      SIMDLoad.store(acc + SIMDLoad.load(g + j, n), g + j, n)
    }
  }
}

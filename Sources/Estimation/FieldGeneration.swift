// Conditional field generation: estimators whose target is an image and whose condition is θ (learning the
// simulator of an image-valued model), and the classifier two-sample test of generated fields
// (Documentation/Methods.md §11.6).

import Diffusion
import Foundation
import NeuralNet
import NumericCore

extension PosteriorEstimator {
  /// A new, untrained field generator: a diffusion, flow-matching or discrete consistency model of images of
  /// `shape` (rows of H·W·C values, channels last) given θ rows of `conditionDimension` values, on a
  /// `ConditionalUNet` (θ broadcast over the pixels as constant channels). It trains and samples like any
  /// estimator, with the image as the target and θ as the condition: `train(.simulations(parameters: fields,
  /// data: θ), …)`, then `generateFields(conditions:count:…)`. Fields and θ are z-scored per value like θ and x
  /// of a posterior estimator; there is no constraint transform on the fields.
  public static func fieldGenerator(
    shape: ImageShape, conditionDimension: Int, settings: EstimatorSettings = EstimatorSettings(),
    widths: [Int]? = nil, blocksPerStage: Int = 2, seed: UInt64 = 0
  ) throws -> PosteriorEstimator {
    let unet = UNetConfiguration(
      height: shape.height, width: shape.width, channels: shape.channels, conditionDimension: conditionDimension,
      widths: widths, blocksPerStage: blocksPerStage)
    guard unet.isValidShape else {
      throw EstimatorError.unsupported(
        "a U-Net of \(unet.widths.count) stages needs image sides divisible by \(1 << (unet.widths.count - 1)), got "
          + "\(shape.height) × \(shape.width)")
    }
    return try PosteriorEstimator(
      parameterDimension: shape.count, conditionDimension: conditionDimension, settings: settings, unet: unet,
      seed: seed)
  }

  /// The U-Net's architecture when this estimator generates images (nil for a posterior estimator).
  public var fieldArchitecture: UNetConfiguration? { (model.network as? ConditionalUNet)?.configuration }

  /// Draws `count` images for every θ row of `conditions` [R, dθ] (one matrix [count, H·W·C] per row), with the
  /// model's sampler unless `sampler` is given. Batches and random streams as `sample(observations:count:…)`.
  public func generateFields(
    conditions: Matrix, count: Int, sampler: SamplerKind? = nil, options: SamplerOptions = SamplerOptions(),
    seed: UInt64 = 0, maxBatchRows: Int = 4096
  ) throws -> PosteriorSamples {
    guard fieldArchitecture != nil else {
      throw EstimatorError.wrongModelKind("this model is a posterior estimator, not a field generator")
    }
    return try sample(observations: conditions, count: count, sampler: sampler, options: options, seed: seed,
                      maxBatchRows: maxBatchRows)
  }
}

/// Settings of the classifier two-sample test of generated images.
public struct FieldClassifierSettings: Sendable, Equatable {
  /// Passes over the training images (the review: 500).
  public var epochs = 50
  public var batchSize = 16
  /// AdamW learning rate and weight decay (the review: 1e-4 and 1e-4).
  public var learningRate: Float = 1e-4
  public var weightDecay: Float = 1e-4
  public var seed: UInt64 = 0
  public init(epochs: Int = 50, batchSize: Int = 16, seed: UInt64 = 0) {
    (self.epochs, self.batchSize, self.seed) = (epochs, batchSize, seed)
  }
}

/// The result of the classifier two-sample test of generated images.
public struct FieldClassifierResult: Sendable, Codable, Equatable {
  /// The highest validation accuracy over the epochs (the review's reported C2ST; it selects the epoch on the
  /// same images, so it leans upward).
  public var maximumAccuracy: Double
  /// The validation accuracy after the last epoch.
  public var finalAccuracy: Double
  /// The epoch (from 1) of the highest accuracy.
  public var bestEpoch: Int
  /// Validation accuracy after each epoch.
  public var accuracies: [Double]
  public var trainingImages: Int
  public var validationImages: Int
  public var seconds: Double
}

/// Classifier two-sample test of images generated for given conditions: a convolutional classifier (the
/// ResNetSummary with one output, a logit) learns to tell simulated images (label 1) from generated ones (label 0),
/// each shown with its θ as constant channels ([image, θ broadcast] with C + dθ channels). Binary cross-entropy from
/// the logit, AdamW, mini-batches of `batchSize`; the accuracy on a validation set of other (simulated, generated)
/// pairs is recorded after every epoch. 0.5 means the classifier cannot tell them apart.
public enum FieldClassifierTest {
  /// Runs the test. `simulated` and `generated` are [n, H·W·C] images for the θ rows of `conditions` [n, dθ]
  /// (one simulated and one generated image per θ); the `validation` triple likewise, for other θ.
  public static func run(
    shape: ImageShape, simulated: Matrix, generated: Matrix, conditions: Matrix,
    validation: (simulated: Matrix, generated: Matrix, conditions: Matrix), settings: FieldClassifierSettings
  ) throws -> FieldClassifierResult {
    let start = Date()
    for (name, m) in [("simulated", simulated), ("generated", generated), ("validation simulated", validation.simulated),
                      ("validation generated", validation.generated)] where m.cols != shape.count {
      throw EstimatorError.shapeMismatch("\(name) images have \(m.cols) values, expected \(shape.count)")
    }
    guard simulated.rows == generated.rows, simulated.rows == conditions.rows, simulated.rows > 0,
          validation.simulated.rows == validation.generated.rows, validation.simulated.rows == validation.conditions.rows,
          validation.simulated.rows > 0, conditions.cols == validation.conditions.cols
    else { throw EstimatorError.shapeMismatch("one simulated and one generated image per θ row, in both sets") }
    guard settings.epochs > 0, settings.batchSize > 0 else {
      throw EstimatorError.unsupported("the classifier needs at least one epoch and a positive batch size")
    }
    let train = inputs(shape, simulated, generated, conditions)
    let valid = inputs(shape, validation.simulated, validation.generated, validation.conditions)
    let channels = shape.channels + conditions.cols
    var rng = Xoshiro(seed: settings.seed, stream: 0x4332_5354)
    let net = ResNetSummary(
      configuration: ConvolutionalConfiguration(
        height: shape.height, width: shape.width, channels: channels, summaryDimension: 1),
      rng: &rng)
    let optimizer = AdamOptimizer(
      configuration: AdamConfiguration(weightDecay: settings.weightDecay, clipping: .none))
    var accuracies: [Double] = []
    let n = train.x.rows
    for _ in 0..<settings.epochs {
      let order = rng.permutation(n)
      for b0 in stride(from: 0, to: n, by: settings.batchSize) {
        let idx = Array(order[b0..<min(n, b0 + settings.batchSize)])
        let x = train.x.gatherRows(idx)
        net.parameters.zeroGradients()
        let logits = net.forward(x, training: true, rng: &rng)
        var g = Matrix(rows: idx.count, cols: 1)
        for (r, i) in idx.enumerated() {
          // ∂/∂z of the mean binary cross-entropy: (σ(z) − y)/B.
          g[r, 0] = (1 / (1 + exp(-logits[r, 0])) - train.y[i]) / Float(idx.count)
        }
        net.backward(g)
        optimizer.update([net.parameters], learningRate: settings.learningRate)
      }
      accuracies.append(accuracy(net, valid))
    }
    let best = accuracies.indices.max { accuracies[$0] < accuracies[$1] }!
    return FieldClassifierResult(
      maximumAccuracy: accuracies[best], finalAccuracy: accuracies.last!, bestEpoch: best + 1, accuracies: accuracies,
      trainingImages: n, validationImages: valid.x.rows, seconds: Date().timeIntervalSince(start))
  }

  /// Classifier inputs [2n, H·W·(C + dθ)] (simulated rows first) and their labels.
  static func inputs(_ shape: ImageShape, _ simulated: Matrix, _ generated: Matrix, _ theta: Matrix)
    -> (x: Matrix, y: [Float])
  {
    let n = simulated.rows, c = shape.channels, d = theta.cols, px = shape.pixels, w = px * (c + d)
    var x = Matrix(rows: 2 * n, cols: w)
    x.withUnsafeMutableBufferPointer { out in
      for (k, images) in [simulated, generated].enumerated() {
        images.withUnsafeBufferPointer { src in
          theta.withUnsafeBufferPointer { t in
            for r in 0..<n {
              for q in 0..<px {
                let o = (k * n + r) * w + q * (c + d)
                for j in 0..<c { out[o + j] = src[(r * px + q) * c + j] }
                for j in 0..<d { out[o + c + j] = t[r * d + j] }
              }
            }
          }
        }
      }
    }
    return (x, [Float](repeating: 1, count: n) + [Float](repeating: 0, count: n))
  }

  /// Fraction of rows whose logit has the sign of their label.
  static func accuracy(_ net: ResNetSummary, _ data: (x: Matrix, y: [Float])) -> Double {
    var unused = Xoshiro(seed: 0)
    var correct = 0
    for b0 in stride(from: 0, to: data.x.rows, by: 256) {
      let rows = b0..<min(data.x.rows, b0 + 256)
      let logits = net.forward(data.x.rows(rows), training: false, rng: &unused)
      for (r, i) in rows.enumerated() where (logits[r, 0] > 0) == (data.y[i] > 0.5) { correct += 1 }
    }
    return Double(correct) / Double(data.x.rows)
  }
}

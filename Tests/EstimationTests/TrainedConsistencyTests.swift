import Consistency
import Diagnostics
import Foundation
import Testing
import Tasks
import Estimation
import NeuralNet
import NumericCore

/// The discrete consistency objective evaluates teacher and student with the same dropout masks, so that both sides
/// of the consistency condition are one sub-network: its loss equals the loss recomputed with two training-mode
/// passes from one generator state, and differs from the loss against a teacher without dropout.
@Suite struct ConsistencyObjectiveDropoutTests {
  @Test func teacherReplaysTheStudentsDropoutMasks() throws {
    let (b, d, dc) = (32, 2, 3)
    var net = TimeMLPConfiguration(inputDimension: d, conditionDimension: dc)
    net.widths = [16, 16]
    net.dropout = 0.3
    let config = ConsistencyConfiguration(totalSteps: 100)
    let est = try PosteriorEstimator(
      parameterDimension: d, conditionDimension: dc,
      settings: EstimatorSettings(method: .consistency, consistency: config), network: net, seed: 4)
    let model = est.model
    var rng = Xoshiro(seed: 99)
    let batch = TrainingBatch(parameters: rng.normalMatrix(rows: b, cols: d), conditions: rng.normalMatrix(rows: b, cols: dc))
    let objective = try ConsistencyObjective(configuration: config, batchSize: b)
    var r1 = Xoshiro(seed: 7)
    let loss = Double(objective.lossAndGradient(model: model, batch: batch, rng: &r1))

    // The same draws in the objective's order (first step of the curriculum; no summary network).
    var r2 = Xoshiro(seed: 7)
    let noise = r2.normalMatrix(rows: b, cols: d)
    let ct = try consistencyTrainingInputs(theta: batch.parameters, noise: noise, step: 0, configuration: config, rng: &r2)
    var masks = r2
    let teacher = model.network.forward(
      ct.teacherInput, time: ct.teacherTimeInput, condition: batch.conditions, training: true, rng: &masks)
    let student = model.network.forward(
      ct.studentInput, time: ct.studentTimeInput, condition: batch.conditions, training: true, rng: &r2)
    let shared = try consistencyLoss(ct, studentOutput: student, teacherOutput: teacher).loss
    let plain = model.network.predict(ct.teacherInput, time: ct.teacherTimeInput, condition: batch.conditions)
    let unmatched = try consistencyLoss(ct, studentOutput: student, teacherOutput: plain).loss
    #expect(abs(loss - shared) <= 1e-5 * max(1, abs(shared)), "objective \(loss), shared masks \(shared)")
    #expect(abs(loss - unmatched) > 1e-3 * max(1, abs(unmatched)), "objective \(loss), teacher without dropout \(unmatched)")
  }
}

/// A trained consistency model on sbibm two_moons at 10⁵ simulations reaches C2ST ≤ 0.60 (issue 6), scored with
/// 10,000 draws against the sbibm reference posterior of observation 1.
///
/// To fit about a minute of one core in release, the TimeMLP is smaller than the default (3 × 128 instead of
/// 5 × 256, no dropout) and trains 20 epochs (15,620 steps of 128, AdamW, peak learning rate 1e-3, cosine decay).
/// Measured: C2ST 0.542 (2 threads, training 50 s) and 0.558 (1 thread, training 114 s on a machine under load
/// ≈ 5 on 2 cores); 10 epochs reach only 0.70, 15 epochs 0.66, 25 epochs 0.54. The stable consistency model with the
/// same network and 20 epochs reached 0.673, so it is not held to the bar here (BENCHMARKS.md). About 95 s on the
/// 2-core machine, so it is opt-in (DIFFSBI_SLOW_TESTS=1) to keep `make test` under 8 minutes; consistency training
/// on a conjugate posterior stays in the default run (OtherMethodsTests).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["DIFFSBI_SLOW_TESTS"] != nil,
                             "a trained accuracy check of about 95 s: DIFFSBI_SLOW_TESTS=1"))
struct TrainedConsistencyTests {
  @Test func consistencyModelOnTwoMoonsReachesC2ST060() throws {
    let task = try TaskRegistry.task(named: "two_moons")
    let (theta, x) = task.sampleJoint(count: 100_000, seed: 1)
    var net = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 2)
    net.widths = [128, 128, 128]
    net.dropout = 0
    let est = try PosteriorEstimator(
      parameterDimension: 2, conditionDimension: 2, settings: EstimatorSettings(method: .consistency), network: net,
      constraints: [.interval(lower: -1, upper: 1), .interval(lower: -1, upper: 1)], seed: 1)  // U(−1, 1)² prior
    var cfg = TrainingConfiguration()
    cfg.epochs = 20
    cfg.batchSize = 128
    cfg.learningRate = 1e-3
    cfg.optimizer = .adamW
    cfg.seed = 1
    try est.train(.simulations(parameters: theta, data: x), configuration: cfg)
    let obs = try task.observation(1)
    let draws = try est.sample(observations: Matrix(rows: 1, cols: 2, storage: obs), count: 10_000, seed: 2)
    #expect(draws.evaluations == 11 && draws.nonFiniteRows == 0)
    let score = try c2st(reference: task.referencePosteriorSamples(1), samples: finiteRows(draws.samples[0]), seed: 1)
    print("two_moons consistency model, 10^5 simulations: C2ST \(score)")
    #expect(score <= 0.60)
  }
}

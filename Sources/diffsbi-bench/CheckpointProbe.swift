// A small, killable training run for the crash-safety test (Tests/EstimationTests/CheckpointKillTests).
//
//   diffsbi-bench checkpoint-probe --out FILE [--dir CHECKPOINT_DIR] [--mode offline|online|shards] [--threads N]
//                                  [--every K]
//
// Trains a small diffusion estimator on θ ~ N(0, I₂), x = θ + ½ε (fixed seeds; offline: 3000 pairs in memory,
// shards: the same pairs as four shards of 750), checkpointing every K steps
// into CHECKPOINT_DIR (resuming from it when it holds a checkpoint), prints "step N" after every step and
// finally writes the weights followed by the EMA weights (raw little-endian Float32) to FILE atomically.

import DiffusionSBI
import Foundation

func runCheckpointProbe(out: String, directory: String?, mode: TrainingMode, every: Int) {
  do {
    var net = TimeMLPConfiguration(inputDimension: 2, conditionDimension: 2)
    net.widths = [64, 64]
    net.dropout = 0
    let est = try PosteriorEstimator(parameterDimension: 2, conditionDimension: 2, network: net, seed: 11)
    var cfg = TrainingConfiguration()
    cfg.epochs = 6
    cfg.batchSize = 64
    cfg.stepsPerEpoch = 50
    cfg.useEMA = true
    cfg.seed = 5
    cfg.optimizer = .adamW
    cfg.learningRate = 1e-3
    let progress: (TrainingProgress) -> Void = { p in
      FileHandle.standardOutput.write(Data("step \(p.step + 1)\n".utf8))
    }
    let checkpoint = directory.map { CheckpointOptions(directory: $0, everySteps: every) }
    let simulator: BatchSimulator = { n, rng in
      let theta = rng.normalMatrix(rows: n, cols: 2)
      var x = theta
      x.add(rng.normalMatrix(rows: n, cols: 2), scale: 0.5)
      return (theta, x)
    }
    if mode == .online {
      cfg.validationSimulations = 256
      try est.train(.simulator(simulator), configuration: cfg, checkpoint: checkpoint, resume: true, progress: progress)
    } else {
      cfg.validationFraction = 0.1
      var rng = Xoshiro(seed: 3)
      let (theta, simulated) = try simulator(3000, &rng)
      let x = simulated!
      let shards = (0..<4).map { k in
        let r = (k * 750)..<((k + 1) * 750)
        return TrainingShard(name: "shard\(k)") { (theta.rows(r), x.rows(r)) }
      }
      let data: TrainingData = mode == .shards ? .shards(shards) : .simulations(parameters: theta, data: x)
      try est.train(data, configuration: cfg, checkpoint: checkpoint, resume: true, progress: progress)
    }
    var values = est.model.buffers.flatMap(\.valueArray)
    values += (est.emaWeights ?? []).flatMap { $0 }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * 4)
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
    try AtomicFile.write(bytes, to: out)
  } catch {
    FileHandle.standardError.write(Data("checkpoint-probe: \(error)\n".utf8))
    exit(1)
  }
}

// `diffsbi-bench coupling`: time per training batch of the optimal-transport couplings of flow matching (Sinkhorn,
// conditional, partial and exact) against drawing independent noise, with a TimeMLP forward + backward pass as the
// reference cost.
//
//   diffsbi-bench coupling

import DiffusionSBI
import Foundation

func couplingTiming() throws {
  for (n, d) in [(128, 2), (128, 10), (512, 2), (512, 10)] {
    var rng = Xoshiro(seed: 17)
    let x1 = rng.normalMatrix(rows: n, cols: d)
    let cond = rng.normalMatrix(rows: n, cols: 8)
    func time(_ label: String, _ reps: Int, _ body: (inout Xoshiro) throws -> Void) rethrows {
      try body(&rng)
      let start = DispatchTime.now().uptimeNanoseconds
      for _ in 0..<reps { try body(&rng) }
      let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(reps)
      print("B=\(n) d=\(d) \(label): \(String(format: "%.3f", ms)) ms/batch")
    }
    var cfg = TimeMLPConfiguration(inputDimension: d, conditionDimension: 8)
    cfg.dropout = 0
    let net = TimeMLP(configuration: cfg, rng: &rng)
    let times = [Float](repeating: 0.5, count: n)
    time("TimeMLP 5×256 forward + backward (reference)", 5) { r in
      let out = net.forward(x1, time: times, condition: cond, training: true, rng: &r)
      net.backward(out)
    }
    time("independent (noise + gather)", 20) { r in
      let x0 = r.normalMatrix(rows: n, cols: d)
      _ = x1.gatherRows(Array(0..<n))
      _ = x0
    }
    for (label, o, c) in [
      ("sinkhorn", OptimalTransportOptions(conditionRatio: 0.5), false),
      ("conditional sinkhorn", OptimalTransportOptions(), true),
      ("partial sinkhorn", OptimalTransportOptions(partialFactor: 0.8, conditionRatio: 0.5), false),
      ("exact", OptimalTransportOptions(method: .exact, conditionRatio: 0.5), false),
    ] {
      var iters = 0
      try time(label, 5) { r in
        let x0 = r.normalMatrix(rows: n, cols: d)
        let cp = try optimalTransportCoupling(noise: x0, data: x1, conditions: c ? cond : nil, options: o, rng: &r)
        iters = cp.iterations
        _ = x1.gatherRows(cp.assignment)
      }
      print("   (\(label): \(iters) iterations)")
    }
  }
}

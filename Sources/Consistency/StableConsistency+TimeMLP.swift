// The sCM teacher pass on a TimeMLP: F⁻ and its exact time derivative along the TrigFlow path by forward-mode
// tangent propagation (`TimeMLP.jvp`).

import NeuralNet
import NumericCore

/// F⁻(x_t/σ_d, t, c) and dF⁻/dt = ∂F/∂x̃ · (dx_t/dt)/σ_d + ∂F/∂t for a batch (inference mode, no dropout); feed
/// both to `stableConsistencyTangent`.
public func stableConsistencyTeacher(
  network: TimeMLP, batch: StableConsistencyBatch, condition: Matrix?
) -> (output: Matrix, derivative: Matrix) {
  let r = network.jvp(
    batch.networkInput, time: batch.timeInput, condition: condition, xTangent: batch.inputTangent,
    timeTangent: [Float](repeating: 1, count: batch.times.count))
  return (r.output, r.tangent)
}

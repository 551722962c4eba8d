// Condition dropout for classifier-free guidance (Ho & Salimans 2022; `drop_cond_prob`; Documentation/Methods.md §9.2).
//
// During training each row's embedded condition is replaced, with probability p, by the null token: the
// all-zero condition (BayesFlow's `unconditional_mode`). The network then also learns the unconditional score
// ∇log p_t(θ) of the training prior, and at sampling s = s_u + w (s_c − s_u) with guidance scale w.
// The gradient of a dropped row does not reach the summary network (the null token is a constant).

import NeuralNet
import NumericCore

/// Drops condition rows with probability `p`: returns the condition with those rows zeroed and their indices.
/// Draws nothing from `rng` when p = 0, so models trained without dropout keep their random streams.
func dropConditions(_ condition: Matrix?, probability p: Double, rng: inout Xoshiro) -> (Matrix?, [Int]) {
  guard p > 0, var c = condition else { return (condition, []) }
  var dropped: [Int] = []
  for r in 0..<c.rows where rng.nextDouble() < p {
    dropped.append(r)
    for j in 0..<c.cols { c[r, j] = 0 }
  }
  return (c, dropped)
}

/// Zeroes the rows of a condition gradient whose conditions were dropped.
func zeroRows(_ gradient: Matrix?, _ rows: [Int]) -> Matrix? {
  guard var g = gradient, !rows.isEmpty else { return gradient }
  for r in rows { for j in 0..<g.cols { g[r, j] = 0 } }
  return g
}

// Exact optimal assignment (the Hungarian algorithm in its shortest-augmenting-path form with dual potentials;
// Kuhn 1955, Munkres 1957, Jonker & Volgenant 1987), for exact mini-batch optimal transport with uniform
// marginals, where the optimal plan is a permutation (Birkhoff–von Neumann).

import Foundation
import NumericCore

/// The assignment σ minimising Σ_i C_{i σ(i)} for a square cost C [n, n]; returns σ (row i ↦ column σ(i)).
///
/// O(n³): rows are added one at a time, each by a Dijkstra-like search for the cheapest augmenting path on the
/// reduced costs C_ij − u_i − v_j ≥ 0; the potentials keep every matched edge tight. Costs are accumulated in
/// Double.
public func optimalAssignment(cost: Matrix) throws -> [Int] {
  let n = cost.rows
  guard cost.cols == n else {
    throw FlowMatchingError.shapeMismatch("exact assignment needs a square cost, got \(cost.rows)×\(cost.cols)")
  }
  guard n > 0 else { return [] }
  guard cost.allFinite else { throw FlowMatchingError.invalidOption("exact assignment: cost has non-finite entries") }
  // 1-based arrays with a virtual column 0, as in the classical formulation.
  var u = [Double](repeating: 0, count: n + 1)
  var v = [Double](repeating: 0, count: n + 1)
  var rowOfColumn = [Int](repeating: 0, count: n + 1)
  var way = [Int](repeating: 0, count: n + 1)
  var minSlack = [Double](repeating: 0, count: n + 1)
  var used = [Bool](repeating: false, count: n + 1)
  cost.withUnsafeBufferPointer { c in
    for i in 1...n {
      rowOfColumn[0] = i
      var j0 = 0
      for j in 0...n {
        minSlack[j] = .infinity
        used[j] = false
      }
      repeat {
        used[j0] = true
        let i0 = rowOfColumn[j0]
        let row = c.baseAddress! + (i0 - 1) * n
        var delta = Double.infinity
        var j1 = 0
        let ui0 = u[i0]
        for j in 1...n where !used[j] {
          let reduced = Double(row[j - 1]) - ui0 - v[j]
          if reduced < minSlack[j] {
            minSlack[j] = reduced
            way[j] = j0
          }
          if minSlack[j] < delta {
            delta = minSlack[j]
            j1 = j
          }
        }
        for j in 0...n {
          if used[j] {
            u[rowOfColumn[j]] += delta
            v[j] -= delta
          } else {
            minSlack[j] -= delta
          }
        }
        j0 = j1
      } while rowOfColumn[j0] != 0
      repeat {
        let j1 = way[j0]
        rowOfColumn[j0] = rowOfColumn[j1]
        j0 = j1
      } while j0 != 0
    }
  }
  var assignment = [Int](repeating: 0, count: n)
  for j in 1...n { assignment[rowOfColumn[j] - 1] = j - 1 }
  return assignment
}

import Foundation
import NumericCore
import Testing

import FlowMatching
import NeuralNet

/// All permutations of 0..<n (Heap's algorithm).
func permutations(_ n: Int) -> [[Int]] {
  var a = Array(0..<n)
  var out = [a]
  var c = [Int](repeating: 0, count: n)
  var i = 0
  while i < n {
    if c[i] < i {
      if i % 2 == 0 { a.swapAt(0, i) } else { a.swapAt(c[i], i) }
      out.append(a)
      c[i] += 1
      i = 0
    } else {
      c[i] = 0
      i += 1
    }
  }
  return out
}

func assignmentCost(_ c: Matrix, _ p: [Int]) -> Double { p.enumerated().reduce(0) { $0 + Double(c[$1.0, $1.1]) } }

@Suite struct OptimalTransportTests {
  @Test("Squared distances and cosine distances match direct loops")
  func costs() {
    var rng = Xoshiro(seed: 10)
    let x = rng.normalMatrix(rows: 13, cols: 5)
    let y = rng.normalMatrix(rows: 11, cols: 5)
    let c = squaredDistances(x, y)
    let cd = cosineDistances(x)
    for i in 0..<13 {
      for j in 0..<11 {
        let d = (0..<5).reduce(0.0) { $0 + pow(Double(x[i, $1] - y[j, $1]), 2) }
        #expect(abs(Double(c[i, j]) - d) < 1e-4 * max(1, d))
      }
      for j in 0..<13 {
        let dot = (0..<5).reduce(0.0) { $0 + Double(x[i, $1] * x[j, $1]) }
        let ni = (0..<5).reduce(0.0) { $0 + Double(x[i, $1] * x[i, $1]) }.squareRoot()
        let nj = (0..<5).reduce(0.0) { $0 + Double(x[j, $1] * x[j, $1]) }.squareRoot()
        #expect(abs(Double(cd[i, j]) - (1 - dot / (ni * nj))) < 1e-5)
      }
    }
  }

  @Test("Exact OT (Hungarian) attains the brute-force optimum over all permutations, B = 1…8", arguments: 1...8)
  func exactMatchesBruteForce(n: Int) throws {
    let all = permutations(n)
    for seed in 0..<(n <= 6 ? 20 : 3) {
      var rng = Xoshiro(seed: UInt64(100 * n + seed))
      let x0 = rng.normalMatrix(rows: n, cols: 3)
      let x1 = rng.normalMatrix(rows: n, cols: 3, mean: 0.5)
      let cost = squaredDistances(x0, x1)
      let best = all.map { assignmentCost(cost, $0) }.min()!
      let coupling = try optimalTransportCoupling(
        noise: x0, data: x1, options: OptimalTransportOptions(method: .exact), rng: &rng)
      #expect(Set(coupling.assignment).count == n, "not a permutation")
      #expect(abs(assignmentCost(cost, coupling.assignment) - best) < 1e-5 * max(1, best), "n = \(n), seed \(seed)")
    }
  }

  @Test("Hungarian on integer costs with ties and a rectangular input")
  func exactEdgeCases() throws {
    let c = Matrix([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    let p = try optimalAssignment(cost: c)
    #expect(assignmentCost(c, p) == 5)
    #expect(try optimalAssignment(cost: Matrix(rows: 2, cols: 2, repeating: 1)).sorted() == [0, 1])
    #expect(throws: FlowMatchingError.self) { try optimalAssignment(cost: Matrix(rows: 2, cols: 3)) }
  }

  @Test("Sinkhorn plan has the prescribed marginals (uniform and non-uniform)")
  func sinkhornMarginals() throws {
    var rng = Xoshiro(seed: 11)
    let x = rng.normalMatrix(rows: 40, cols: 2)
    let y = rng.normalMatrix(rows: 30, cols: 2, mean: 1)
    let c = squaredDistances(x, y)
    let a = (0..<40).map { 1 + Double($0 % 3) }
    let sa = a.reduce(0, +)
    let b = [Double](repeating: sa / 30, count: 30)
    let r = try sinkhorn(cost: c, rowMarginal: a.map { $0 / sa }, columnMarginal: b.map { $0 / sa },
      regularization: 0.1, maxIterations: 2000, tolerance: 1e-6)
    let p = r.plan
    let rows = p.rowSums(), cols = p.columnSums()
    for i in 0..<40 { #expect(abs(Double(rows[i]) - a[i] / sa) < 1e-3 * a[i] / sa + 1e-6, "row \(i)") }
    for j in 0..<30 { #expect(abs(Double(cols[j]) - 1 / 30.0) < 1e-4, "column \(j)") }
    #expect(r.converged)
  }

  @Test("With small ε, Sinkhorn's sampled assignments approach the exact optimum")
  func sinkhornApproachesExact() throws {
    var rng = Xoshiro(seed: 12)
    var agree = 0, total = 0
    var gap = 0.0
    for _ in 0..<10 {
      let x0 = rng.normalMatrix(rows: 8, cols: 2)
      let x1 = rng.normalMatrix(rows: 8, cols: 2)
      let cost = squaredDistances(x0, x1)
      let exact = try optimalAssignment(cost: cost)
      let best = assignmentCost(cost, exact)
      for _ in 0..<20 {
        let s = try optimalTransportCoupling(
          noise: x0, data: x1,
          options: OptimalTransportOptions(regularization: 0.002, maxIterations: 5000, tolerance: 1e-6), rng: &rng)
        agree += zip(s.assignment, exact).filter { $0 == $1 }.count
        total += 8
        gap += (assignmentCost(cost, s.assignment) - best) / best
      }
    }
    #expect(Double(agree) / Double(total) > 0.97, "agreement \(Double(agree) / Double(total))")
    #expect(gap / 200 < 0.02, "mean relative cost gap \(gap / 200)")
    // Large ε is close to the independent coupling: much lower agreement.
    let x0 = rng.normalMatrix(rows: 8, cols: 2)
    let x1 = rng.normalMatrix(rows: 8, cols: 2)
    let exact = try optimalAssignment(cost: squaredDistances(x0, x1))
    var loose = 0
    for _ in 0..<50 {
      let s = try optimalTransportCoupling(
        noise: x0, data: x1, options: OptimalTransportOptions(regularization: 100), rng: &rng)
      loose += zip(s.assignment, exact).filter { $0 == $1 }.count
    }
    #expect(Double(loose) / 400 < 0.4)
  }

  @Test("Partial OT: the real block of the augmented plan carries mass s")
  func partialTransport() throws {
    var rng = Xoshiro(seed: 13)
    let n = 20
    let x = rng.normalMatrix(rows: n, cols: 2)
    let y = rng.normalMatrix(rows: n, cols: 2, mean: 2)
    let cost = squaredDistances(x, y)
    let s = 0.8
    var aug = Matrix(rows: n + 1, cols: n + 1)
    for i in 0..<n { for j in 0..<n { aug[i, j] = cost[i, j] } }
    aug[n, n] = cost.storage.max()! + 1
    let a = [Double](repeating: 1 / Double(n), count: n) + [1 - s]
    let r = try sinkhorn(cost: aug, rowMarginal: a, columnMarginal: a, regularization: 0.1, maxIterations: 5000,
      tolerance: 1e-7)
    let p = r.plan
    var real = 0.0
    for i in 0..<n { for j in 0..<n { real += Double(p[i, j]) } }
    #expect(abs(real - s) < 2e-3, "real mass \(real)")
    let c = try optimalTransportCoupling(
      noise: x, data: y, options: OptimalTransportOptions(partialFactor: s), rng: &rng)
    #expect(c.assignment.allSatisfy { $0 >= 0 && $0 < n })
    #expect(throws: FlowMatchingError.self) {
      _ = try optimalTransportCoupling(
        noise: x, data: y, options: OptimalTransportOptions(method: .exact, partialFactor: 0.5), rng: &rng)
    }
  }

  @Test("Conditional OT: the searched weight hits the condition ratio and pairs rows with similar conditions")
  func conditionalTransport() throws {
    var rng = Xoshiro(seed: 14)
    let n = 128
    let x0 = rng.normalMatrix(rows: n, cols: 2)
    let x1 = rng.normalMatrix(rows: n, cols: 2)
    let cond = rng.normalMatrix(rows: n, cols: 4)
    let cost = squaredDistances(x0, x1)
    let dc = cosineDistances(cond)
    for ratio in [0.01, 0.05, 0.1] {
      let w = conditionWeight(cost: cost, conditionDistance: dc, ratio: ratio)
      var count = 0
      for i in 0..<n { for j in 0..<n where Float(w) * dc[i, j] <= cost[i, i] - cost[i, j] { count += 1 } }
      #expect(abs(Double(count) / Double(n * n) - ratio) < 2e-3, "ratio \(ratio): w = \(w)")
    }
    func meanConditionDistance(_ o: OptimalTransportOptions) throws -> Double {
      var r = Xoshiro(seed: 15)
      let c = try optimalTransportCoupling(noise: x0, data: x1, conditions: cond, options: o, rng: &r)
      return c.assignment.enumerated().reduce(0.0) { $0 + Double(dc[$1.0, $1.1]) } / Double(n)
    }
    let plain = try meanConditionDistance(OptimalTransportOptions(conditionRatio: 0.5))
    let conditional = try meanConditionDistance(OptimalTransportOptions(conditionRatio: 0.01))
    let exactConditional = try meanConditionDistance(OptimalTransportOptions(method: .exact, conditionRatio: 0.01))
    #expect(conditional < 0.5 * plain, "mean 1 − cos: plain \(plain), conditional \(conditional)")
    #expect(exactConditional < 0.5 * plain)
    var r = Xoshiro(seed: 16)
    #expect(try optimalTransportCoupling(noise: x0, data: x1, conditions: cond,
      options: OptimalTransportOptions(conditionRatio: 0.5), rng: &r).conditionWeight == 0)
  }
}

extension OptimalTransportTests {
  @Test("Training batch with a coupling: data and conditions are gathered together; OT shortens the paths")
  func trainingBatch() throws {
    var rng = Xoshiro(seed: 18)
    let data = rng.normalMatrix(rows: 64, cols: 2, mean: 1)
    let cond = Matrix(rows: 64, cols: 2, storage: data.storage.map { 3 * $0 })  // condition = 3θ, to track rows
    for options in [nil, OptimalTransportOptions(method: .exact, conditionRatio: 0.5), OptimalTransportOptions()] {
      let (b, c, _) = try flowMatchingTrainingBatch(
        data: data, conditions: cond, timeSampling: .edm, coupling: options, rng: &rng)
      let c1 = try #require(c)
      for i in 0..<64 {
        // x₁ = x_s + (1 − s)u; its condition must be 3·x₁.
        let s = b.timeInput[i]
        for j in 0..<2 {
          let x1 = b.networkInput[i, j] + (1 - s) * b.target[i, j]
          #expect(abs(c1[i, j] - 3 * x1) < 1e-3)
        }
      }
    }
    var r1 = Xoshiro(seed: 19), r2 = Xoshiro(seed: 19)
    let plain = try flowMatchingTrainingBatch(data: data, conditions: nil, rng: &r1).batch
    let ot = try flowMatchingTrainingBatch(
      data: data, conditions: nil, coupling: OptimalTransportOptions(method: .exact), rng: &r2).batch
    #expect(ot.target.squaredNorm() < 0.7 * plain.target.squaredNorm())
  }
}

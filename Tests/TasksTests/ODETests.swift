import Foundation
import NumericCore
import Testing

@Suite struct ODETests {
  @Test func exponentialDecayMatchesClosedForm() throws {
    let times = [0.0, 0.5, 1, 2, 5]
    let sol = try DormandPrince(relativeTolerance: 1e-10, absoluteTolerance: 1e-12)
      .solve(initial: [1, 2], from: 0, at: times) { _, y, dy in
        dy[0] = -y[0]
        dy[1] = -3 * y[1]
      }
    for (k, t) in times.enumerated() {
      #expect(abs(sol[k][0] - Foundation.exp(-t)) < 1e-9)
      #expect(abs(sol[k][1] - 2 * Foundation.exp(-3 * t)) < 1e-9)
    }
  }

  @Test func harmonicOscillatorOverManyPeriods() throws {
    let times = (0...20).map { Double($0) * 3.7 }
    let sol = try DormandPrince().solve(initial: [1, 0], from: 0, at: times) { _, y, dy in
      dy[0] = y[1]
      dy[1] = -y[0]
    }
    for (k, t) in times.enumerated() {
      #expect(abs(sol[k][0] - Foundation.cos(t)) < 1e-6)
      #expect(abs(sol[k][1] + Foundation.sin(t)) < 1e-6)
    }
  }

  @Test func lotkaVolterraConservesItsInvariant() throws {
    // V = δx − γ log x + βy − α log y is constant along LV trajectories.
    let (a, b, c, d) = (0.9, 0.05, 0.8, 0.1)
    let times = (0..<50).map { Double($0) * 0.4 }
    let sol = try DormandPrince().solve(initial: [30, 1], from: 0, at: times) { _, u, du in
      du[0] = a * u[0] - b * u[0] * u[1]
      du[1] = -c * u[1] + d * u[0] * u[1]
    }
    func v(_ u: [Double]) -> Double { d * u[0] - c * Foundation.log(u[0]) + b * u[1] - a * Foundation.log(u[1]) }
    let v0 = v(sol[0])
    for s in sol { #expect(abs(v(s) - v0) < 1e-6 * abs(v0)) }
  }

  @Test func rejectsUnsortedTimes() {
    #expect(throws: ODEError.invalidTimes) {
      _ = try DormandPrince().solve(initial: [1], from: 0, at: [1, 0.5]) { _, y, dy in dy[0] = y[0] }
    }
  }
}

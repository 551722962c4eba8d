import Foundation
import Testing
import NumericCore

@Suite struct SpecialFunctionTests {
  @Test func erfinvInvertsErf() {
    for x in stride(from: -0.999999, through: 0.999999, by: 0.0137) {
      let y = Special.erfinv(x)
      #expect(abs(erf(y) - x) <= 2e-15 * max(1, abs(x)) + 1e-16)
    }
    #expect(Special.erfinv(1) == .infinity && Special.erfinv(-1) == -.infinity)
    #expect(Special.erfinv(1.5).isNaN && Special.erfinv(.nan).isNaN && Special.erfinv(0) == 0)
    // Known value: erfinv(0.5) = 0.4769362762044699.
    #expect(abs(Special.erfinv(0.5) - 0.4769362762044699) < 1e-15)
  }

  @Test func normalQuantile() {
    #expect(abs(Special.normalQuantile(0.975) - 1.959963984540054) < 1e-12)
    #expect(abs(Special.normalQuantile(1e-10) - (-6.361340902404056)) < 1e-8)
    for p in [1e-300, 1e-20, 1e-5, 0.01, 0.3, 0.5, 0.8, 0.999, 1 - 1e-12] {
      let x = Special.normalQuantile(p)
      let back = p < 0.5 ? Special.normalCDF(x) : 1 - 0.5 * erfc(x / 2.0.squareRoot())
      #expect(abs(back - p) / min(p, 1 - p) < 1e-8 || abs(back - p) < 1e-15)
    }
  }

  @Test func logSumExpAndFriends() {
    #expect(abs(Special.logSumExp([1000.0, 1000.0]) - (1000 + log(2))) < 1e-12)
    #expect(Special.logSumExp([-Double.infinity, -Double.infinity]) == -.infinity)
    #expect(Special.logSumExp([Double]()) == -.infinity)
    #expect(abs(Special.logSumExp([log(1.0), log(2.0), log(3.0)]) - log(6.0)) < 1e-14)
    #expect(abs(Special.lgamma(5) - log(24)) < 1e-13)
    #expect(abs(Special.logBeta(2, 3) - log(1.0 / 12.0)) < 1e-13)
    #expect(Special.sigmoid(-1000) == 0 && Special.sigmoid(1000) == 1)
    #expect(abs(Special.softplus(-800) - exp(-800)) < 1e-300 && Special.softplus(800) == 800)
    #expect(abs(Special.expm1(1e-10) - 1.00000000005e-10) < 1e-24)
  }

  @Test func choleskyAndInverse() throws {
    let a = DMatrix(rows: 3, cols: 3, values: [4, 2, 0.6, 2, 2, 0.5, 0.6, 0.5, 3])
    let l = try a.cholesky()
    let back = l * l.transposed
    for i in 0..<9 { #expect(abs(back.values[i] - a.values[i]) < 1e-12) }
    let inv = try a.inverseSPD()
    let id = a * inv
    for i in 0..<3 { for j in 0..<3 { #expect(abs(id[i, j] - (i == j ? 1 : 0)) < 1e-12) } }
    #expect(abs(try a.logDeterminantSPD() - log(4 * (2 * 3 - 0.25) - 2 * (6 - 0.3) + 0.6 * (1 - 1.2))) < 1e-12)
    #expect(throws: LinearAlgebraError.self) { try DMatrix(rows: 2, cols: 2, values: [1, 2, 2, 1]).cholesky() }
  }
}

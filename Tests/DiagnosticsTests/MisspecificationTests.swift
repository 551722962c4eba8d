import Diagnostics
import NumericCore
import Testing

/// The MMD misspecification check: data from the reference distribution pass, shifted or wider data are flagged,
/// and the bootstrap shortcut equals the direct MMD² of each split.
@Suite struct MisspecificationTests {
  static func gaussian(_ n: Int, mean: Float = 0, scale: Float = 1, seed: UInt64) -> Matrix {
    var rng = Xoshiro(seed: seed)
    var m = rng.normalMatrix(rows: n, cols: 2)
    for i in 0..<n { for j in 0..<2 { m[i, j] = mean + scale * m[i, j] } }
    return m
  }

  @Test func wellSpecifiedPassesMisspecifiedIsFlagged() throws {
    let reference = Self.gaussian(400, seed: 1)
    let same = try misspecificationTest(observed: Self.gaussian(5, seed: 2), reference: reference, bootstrap: 400, seed: 3)
    #expect(same.pValue > 0.05, "p \(same.pValue)")
    let shifted = try misspecificationTest(
      observed: Self.gaussian(5, mean: 1.5, seed: 2), reference: reference, bootstrap: 400, seed: 3)
    #expect(shifted.pValue < 0.01 && shifted.mmd > same.mmd, "p \(shifted.pValue)")
    let wider = try misspecificationTest(
      observed: Self.gaussian(5, scale: 3, seed: 2), reference: reference, bootstrap: 400, seed: 3)
    #expect(wider.pValue < 0.01, "p \(wider.pValue)")
    // One observation far out in the tails.
    let far = try misspecificationTest(observed: Matrix([[4, 4]]), reference: reference, bootstrap: 400, seed: 3)
    #expect(far.pValue < 0.01)
    // Under the null the p-values are roughly uniform: about 10 % of 40 well-specified checks fall below 0.1.
    let small = (0..<40).filter { k in
      (try? misspecificationTest(observed: Self.gaussian(3, seed: 100 + UInt64(k)), reference: reference,
                                 bootstrap: 200, seed: UInt64(k)).pValue < 0.1) ?? false
    }.count
    #expect(small <= 10, "\(small) of 40 well-specified checks had p < 0.1")
  }

  @Test func bootstrapShortcutMatchesDirectMMD() throws {
    // The O(K²) bootstrap update against the direct MMD² of the same split.
    let reference = Self.gaussian(12, seed: 5)
    let r = try misspecificationTest(observed: Self.gaussian(3, seed: 6), reference: reference, bootstrap: 1, seed: 9)
    var rng = Xoshiro(seed: 9, stream: 0x4D4D_4421)
    let perm = rng.permutation(12)
    let direct = biasedMMDSquared(reference.gatherRows(Array(perm[..<3])), reference.gatherRows(Array(perm[3...])),
                                  bandwidth: r.bandwidth)
    #expect(abs(r.null[0] - direct) < 1e-9)
    #expect(throws: DiagnosticsError.self) {
      _ = try misspecificationTest(observed: Matrix(rows: 1, cols: 3), reference: reference)
    }
  }
}

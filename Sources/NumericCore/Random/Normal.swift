// Standard normal variates by the ziggurat method (Marsaglia & Tsang, "The Ziggurat Method for Generating
// Random Variables", J. Stat. Softw. 5(8), 2000), 128 layers, with the layer index and the sign/magnitude taken
// from independent bits of one 64-bit draw (avoiding the correlation Doornik 2005 found in the original).

import Foundation

@usableFromInline
struct ZigguratTables: Sendable {
  @usableFromInline var k = [UInt32](repeating: 0, count: 128)
  @usableFromInline var w = [Double](repeating: 0, count: 128)
  @usableFromInline var f = [Double](repeating: 0, count: 128)

  init() {
    let m1 = 2147483648.0
    var dn = 3.442619855899
    var tn = dn
    let vn = 9.91256303526217e-3
    let q = vn / Foundation.exp(-0.5 * dn * dn)
    k[0] = UInt32((dn / q) * m1)
    k[1] = 0
    w[0] = q / m1
    w[127] = dn / m1
    f[0] = 1
    f[127] = Foundation.exp(-0.5 * dn * dn)
    for i in stride(from: 126, through: 1, by: -1) {
      dn = (-2 * Foundation.log(vn / dn + Foundation.exp(-0.5 * dn * dn))).squareRoot()
      k[i + 1] = UInt32((dn / tn) * m1)
      tn = dn
      f[i] = Foundation.exp(-0.5 * dn * dn)
      w[i] = dn / m1
    }
  }

  @usableFromInline static let shared = ZigguratTables()
}

extension Xoshiro {
  /// A standard normal variate (ziggurat).
  @inlinable
  public mutating func nextNormal() -> Double {
    let t = ZigguratTables.shared
    while true {
      let u = next()
      let hz = Int32(truncatingIfNeeded: u >> 32)
      let iz = Int(u & 127)
      let mag = UInt32(hz.magnitude)
      if mag < t.k[iz] { return Double(hz) * t.w[iz] }
      if let x = normalTail(hz: hz, iz: iz, tables: t) { return x }
    }
  }

  @usableFromInline
  mutating func normalTail(hz: Int32, iz: Int, tables t: ZigguratTables) -> Double? {
    let r = 3.442619855899
    let x = Double(hz) * t.w[iz]
    if iz == 0 {
      var xx: Double
      var yy: Double
      repeat {
        xx = -Foundation.log(nextOpenDouble()) / r
        yy = -Foundation.log(nextOpenDouble())
      } while yy + yy < xx * xx
      return hz > 0 ? r + xx : -r - xx
    }
    if t.f[iz] + nextDouble() * (t.f[iz - 1] - t.f[iz]) < Foundation.exp(-0.5 * x * x) { return x }
    return nil
  }

  /// Fills `buffer` with N(mean, std²) Floats: the same values as `mean + std · Float(nextNormal())` in turn
  /// (the same draws from the stream), with the ziggurat's tables read through pointers held for the whole buffer
  /// (no array checks or reference counting per value) and the common case (≈ 98.8 % of draws: inside a layer's
  /// rectangle) inlined; the tail and wedge cases go through `normalTail`.
  public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, std: Float = 1) {
    guard let out = buffer.baseAddress else { return }
    let n = buffer.count
    let tables = ZigguratTables.shared
    tables.k.withUnsafeBufferPointer { kp in
      tables.w.withUnsafeBufferPointer { wp in
        let k = kp.baseAddress!, w = wp.baseAddress!
        var i = 0
        while i < n {
          let u = next()
          let hz = Int32(truncatingIfNeeded: u >> 32)
          let iz = Int(u & 127)
          let value: Double
          if UInt32(hz.magnitude) < k[iz] {
            value = Double(hz) * w[iz]
          } else if let x = normalTail(hz: hz, iz: iz, tables: tables) {
            value = x
          } else {
            continue
          }
          out[i] = mean + std * Float(value)
          i += 1
        }
      }
    }
  }

  /// Fills `buffer` with uniform Floats in [lower, upper).
  public mutating func fillUniform(_ buffer: UnsafeMutableBufferPointer<Float>, lower: Float = 0, upper: Float = 1) {
    let w = upper - lower
    for i in 0..<buffer.count { buffer[i] = lower + w * nextFloat() }
  }

  /// Overwrites every entry of `m` with an independent N(mean, std²) draw, reusing its storage.
  public mutating func fillNormal(_ m: inout Matrix, mean: Float = 0, std: Float = 1) {
    m.withUnsafeMutableBufferPointer { fillNormal($0, mean: mean, std: std) }
  }

  /// A `rows × cols` matrix of independent N(mean, std²) entries.
  public mutating func normalMatrix(rows: Int, cols: Int, mean: Float = 0, std: Float = 1) -> Matrix {
    var m = Matrix(rows: rows, cols: cols)
    m.storage.withUnsafeMutableBufferPointer { fillNormal($0, mean: mean, std: std) }
    return m
  }

  /// A `rows × cols` matrix of independent U[lower, upper) entries.
  public mutating func uniformMatrix(rows: Int, cols: Int, lower: Float = 0, upper: Float = 1) -> Matrix {
    var m = Matrix(rows: rows, cols: cols)
    m.storage.withUnsafeMutableBufferPointer { fillUniform($0, lower: lower, upper: upper) }
    return m
  }
}

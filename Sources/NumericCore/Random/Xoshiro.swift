// Xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2018), seeded through
// SplitMix64, with jump() for 2^128-step-apart streams and hashing-based derivation of per-item streams.

/// SplitMix64 (Steele, Lea & Flood 2014): used to expand seeds and derive stream seeds.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  public var state: UInt64
  public init(seed: UInt64) { state = seed }
  @inlinable
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// The package's random number generator: fast, seedable, splittable, reproducible across platforms.
///
/// - A given seed always produces the same sequence.
/// - `jump()` advances by 2^128 steps: `split(count:)` gives non-overlapping streams for worker threads.
/// - `Xoshiro(seed:stream:)` derives an independent generator for item `stream` (an observation, a shard, a
///   simulation chunk) without stepping through the others, so results do not depend on how work is scheduled.
public struct Xoshiro: RandomNumberGenerator, Sendable, Equatable, Codable {
  public var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

  public init(seed: UInt64) {
    var sm = SplitMix64(seed: seed)
    s0 = sm.next()
    s1 = sm.next()
    s2 = sm.next()
    s3 = sm.next()
    if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
  }

  /// An independent generator for sub-stream `stream` of `seed`.
  public init(seed: UInt64, stream: UInt64) {
    var sm = SplitMix64(seed: seed ^ 0x5851_F42D_4C95_7F2D)
    let a = sm.next()
    var sm2 = SplitMix64(seed: a &+ stream &* 0x9E37_79B9_7F4A_7C15)
    _ = sm2.next()
    self.init(seed: sm2.next() ^ stream)
  }

  /// The full state, for checkpoints.
  public var state: [UInt64] { [s0, s1, s2, s3] }

  public init(state: [UInt64]) {
    precondition(state.count == 4)
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
  }

  @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

  @inlinable @inline(__always)
  public mutating func next() -> UInt64 {
    let result = Xoshiro.rotlInline(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = Xoshiro.rotlInline(s3, 45)
    return result
  }

  @inlinable @inline(__always)
  static func rotlInline(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

  /// Advances the state by 2^128 steps.
  public mutating func jump() {
    let table: [UInt64] = [0x180E_C6D3_3CFD_0ABA, 0xD5A6_1266_F0C9_392C, 0xA958_2618_E03F_C9AA, 0x39AB_DC45_29B1_661C]
    var t0: UInt64 = 0, t1: UInt64 = 0, t2: UInt64 = 0, t3: UInt64 = 0
    for j in table {
      for b in 0..<64 {
        if j & (UInt64(1) << UInt64(b)) != 0 {
          t0 ^= s0
          t1 ^= s1
          t2 ^= s2
          t3 ^= s3
        }
        _ = next()
      }
    }
    s0 = t0
    s1 = t1
    s2 = t2
    s3 = t3
  }

  /// `count` generators whose sequences do not overlap for 2^128 draws each; `self` advances past them all.
  public mutating func split(count: Int) -> [Xoshiro] {
    var out: [Xoshiro] = []
    out.reserveCapacity(count)
    for _ in 0..<count {
      jump()
      out.append(self)
    }
    jump()
    return out
  }

  /// Uniform Float in [0, 1) with 24 random bits.
  @inlinable @inline(__always)
  public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

  /// Uniform Double in [0, 1) with 53 random bits.
  @inlinable @inline(__always)
  public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

  /// Uniform Double in (0, 1): never exactly 0, safe for logarithms.
  @inlinable @inline(__always)
  public mutating func nextOpenDouble() -> Double { (Double(next() >> 11) + 0.5) * 0x1p-53 }

  /// Uniform integer in 0..<n (Lemire's nearly divisionless method).
  @inlinable
  public mutating func nextInt(below n: Int) -> Int {
    precondition(n > 0)
    return Int(truncatingIfNeeded: next(upperBound: UInt64(n)))
  }
}

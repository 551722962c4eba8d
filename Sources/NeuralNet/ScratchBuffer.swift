// Growable raw Float buffers for activations and caches, reused across calls.

/// A heap buffer of floats that grows on demand (contents are not preserved when it grows).
final class ScratchBuffer: @unchecked Sendable {
  private(set) var pointer: UnsafeMutablePointer<Float>
  private(set) var capacity: Int

  init(_ capacity: Int = 0) {
    self.capacity = max(capacity, 8)
    pointer = .allocate(capacity: self.capacity)
    pointer.initialize(repeating: 0, count: self.capacity)
  }

  deinit { pointer.deallocate() }

  /// Makes room for `count` floats and returns the pointer.
  @discardableResult
  func ensure(_ count: Int) -> UnsafeMutablePointer<Float> {
    if count > capacity {
      pointer.deallocate()
      capacity = count
      pointer = .allocate(capacity: count)
      pointer.initialize(repeating: 0, count: count)
    }
    return pointer
  }

  var p: UnsafeMutablePointer<Float> { pointer }
}

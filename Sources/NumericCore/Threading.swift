// Thread configuration and a minimal parallel loop.
//
// Two levels of parallelism exist: the BLAS threads its large GEMMs, and our own code splits batches of
// independent work (simulations, sampling many observations, elementwise passes over big arrays). They must not
// run at the same time (ISSUE: nested oversubscription on a 2-core machine), so `parallelFor` is for chunks of
// work that do not themselves call a multi-threaded GEMM, and callers choose one level per phase.

import CWorkerPool
import Dispatch
import Foundation

/// Process-wide thread settings.
public enum Threading {
  /// The environment variable that overrides the default thread count.
  public static let environmentVariable = "DIFFSBI_THREADS"

  nonisolated(unsafe) private static var _count: Int = {
    if let s = ProcessInfo.processInfo.environment[environmentVariable], let n = Int(s), n > 0 { return n }
    return max(1, ProcessInfo.processInfo.activeProcessorCount)
  }()

  /// Number of worker threads used by `parallelFor` and by the BLAS. Defaults to the core count, or to
  /// `DIFFSBI_THREADS` when set. Setting it also sets the BLAS thread count.
  public static var count: Int {
    get { _count }
    set {
      _count = max(1, newValue)
      BLAS.threads = _count
    }
  }

  /// Applies the configured count to the BLAS. Call once at start-up (the CLI does).
  public static func configure(threads: Int? = nil) {
    count = threads ?? _count
  }
}

/// Runs `body(chunkIndex, range)` over `0..<count` split into at most `Threading.count` contiguous chunks.
///
/// Chunking is deterministic for a given `count` and `chunks`, so per-chunk random streams give reproducible
/// results for a fixed thread count. Work smaller than `minimumPerChunk` items runs on the caller's thread. The
/// chunks run on the caller and the spinning worker pool of Sources/CWorkerPool (Documentation/Numerics.md §4);
/// a loop started while the pool runs another goes to `DispatchQueue.concurrentPerform`.
public func parallelFor(
  count: Int, chunks requested: Int? = nil, minimumPerChunk: Int = 1,
  _ body: (_ chunk: Int, _ range: Range<Int>) -> Void
) {
  if count <= 0 { return }
  let maxChunks = max(1, requested ?? Threading.count)
  let chunks = max(1, min(maxChunks, count / max(1, minimumPerChunk)))
  if chunks == 1 {
    body(0, 0..<count)
    return
  }
  withoutActuallyEscaping(body) { body in
    // The pool's workers call `runPoolChunk` with a pointer to this job; every copy of the closure they make is
    // released before the chunk counts as finished, so nothing outlives this call.
    var job = PoolJob { c in body(c, (count * c / chunks)..<(count * (c + 1) / chunks)) }
    let ran = withUnsafeMutablePointer(to: &job) { dwp_run(Int32(clamping: Threading.count), chunks, runPoolChunk, $0) }
    if ran != 0 { return }
    // The pool is running another loop (a nested or concurrent call): let Dispatch spread this one.
    let box = UncheckedSendableBox(body)
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
      let lo = count * c / chunks
      let hi = count * (c + 1) / chunks
      box.value(c, lo..<hi)
    }
  }
}

/// One parallel loop handed to the worker pool (Sources/CWorkerPool).
private struct PoolJob {
  let body: (Int) -> Void
}

private func runPoolChunk(_ context: UnsafeMutableRawPointer?, _ chunk: Int) {
  context!.assumingMemoryBound(to: PoolJob.self).pointee.body(chunk)
}

/// Splits `0..<count` into `chunks` contiguous ranges, the same split `parallelFor` uses.
public func chunkRanges(count: Int, chunks: Int) -> [Range<Int>] {
  let c = max(1, min(chunks, max(count, 1)))
  return (0..<c).map { (count * $0 / c)..<(count * ($0 + 1) / c) }
}

/// A pointer wrapper that may be captured by concurrent closures writing disjoint ranges.
public struct UnsafeSendablePointer<T>: @unchecked Sendable {
  public let base: UnsafeMutablePointer<T>
  public init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// Wraps a value that is only used in ways the caller guarantees to be race-free.
public struct UncheckedSendableBox<T>: @unchecked Sendable {
  public let value: T
  public init(_ value: T) { self.value = value }
}

import Foundation
import NumericCore
import Testing

/// `parallelFor` on the spinning worker pool (Sources/CWorkerPool): every chunk exactly once with the same ranges
/// as before, nested and concurrent loops (which the pool hands to Dispatch), and loops with more chunks than
/// threads.
@Suite(.serialized) struct WorkerPoolTests {
  /// Runs a loop and returns how many times each index was visited and the chunk that visited it.
  func visits(count: Int, chunks: Int?, minimumPerChunk: Int = 1) -> (hits: [Int], chunk: [Int]) {
    var hits = [Int](repeating: 0, count: count), chunk = [Int](repeating: -1, count: count)
    hits.withUnsafeMutableBufferPointer { hp in
      chunk.withUnsafeMutableBufferPointer { cp in
        let h = UnsafeSendablePointer(hp.baseAddress!), c = UnsafeSendablePointer(cp.baseAddress!)
        parallelFor(count: count, chunks: chunks, minimumPerChunk: minimumPerChunk) { k, range in
          for i in range {
            h.base[i] += 1
            c.base[i] = k
          }
        }
      }
    }
    return (hits, chunk)
  }

  @Test func everyIndexOnceWithTheDocumentedChunks() {
    let saved = Threading.count
    defer { Threading.count = saved }
    for threads in [1, 2, 3, 5] {
      Threading.count = threads
      for (count, chunks) in [(1, nil), (7, nil), (1000, nil), (1000, 2), (1000, 7), (33, 40)] as [(Int, Int?)] {
        let r = visits(count: count, chunks: chunks)
        #expect(r.hits.allSatisfy { $0 == 1 }, "threads \(threads), count \(count), chunks \(String(describing: chunks))")
        let n = max(1, min(chunks ?? threads, count))
        let expected = chunkRanges(count: count, chunks: n).enumerated().flatMap { k, range in range.map { _ in k } }
        #expect(r.chunk == expected)
      }
    }
  }

  @Test func manyShortLoopsInARow() {
    let saved = Threading.count
    defer { Threading.count = saved }
    Threading.count = 2
    var total = 0
    for round in 0..<20_000 {
      var partial = [Int](repeating: 0, count: 4)
      partial.withUnsafeMutableBufferPointer { buf in
        let p = UnsafeSendablePointer(buf.baseAddress!)
        parallelFor(count: 4, chunks: 4) { k, range in p.base[k] = range.count * (round % 3 + 1) }
      }
      total += partial.reduce(0, +)
    }
    // Σ over rounds of 4·(round mod 3 + 1): 6,667·4·1 + 6,667·4·2 + 6,666·4·3.
    #expect(total == 4 * (6_667 * 1 + 6_667 * 2 + 6_666 * 3))
  }

  @Test func nestedAndConcurrentLoopsComplete() {
    let saved = Threading.count
    defer { Threading.count = saved }
    Threading.count = 2
    // Nested: the inner loops run while the pool runs the outer one.
    var sums = [Int](repeating: 0, count: 4)
    sums.withUnsafeMutableBufferPointer { buf in
      let p = UnsafeSendablePointer(buf.baseAddress!)
      parallelFor(count: 4, chunks: 4) { k, _ in
        let inner = visits(count: 100, chunks: 3)
        p.base[k] = inner.hits.reduce(0, +)
      }
    }
    #expect(sums == [100, 100, 100, 100])
    // Concurrent: four threads start loops at once; whichever finds the pool busy runs on Dispatch.
    final class Results: @unchecked Sendable {
      var hits = [[Int]](repeating: [], count: 4)
      let lock = NSLock()
    }
    let results = Results()
    DispatchQueue.concurrentPerform(iterations: 4) { t in
      var last: [Int] = []
      for _ in 0..<200 { last = visits(count: 257, chunks: 2).hits }
      results.lock.lock()
      results.hits[t] = last
      results.lock.unlock()
    }
    #expect(results.hits.allSatisfy { $0.count == 257 && $0.allSatisfy { $0 == 1 } })
  }
}

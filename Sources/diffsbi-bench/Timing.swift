// Timing helpers for the benchmark executable: wall-clock medians over repeated runs.

import Foundation

/// Seconds of wall-clock time.
func now() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Seconds of CPU time consumed by the calling thread (not counting time it was descheduled).
func threadCPUTime() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Median of `repeats` timings of `body`, each repeated `inner` times (seconds per inner call).
func medianTime(
  repeats: Int = 7, inner: Int = 1, warmup: Int = 1, clock: () -> Double = now, _ body: () -> Void
) -> Double {
  for _ in 0..<warmup { body() }
  var times: [Double] = []
  for _ in 0..<repeats {
    let t0 = clock()
    for _ in 0..<inner { body() }
    times.append((clock() - t0) / Double(inner))
  }
  times.sort()
  return times[times.count / 2]
}

/// Picks an inner repeat count so one timed batch lasts about `target` seconds.
func calibrate(target: Double = 0.1, _ body: () -> Void) -> Int {
  let t0 = now()
  body()
  let dt = max(now() - t0, 1e-7)
  return max(1, Int(target / dt))
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

/// Machine description for the header of every benchmark table.
func machineDescription() -> String {
  var cpu = "unknown CPU"
  if let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
    let line = s.split(separator: "\n").first(where: { $0.hasPrefix("model name") })
  {
    cpu = line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? cpu
  }
  return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores"
}

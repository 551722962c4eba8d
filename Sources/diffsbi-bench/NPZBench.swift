// diffsbi-bench npz: time to load a large .npz (stored and deflated members) through the readers the CLI uses.
//
//   diffsbi-bench npz [--rows N] [--dir DIR] [--repeats R]
//
// Writes DIR/npz-bench-stored.npz and DIR/npz-bench-deflate.npz (arrays theta [N, 2] and x [N, 2], float32,
// standard normal draws; N = 10^7 by default) unless they already exist, so builds of other versions of the
// readers can time the very same files. Then, for each file, the median and best of R loads (page cache warm)
// of (a) `NPZFile(path:)` + `matrix("theta")` + `matrix("x")`, the path of `diffsbi train --data`, and
// (b) `NPZ.read`, which reads the whole file into memory first; wall-clock time, and for (a) also the calling
// thread's CPU time (the readers are single-threaded, so on a loaded machine that is the steadier number).

import DiffusionSBI
import Foundation

func runNPZBenchmark(rows: Int, repeats: Int, dir: String) {
  let files = [("stored", dir + "/npz-bench-stored.npz"), ("deflate", dir + "/npz-bench-deflate.npz")]
  print("== .npz loading: theta [\(rows), 2] and x [\(rows), 2] float32 (\(machineDescription()))")
  do {
    if !files.allSatisfy({ FileManager.default.fileExists(atPath: $0.1) }) {
      var rng = Xoshiro(seed: 2026)
      let theta = rng.normalMatrix(rows: rows, cols: 2), x = rng.normalMatrix(rows: rows, cols: 2)
      try writeNPZBenchFiles(theta: theta, x: x, files: files)
    }
    let megabytes = Double(2 * rows * 2 * 4) / 1e6
    print("file      size (MB)   NPZFile theta+x: median / best / CPU median (ms)   NPZ.read: median / best (ms)"
          + "   MB/s (median)")
    for (label, path) in files {
      let size = Double(try FileIO.size(of: path)) / 1e6
      var failure: Error?
      func timed(_ body: () throws -> Void) -> (Double, Double, Double) {
        var times: [Double] = [], cpu: [Double] = []
        for _ in 0..<repeats {
          let t0 = now(), c0 = threadCPUTime()
          do { try body() } catch { failure = error }
          times.append(now() - t0)
          cpu.append(threadCPUTime() - c0)
        }
        times.sort()
        cpu.sort()
        return (times[times.count / 2], times[0], cpu[cpu.count / 2])
      }
      let (fileMedian, fileBest, fileCPU) = timed {
        let f = try NPZFile(path: path)
        let t = try f.matrix("theta"), x = try f.matrix("x")
        precondition(t.rows == rows && x.rows == rows)
      }
      let (readMedian, readBest, _) = timed {
        let t = try NPZ.read(path).matrix("theta")
        precondition(t.rows == rows)
      }
      if let failure { throw failure }
      print(pad(label, 10) + lpad(fmt(size, 1), 9) + lpad(fmt(fileMedian * 1e3, 0), 26) + " / "
            + fmt(fileBest * 1e3, 0) + " / " + pad(fmt(fileCPU * 1e3, 0), 17) + lpad(fmt(readMedian * 1e3, 0), 12)
            + " / " + pad(fmt(readBest * 1e3, 0), 12) + lpad(fmt(megabytes / fileMedian, 0), 10))
    }
  } catch {
    FileHandle.standardError.write("npz benchmark failed: \(error)\n".data(using: .utf8)!)
    exit(1)
  }
}

/// Writes the benchmark's files: one with stored members, one deflated (zlib level 6, as numpy.savez_compressed).
func writeNPZBenchFiles(theta: Matrix, x: Matrix, files: [(String, String)]) throws {
  for (label, path) in files {
    let t0 = now()
    try NPZ.write([("theta", theta), ("x", x)], to: path, compression: label == "deflate" ? .deflate : .stored)
    print("wrote \(path) in \(fmt(now() - t0, 2)) s")
  }
}

// `diffsbi-bench gemm`: GFLOP/s of Matrix.gemm at the network's shapes next to raw cblas_sgemm, 1 and 2 threads.

#if canImport(Accelerate)
  import Accelerate
#elseif canImport(COpenBLAS)
  import COpenBLAS
#endif
import DiffusionSBI

func runGEMMBenchmark() {
  let shapes = [(128, 256, 256), (512, 256, 256), (1024, 512, 512)]
  print("GEMM GFLOP/s (median of 7 timed batches of ~0.1 s; 1 thread: thread CPU clock, 2 threads: wall clock); \(machineDescription())")
  print("BLAS: \(BLAS.backendDescription)")
  print("| shape (M×K·K×N) | op | threads | Matrix.gemm | raw cblas_sgemm | ratio |")
  print("|---|---|---|---|---|---|")
  for threads in [1, 2] {
    Threading.count = threads
    for (m, k, n) in shapes {
      for (ta, tb, label) in [(false, false, "NN"), (true, false, "TN"), (false, true, "NT")] {
        var rng = Xoshiro(seed: 1)
        let a = ta ? rng.normalMatrix(rows: k, cols: m) : rng.normalMatrix(rows: m, cols: k)
        let b = tb ? rng.normalMatrix(rows: n, cols: k) : rng.normalMatrix(rows: k, cols: n)
        var c = Matrix(rows: m, cols: n)
        let flops = 2.0 * Double(m * n * k)
        let inner = calibrate { Matrix.gemm(a, transposeA: ta, b, transposeB: tb, into: &c) }
        // One thread: the thread CPU clock, robust to other tenants; two threads: wall clock.
        let clock: () -> Double
        if threads == 1 { clock = threadCPUTime } else { clock = now }
        let ours = medianTime(inner: inner, clock: clock) { Matrix.gemm(a, transposeA: ta, b, transposeB: tb, into: &c) }
        var craw = [Float](repeating: 0, count: m * n)
        let raw = a.storage.withUnsafeBufferPointer { pa in
          b.storage.withUnsafeBufferPointer { pb in
            craw.withUnsafeMutableBufferPointer { pc in
              medianTime(inner: inner, clock: clock) {
                #if canImport(Accelerate) || canImport(COpenBLAS)
                  cblas_sgemm(
                    CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, pa.baseAddress!, Int32(a.cols), pb.baseAddress!,
                    Int32(b.cols), 0, pc.baseAddress!, Int32(n))
                #endif
              }
            }
          }
        }
        let g1 = flops / ours / 1e9
        let g2 = flops / raw / 1e9
        print("| \(m)×\(k)·\(k)×\(n) | \(label) | \(threads) | \(fmt(g1)) | \(fmt(g2)) | \(fmt(g1 / g2, 3)) |")
      }
    }
  }
}

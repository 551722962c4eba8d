import Foundation
import TestSupport
import Testing

/// Whether /proc/cpuinfo lists AVX2 and FMA (false elsewhere).
let cpuHasAVX2FMA: Bool = {
  guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
  let set = Set(flags.split(separator: " "))
  return set.contains("avx2") && set.contains("fma")
}()

/// On a CPU with AVX2 and FMA, the tool runs OpenBLAS's AVX2 kernels even where OpenBLAS does not recognize the
/// CPU model and would fall back to its SSE3 ("Prescott") kernels (`BLAS.ensureFastKernels`).
@Suite(.serialized, .enabled(if: CLI.available && cpuHasAVX2FMA))
struct FastKernelTests {
  @Test func openBLASRunsAVX2Kernels() throws {
    let r = try CLI.run(["tasks"], environment: ["OPENBLAS_VERBOSE": "2"])
    #expect(r.status == 0, "\(r.stderr)")
    let cores = (r.stdout + r.stderr).split(separator: "\n").filter { $0.hasPrefix("Core:") }
    // Without OpenBLAS's verbose report (another BLAS) there is nothing to check.
    guard let last = cores.last else { return }
    #expect(!last.lowercased().contains("prescott"), "\(cores)")
  }
}

import Foundation
import TestSupport
import Testing

/// The flags /proc/cpuinfo lists (empty elsewhere).
let cpuFlags: Set<String> = {
  guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
  return Set(flags.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
}()

/// Whether /proc/cpuinfo lists AVX2 and FMA (false elsewhere).
let cpuHasAVX2FMA = cpuFlags.contains("avx2") && cpuFlags.contains("fma")

/// Whether /proc/cpuinfo lists the AVX-512 subsets OpenBLAS's SkylakeX kernels use.
let cpuHasAVX512 = ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(cpuFlags.contains)

/// On a CPU with AVX2 and FMA, the tool runs OpenBLAS's AVX2 kernels (AVX-512 ones where the CPU has AVX-512) even
/// where OpenBLAS does not recognize the CPU model and would fall back to its SSE3 ("Prescott") kernels
/// (`BLAS.ensureFastKernels`).
@Suite(.serialized, .enabled(if: CLI.available && cpuHasAVX2FMA))
struct FastKernelTests {
  @Test func openBLASRunsAVX2Kernels() throws {
    let r = try CLI.run(["tasks"], environment: ["OPENBLAS_VERBOSE": "2"])
    #expect(r.status == 0, "\(r.stderr)")
    let cores = (r.stdout + r.stderr).split(separator: "\n").filter { $0.hasPrefix("Core:") }
    // Without OpenBLAS's verbose report (another BLAS) there is nothing to check.
    guard let last = cores.last else { return }
    #expect(!last.lowercased().contains("prescott"), "\(cores)")
    // On an AVX-512 CPU the AVX2-only kernels would leave half the vector width unused.
    if cpuHasAVX512 { #expect(!last.lowercased().contains("haswell"), "\(cores)") }
  }
}

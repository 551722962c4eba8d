// libFuzzer entry point for the file readers and the model-configuration reader. Compiled once per reader with -D FUZZ_<READER> (see
// scripts/fuzz/run.sh). Every input must end in a value or a thrown FileFormatError: a crash, a hang or an
// allocation beyond the input's size is a finding.

import FileFormats
#if FUZZ_MODELCONFIG
import NeuralNet
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
  let bytes = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
  #if FUZZ_NPY
  if let a = try? NPY.decode(bytes) {
    precondition(a.data.count == a.shape.reduce(1, *))
    precondition(a.data.count <= bytes.count)  // at least one byte per element
  }
  #elseif FUZZ_NPZ
  if let z = try? NPZ.decode(bytes) {
    precondition(z.names.count == z.arrays.count)
  }
  #elseif FUZZ_CSV
  if let t = try? CSV.decode(bytes) {
    precondition(t.names.count == t.matrix.cols)
    precondition(t.matrix.count <= bytes.count)
  }
  #elseif FUZZ_SAFETENSORS
  if let f = try? SafeTensors.decode(bytes) {
    for name in f.tensors.names { precondition(f.tensors[name]!.data.count <= bytes.count) }
  }
  #elseif FUZZ_INFLATE
  // First two bytes: the declared output size (little-endian); the rest is the raw DEFLATE stream (zlib).
  if bytes.count >= 2 {
    let size = Int(bytes[0]) | Int(bytes[1]) << 8
    if let out = try? Inflate.decompress(Array(bytes[2...]), outputSize: size) { precondition(out.count == size) }
  }
  #elseif FUZZ_MODELCONFIG
  // A model directory's config.json: decoded, validated and, when it describes at most 2^16 parameters, built.
  _ = try? ModelFile.checkConfiguration(bytes, buildingUpTo: 1 << 16)
  #else
  #error("define one of FUZZ_NPY, FUZZ_NPZ, FUZZ_CSV, FUZZ_SAFETENSORS, FUZZ_INFLATE, FUZZ_MODELCONFIG")
  #endif
  return 0
}

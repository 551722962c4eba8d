"""Writes small valid seed inputs for the file-reader fuzzers into Fuzz/seeds/<reader>/ (needs numpy)."""
import io, json, os, struct, sys, zlib
import numpy as np

root = sys.argv[1] if len(sys.argv) > 1 else "Fuzz/seeds"
def put(reader, name, data):
    os.makedirs(f"{root}/{reader}", exist_ok=True)
    with open(f"{root}/{reader}/{name}", "wb") as f:
        f.write(data)

def npy(a, version=None):
    b = io.BytesIO()
    np.lib.format.write_array(b, a, version=version)
    return b.getvalue()

a = np.arange(6, dtype=np.float32).reshape(2, 3)
put("npy", "f4_v1", npy(a))
put("npy", "f8_be_fortran_v2", npy(np.asfortranarray(a.astype(">f8")), (2, 0)))
put("npy", "f4_3d_v3", npy(np.ones((2, 2, 2), np.float32), (3, 0)))
put("npy", "i8_1d", npy(np.arange(4)))
put("npy", "bool_scalar", npy(np.array(True)))
put("npy", "f2_empty", npy(np.zeros((0, 3), np.float16)))

for name, fn in [("stored", np.savez), ("deflated", np.savez_compressed)]:
    b = io.BytesIO()
    fn(b, theta=a, x=np.linspace(0, 1, 12).reshape(4, 3))
    put("npz", name, b.getvalue())

put("csv", "basic", b"theta_1,theta_2,x\n1,2.5,-3e2\nnan,inf,-inf\n")
put("csv", "quoted", b'"a, b","c""d"\r\n 1 , 2 \r\n\r\n3,4\r\n')

def safetensors(tensors, meta=None):
    header, buf = {}, b""
    if meta: header["__metadata__"] = meta
    for k, (dtype, arr) in tensors.items():
        raw = arr.tobytes()
        header[k] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [len(buf), len(buf) + len(raw)]}
        buf += raw
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + buf

put("safetensors", "f32", safetensors({"w": ("F32", a), "b": ("F32", np.ones(3, np.float32))}, {"format": "pt"}))
put("safetensors", "mixed", safetensors({"d": ("F64", np.ones(2)), "h": ("F16", np.ones(2, np.float16)),
                                          "i": ("I8", np.array([-1, 1], np.int8))}))

words = [b"posterior", b"score", b"diffusion", b"noise", b"sample", b"theta", b"x"]
text = b" ".join(words[i] for i in np.random.default_rng(1).integers(0, 7, 300))
for level, strategy in [(9, zlib.Z_DEFAULT_STRATEGY), (1, zlib.Z_FIXED), (0, zlib.Z_DEFAULT_STRATEGY)]:
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    d = c.compress(text[:600]) + c.flush()
    put("inflate", f"level{level}_s{strategy}", struct.pack("<H", 600) + d)

#!/usr/bin/env python3
"""Reads diffsbi outputs with NumPy (and the safetensors package when installed) and checks shapes and values.

Usage: interop_check.py --samples FILE.npy [--shape R,N,P] [--model DIR] [--simulations FILE.npz]

- samples: a .npy written by `diffsbi sample`; must be float32, finite, of the given shape when --shape is set.
- model: a directory written by `diffsbi train`; config.json must parse, weights.safetensors is read by a
  small reader written here from the format's definition (8-byte little-endian header length, JSON header,
  raw little-endian data) and, when the `safetensors` package exists, also by it; both must agree, and every
  tensor must be finite with the shape its header declares.
- simulations: a .npz written by `diffsbi simulate`; arrays theta and x with equal row counts.
Exits 0 when every check passes, 1 otherwise (one line per failure on stderr).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        arr = np.frombuffer(data[start:end], dtype=DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples")
    ap.add_argument("--shape")
    ap.add_argument("--model")
    ap.add_argument("--simulations")
    a = ap.parse_args()
    failures = []

    def check(ok, message):
        if not ok:
            failures.append(message)

    if a.samples:
        s = np.load(a.samples)
        check(s.dtype == np.float32, f"{a.samples}: dtype {s.dtype}, expected float32")
        if a.shape:
            want = tuple(int(v) for v in a.shape.split(","))
            check(s.shape == want, f"{a.samples}: shape {s.shape}, expected {want}")
        check(bool(np.isfinite(s).all()), f"{a.samples}: non-finite values")
        check(float(s.std()) > 0, f"{a.samples}: all samples identical")
    if a.model:
        cfg = json.load(open(os.path.join(a.model, "config.json")))
        check(isinstance(cfg, dict) and len(cfg) > 0, f"{a.model}/config.json: empty")
        weights_path = os.path.join(a.model, "weights.safetensors")
        tensors = read_safetensors(weights_path)
        check(len(tensors) > 0, f"{weights_path}: no tensors")
        total = 0
        for name, t in tensors.items():
            check(bool(np.isfinite(t).all()), f"{weights_path}[{name}]: non-finite values")
            total += t.size
        check(total > 0, f"{weights_path}: zero weights")
        if isinstance(cfg.get("parameters"), int):
            trainable = sum(t.size for n, t in tensors.items() if n.startswith(("network.", "summary.")))
            check(trainable == cfg["parameters"],
                  f"{weights_path}: {trainable} network weights, config.json says {cfg['parameters']}")
        try:
            from safetensors.numpy import load_file
        except ImportError:
            load_file = None
        if load_file is not None:
            other = load_file(weights_path)
            check(set(other) == set(tensors), f"{weights_path}: safetensors package sees other tensor names")
            for name in tensors:
                if name in other:
                    check(np.array_equal(other[name], tensors[name]), f"{weights_path}[{name}]: values differ")
        print(f"model: {len(tensors)} tensors, {total} values"
              + (" (checked with the safetensors package too)" if load_file else ""))
    if a.simulations:
        z = np.load(a.simulations)
        check("theta" in z and "x" in z, f"{a.simulations}: arrays theta and x expected, found {list(z.keys())}")
        if "theta" in z and "x" in z:
            check(z["theta"].shape[0] == z["x"].shape[0], f"{a.simulations}: row counts differ")
            check(z["theta"].ndim == 2 and z["x"].ndim == 2, f"{a.simulations}: arrays must be 2-D")
    for f in failures:
        print("interop_check: " + f, file=sys.stderr)
    if not failures:
        print("interop_check: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Serve a Python simulator to ``diffsbi`` over the .npy pipe protocol (Documentation/Simulators.md).

``diffsbi train --simulator "python3 my_sim.py" ...`` starts ``my_sim.py`` as a long-lived worker: it writes each
batch of parameters as one .npy array (float64, shape [b, P]) to the worker's standard input and reads one .npy
array of simulated data ([b, D] or [b, N, D]) from its standard output, in order. A simulator script only needs::

    from diffsbi.simulator import serve

    def simulate(theta, rng):          # theta: float64 array [b, P]; rng: numpy Generator
        return theta + 0.1 * rng.standard_normal(theta.shape)

    if __name__ == "__main__":
        serve(simulate)

Rows of NaN or infinity mark failed simulations: ``diffsbi`` drops and counts them.
"""

import inspect
import io
import os
import sys

import numpy as np

PROTOCOL_VERSION = 1


def worker_rng():
    """A numpy Generator seeded from DIFFSBI_SEED and DIFFSBI_WORKER, so that a run is reproducible."""
    seed = int(os.environ.get("DIFFSBI_SEED", "0"))
    worker = int(os.environ.get("DIFFSBI_WORKER", "0"))
    return np.random.default_rng([seed, worker])


def _read_exact(stream, n):
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_npy(stream):
    """One .npy array from a pipe, or None at end of input (numpy's own reader needs a seekable file)."""
    magic = _read_exact(stream, 8)
    if not magic:
        return None
    if len(magic) < 8 or magic[:6] != b"\x93NUMPY":
        raise ValueError("the input is not an .npy stream")
    size = 2 if magic[6] == 1 else 4
    length = int.from_bytes(_read_exact(stream, size), "little")
    header = np.lib.format.read_array_header_1_0 if magic[6] == 1 else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = header(io.BytesIO(length.to_bytes(size, "little") + _read_exact(stream, length)))
    count = int(np.prod(shape)) if shape else 1
    data = _read_exact(stream, count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError("the input ended inside an array")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C")


def write_npy(stream, array):
    """One .npy array to a pipe, flushed."""
    array = np.ascontiguousarray(array)
    header = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(stream, header)
    except ValueError:  # a header above 64 KiB needs format 2.0
        np.lib.format.write_array_header_2_0(stream, header)
    stream.write(array.tobytes())  # numpy's write_array needs a seekable file for real file objects
    stream.flush()


def _takes_rng(simulate):
    try:
        params = inspect.signature(simulate).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def serve(simulate, stdin=None, stdout=None, rng=None):
    """Answer batches until diffsbi closes the pipe.

    ``simulate(theta)`` or ``simulate(theta, rng)`` gets a float64 array [b, P] and returns an array with b rows
    ([b, D] or [b, N, D]). While it runs, ``print`` goes to standard error (the protocol owns standard output),
    and diffsbi shows those lines in its log. ``rng`` defaults to ``worker_rng()``.
    """
    inp = stdin if stdin is not None else sys.stdin.buffer
    out = stdout if stdout is not None else sys.stdout.buffer
    if stdout is None:
        sys.stdout = sys.stderr  # user prints must not corrupt the protocol stream
    rng = worker_rng() if rng is None else rng
    pass_rng = _takes_rng(simulate)
    while True:
        theta = read_npy(inp)
        if theta is None:
            return  # diffsbi closed the pipe: the run is over
        x = simulate(theta, rng) if pass_rng else simulate(theta)
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
        if x.ndim == 1:
            x = x.reshape(len(theta), -1) if len(theta) else x.reshape(0, 1)
        if x.shape[0] != theta.shape[0]:
            raise ValueError(f"simulate returned {x.shape[0]} rows for {theta.shape[0]} parameter rows")
        write_npy(out, x)

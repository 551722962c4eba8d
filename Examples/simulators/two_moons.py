#!/usr/bin/env python3
"""The two-moons simulator written in Python, served to diffsbi over the .npy pipe protocol.

    diffsbi train --simulator "python3 Examples/simulators/two_moons.py" --task two_moons \
        --simulations 100000 --out moons-model

(--task two_moons gives the prior, U(-1, 1)^2, and lets `diffsbi sample --observation 1` use the sbibm
observations.) Without diffsbi's Python package installed, the helper is found next to this repository's python/.
"""
import os
import sys

import numpy as np

try:
    from diffsbi.simulator import serve
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    from diffsbi.simulator import serve


def simulate(theta, rng):
    n = theta.shape[0]
    a = rng.uniform(-np.pi / 2, np.pi / 2, n)
    r = 0.1 + 0.01 * rng.standard_normal(n)
    p = np.stack([r * np.cos(a) + 0.25, r * np.sin(a)], axis=1)
    s = np.sqrt(0.5)
    return np.stack([p[:, 0] - np.abs(theta[:, 0] + theta[:, 1]) * s, p[:, 1] + (theta[:, 1] - theta[:, 0]) * s], axis=1)


if __name__ == "__main__":
    serve(simulate)

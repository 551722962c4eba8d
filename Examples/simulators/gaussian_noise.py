#!/usr/bin/env python3
"""The smallest useful simulator: x = theta + 0.1 * noise (any number of parameters).

Optional arguments make it a test bed for the protocol: --sleep-per-row SECONDS (a costly simulator),
--nan-every K (every K-th row fails with NaN).
"""
import argparse
import os
import sys
import time

import numpy as np

try:
    from diffsbi.simulator import serve
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    from diffsbi.simulator import serve

parser = argparse.ArgumentParser()
parser.add_argument("--sleep-per-row", type=float, default=0.0)
parser.add_argument("--nan-every", type=int, default=0)
args = parser.parse_args()


def simulate(theta, rng):
    if args.sleep_per_row > 0:
        time.sleep(args.sleep_per_row * len(theta))
    x = theta + 0.1 * rng.standard_normal(theta.shape)
    if args.nan_every > 0:
        x[:: args.nan_every] = np.nan
    return x


if __name__ == "__main__":
    serve(simulate)

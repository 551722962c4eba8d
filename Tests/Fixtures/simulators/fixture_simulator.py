#!/usr/bin/env python3
"""A test simulator for the .npy pipe protocol, one behaviour per mode (argument 1):

  double        x = 2 theta (deterministic)
  slow          x = 2 theta after sleeping 5 ms per row (deterministic; for kill-and-resume tests)
  nan           x = 2 theta, every 4th row NaN
  rows          one row too few (written without the helper's own check)
  shape         x = [theta, theta] (twice as many columns)
  set           x of shape [b, 3, P]: theta, 2 theta, 3 theta (a set of three items)
  crash-after   answers argument 2 batches, then exits with status 7
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "python"))
from diffsbi.simulator import read_npy, write_npy  # noqa: E402

mode = sys.argv[1]
out = sys.stdout.buffer
answered = 0
while True:
    theta = read_npy(sys.stdin.buffer)
    if theta is None:
        break
    x = 2 * theta
    if mode == "slow":
        time.sleep(0.005 * len(theta))
    elif mode == "nan":
        x[::4] = np.nan
    elif mode == "rows":
        x = x[:-1]
    elif mode == "shape":
        x = np.hstack([theta, theta])
    elif mode == "set":
        x = np.stack([theta, 2 * theta, 3 * theta], axis=1)
    elif mode == "crash-after" and answered >= int(sys.argv[2]):
        print("fixture: giving up", file=sys.stderr, flush=True)
        sys.exit(7)
    write_npy(out, x)
    answered += 1

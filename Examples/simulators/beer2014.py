#!/usr/bin/env python3
"""The review's case-study ODE model (Beer et al. 2014; Documentation/Beer2014.md) written as a user would write
their own stiff ODE simulator: numpy and SciPy's BDF integrator, served to diffsbi over the .npy pipe protocol.

    diffsbi train --simulator "python3 Examples/simulators/beer2014.py" --task beer2014 --simulations 4096 \
        --summary time-series --summary-dim 144 --out beer-model

(--task beer2014 gives the prior over the 72 log10 parameters and the data shape [714, 38].) It computes what the
built-in beer2014 task computes, about 50 times slower: the built-in task integrates with SUNDIALS CVODE from
Swift. `--noise-free` returns the observables without measurement noise (used by the example's test against the
collection's nominal simulation, data/beer2014/nominal_simulation.npy). A failed integration makes the whole data
set NaN, which diffsbi drops and counts.
"""
import os
import sys

import numpy as np
from scipy.integrate import solve_ivp

try:
    from diffsbi.simulator import serve
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    from diffsbi.simulator import serve

TYPES = ["T1", "T3", "T5", "wt"]
CONDITIONS = [f"typeID{t}_ExpID{e}" for t in TYPES[:3] for e in range(1, 7)] + ["typeIDwt_ExpID4"]
TIMES = 5.0 * np.arange(714)
# Positions in θ (the PEtab parameter table's order): Bacmax ×19, β ×19, init_Bac, kdegi ×4, kdim ×4, ksyn ×4,
# sd_Bacnorm, sd_IndconcNormRange, τ ×19.
INIT, KDEGI, KDIM, KSYN, SD, TAU = 38, 39, 43, 47, 51, 53


def rates(theta, c):
    """Bacmax, β, init_Bac, kdegi, kdim, ksyn, τ of condition c (linear scale) from θ (log10 scale)."""
    k = min(c // 6, 3)
    idx = [c, 19 + c, INIT, KDEGI + k, KDIM + k, KSYN + k, TAU + c]
    return 10.0 ** theta[idx]


def condition_observables(theta, c, rtol=1e-8, atol=1e-12):
    """Bac and Ind of condition c at TIMES, [714, 2]; None when the integrator fails."""
    bacmax, beta, bac0, kdegi, kdim, ksyn, tau = rates(theta, c)

    def rhs(lag):
        def f(t, y):
            bac, glu, cglu, ind = y
            uptake, dimer = ksyn * bac * glu, kdim * cglu * cglu
            return [beta * lag * bac * (bacmax - bac) / bacmax, -uptake, uptake - dimer, dimer - kdegi * ind]

        def jac(t, y):
            bac, glu, cglu, _ = y
            return [[beta * lag * (1 - 2 * bac / bacmax), 0, 0, 0],
                    [-ksyn * glu, -ksyn * bac, 0, 0],
                    [ksyn * glu, ksyn * bac, -2 * kdim * cglu, 0],
                    [0, 0, 2 * kdim * cglu, -kdegi]]
        return f, jac

    out = np.empty((len(TIMES), 2))
    y = np.array([bac0, 10.0, 0.0, 0.0])
    end = TIMES[-1]
    # The growth switches on at τ: integrate [0, τ] and [τ, end] separately (outputs at t ≥ τ from the second).
    first = TIMES < tau if tau < end else np.ones(len(TIMES), dtype=bool)
    pieces = [(0.0, min(tau, end), first, 0.0)]
    if tau < end:
        pieces.append((tau, end, ~first, 1.0))
    for t0, t1, mask, lag in pieces:
        f, jac = rhs(lag)
        if t1 <= t0:
            out[mask] = y[[0, 3]]
            continue
        # Evaluate at the piece's outputs and at its end, whose state starts the next piece.
        at = TIMES[mask]
        extra = len(at) == 0 or at[-1] < t1
        if extra:
            at = np.append(at, t1)
        sol = solve_ivp(f, (t0, t1), y, method="BDF", jac=jac, t_eval=at, rtol=rtol, atol=atol)
        if sol.status != 0 or not np.all(np.isfinite(sol.y)):
            return None
        out[mask] = sol.y[[0, 3], :len(at) - extra].T
        y = sol.y[:, -1]
    return out


def observables(theta):
    """The noise-free [714, 38] series of one θ (column 2c: Bacnorm, 2c + 1: IndconcNormRange of condition c)."""
    x = np.empty((len(TIMES), 2 * len(CONDITIONS)))
    for c in range(len(CONDITIONS)):
        h = condition_observables(theta, c)
        if h is None:
            return None
        x[:, 2 * c:2 * c + 2] = h
    return x


def make_simulator(noise):
    def simulate(theta, rng):
        out = np.full((theta.shape[0], len(TIMES), 2 * len(CONDITIONS)), np.nan)
        for i, t in enumerate(theta):
            h = observables(t)
            if h is None:
                continue
            if noise:
                sd = np.tile(10.0 ** t[[SD, SD + 1]], len(CONDITIONS))
                h = np.maximum(0.0, h + sd * rng.standard_normal(h.shape))
            out[i] = h
        return out
    return simulate


if __name__ == "__main__":
    serve(make_simulator(noise="--noise-free" not in sys.argv[1:]))

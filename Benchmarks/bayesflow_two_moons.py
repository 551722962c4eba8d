"""BayesFlow's default diffusion workflow on a simulation file, timed: the other side of Benchmarks/bayesflow_compare.sh.

    python bayesflow_two_moons.py --data sims.npz --observation obs.csv --out draws.npy
        [--epochs 100] [--batch-size 32] [--draws 10000] [--threads 2]

Trains `bf.BasicWorkflow(inference_network=bf.networks.DiffusionModel(), inference_variables=["theta"],
inference_conditions=["x"])` with `fit_offline` on the arrays "theta" and "x" of the .npz file (BayesFlow's defaults
apart from the epochs and batch size given), then draws `--draws` posterior samples for the observation (a CSV or
.npy row) with `workflow.sample`. Prints one JSON line: train_seconds, sample_seconds (the first call, compilation
included, and a second timed call), draws, and the versions. Needs `pip install bayesflow jax` (the JAX backend is
selected here); the thread count is fixed through XLA's flags before JAX starts.
"""

import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--observation", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--draws", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    a = ap.parse_args()

    os.environ.setdefault("KERAS_BACKEND", "jax")
    if a.threads > 0:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={a.threads}")
    import numpy as np
    try:
        import bayesflow as bf
        import jax
        import keras
    except ImportError as e:
        print(f"bayesflow_two_moons.py: {e} (pip install bayesflow jax)", file=sys.stderr)
        sys.exit(3)

    data = np.load(a.data)
    theta = np.asarray(data["theta"], dtype=np.float32)
    x = np.asarray(data["x"], dtype=np.float32).reshape(len(theta), -1)
    if a.observation.endswith(".npy"):
        x_o = np.load(a.observation).astype(np.float32).reshape(1, -1)
    else:
        with open(a.observation) as f:
            first = f.readline()
        try:  # a header row (sbibm's observation.csv has one) is skipped
            [float(v) for v in first.split(",")]
            skip = 0
        except ValueError:
            skip = 1
        x_o = np.loadtxt(a.observation, delimiter=",", ndmin=2, skiprows=skip).astype(np.float32)[:1]

    workflow = bf.BasicWorkflow(inference_network=bf.networks.DiffusionModel(), inference_variables=["theta"],
                                inference_conditions=["x"])
    start = time.perf_counter()
    workflow.fit_offline(data={"theta": theta, "x": x}, epochs=a.epochs, batch_size=a.batch_size, verbose=0)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    draws = workflow.sample(num_samples=a.draws, conditions={"x": x_o})["theta"]
    first = time.perf_counter() - start
    start = time.perf_counter()
    draws = workflow.sample(num_samples=a.draws, conditions={"x": x_o})["theta"]
    second = time.perf_counter() - start
    draws = np.asarray(draws).reshape(-1, theta.shape[1])
    np.save(a.out, draws.astype(np.float64))
    print(json.dumps({"train_seconds": train_seconds, "sample_seconds_first": first, "sample_seconds": second,
                      "draws": int(draws.shape[0]), "epochs": a.epochs, "batch_size": a.batch_size,
                      "bayesflow": bf.__version__, "keras": keras.__version__, "jax": jax.__version__}))


if __name__ == "__main__":
    main()

"""DiffusionSBI from Python: train diffusion posterior estimators and sample them, through the ``diffsbi`` executable.

    import numpy as np, diffsbi

    model = diffsbi.train(theta, x)                      # arrays [n, P] and [n, D] (or [n, N, D])
    draws = model.sample(x_observed, n=1000)             # array [1000, P]
    report = model.diagnose(theta_test, x_test)          # SBC, coverage and calibration figures (a dict)

    def simulate(theta, rng):                            # your simulator, in Python
        return theta + 0.1 * rng.standard_normal(theta.shape)

    model = diffsbi.train_with_simulator(simulate, {"type": "uniform", "low": [-1, -1], "high": [1, 1]},
                                         simulations=10_000)

The package needs numpy only. It finds the executable through the ``DIFFSBI_EXECUTABLE`` environment variable or on
PATH; every call runs it on files in a temporary directory (Documentation/Python.md).
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading

import numpy as np

from .simulator import read_npy, serve, worker_rng, write_npy  # noqa: F401

__all__ = ["DiffSBIError", "Model", "train", "train_with_simulator", "executable", "serve"]
__version__ = "0.1.0"


class DiffSBIError(RuntimeError):
    """A diffsbi command failed; ``exit_code`` is 2 for bad input and 1 for other failures."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def executable():
    """The diffsbi executable: $DIFFSBI_EXECUTABLE, else ``diffsbi`` on PATH."""
    path = os.environ.get("DIFFSBI_EXECUTABLE") or shutil.which("diffsbi")
    if not path or not os.access(path, os.X_OK):
        raise DiffSBIError("diffsbi executable not found: put it on PATH or set DIFFSBI_EXECUTABLE", 2)
    return path


def _option(name):
    return "--" + name.replace("_", "-")


def _options(options):
    """Keyword options as command-line arguments: flag=True → --flag, key=value → --key value (None: omitted)."""
    args = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        if value is True:
            args.append(_option(key))
        elif isinstance(value, (list, tuple)):
            args += [_option(key), ",".join(str(v) for v in value)]
        else:
            args += [_option(key), str(value)]
    return args


def _run(args, quiet=True, process=None):
    """Runs diffsbi with ``args`` and --json; returns the parsed summary (or {})."""
    command = [executable()] + [str(a) for a in args] + ["--json"] + (["--quiet"] if quiet else [])
    if process is not None:
        process.append(None)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=None if not quiet else subprocess.PIPE)
    if process is not None:
        process[-1] = proc
    out, err = proc.communicate()
    if proc.returncode != 0:
        message = (err or b"").decode(errors="replace").strip().splitlines()
        raise DiffSBIError(message[-1] if message else f"diffsbi exited with status {proc.returncode}", proc.returncode)
    text = out.decode().strip().splitlines()
    return json.loads(text[-1]) if text else {}


def _write_simulations(path, theta, x):
    theta = np.asarray(theta, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if theta.ndim == 1:
        theta = theta[:, None]
    if x.ndim == 1:
        x = x[:, None]
    if theta.shape[0] != x.shape[0]:
        raise ValueError(f"theta has {theta.shape[0]} rows and x {x.shape[0]}")
    np.savez(path, theta=theta, x=x)


def _prior_file(prior, directory):
    """A prior given as a dict (the JSON specification) or as a path to a JSON file."""
    if prior is None:
        return None
    if isinstance(prior, (str, os.PathLike)):
        return os.fspath(prior)
    path = os.path.join(directory, "prior.json")
    with open(path, "w") as f:
        json.dump(prior, f)
    return path


class Model:
    """A trained model directory (written by ``diffsbi train``)."""

    def __init__(self, path, summary=None):
        self.path = os.fspath(path)
        if not os.path.exists(os.path.join(self.path, "config.json")):
            raise DiffSBIError(f"{self.path} is not a diffsbi model directory", 2)
        self.summary = summary or {}

    def __repr__(self):
        return f"diffsbi.Model({self.path!r})"

    def sample(self, observation, n=1000, seed=0, **options):
        """``n`` posterior draws for one observation (array [D], or [N, D] for sets and series): array [n, P].

        Options are diffsbi sample's, as keywords: ``sampler="dpm-solver-2m"``, ``steps=50``, ``compose=True`` (then
        ``observation`` holds several observations to compose, one per row)...
        """
        obs = np.asarray(observation, dtype=np.float64)
        with tempfile.TemporaryDirectory(prefix="diffsbi-") as d:
            obs_path, out = os.path.join(d, "observation.npy"), os.path.join(d, "draws.npy")
            np.save(obs_path, obs if options.get("compose") else obs[None, ...])
            _run(["sample", "--model", self.path, "--observation", obs_path, "--count", n, "--out", out,
                  "--seed", seed] + _options(options))
            draws = np.load(out)
        return draws[0] if draws.ndim == 3 and draws.shape[0] == 1 else draws

    def generate(self, theta, n=1, seed=0, **options):
        """Fields for each row of ``theta`` [R, P] (or one [P]) from a field generator (``train(...,
        target="field")``): array [R, H, W] (or [R, H, W, C]) with ``n=1``, else [R, n, H, W(, C)]; one θ row [P] drops
        the leading axis. Options are diffsbi generate's, as keywords: ``sampler="dpm-solver-2m"``, ``steps=25``.
        """
        t = np.asarray(theta, dtype=np.float64)
        with tempfile.TemporaryDirectory(prefix="diffsbi-") as d:
            theta_path, out = os.path.join(d, "theta.npy"), os.path.join(d, "fields.npy")
            np.save(theta_path, t[None, :] if t.ndim == 1 else t)
            _run(["generate", "--model", self.path, "--theta", theta_path, "--count", n, "--out", out,
                  "--seed", seed] + _options(options))
            fields = np.load(out)
        return fields[0] if t.ndim == 1 else fields

    def diagnose(self, theta=None, x=None, datasets=300, draws=200, out=None, **options):
        """Simulation-based calibration on held-out simulations (``theta``, ``x``) or, without them, on fresh
        simulations of the model's task; returns diffsbi diagnose's summary (a dict). ``out`` keeps the report."""
        with tempfile.TemporaryDirectory(prefix="diffsbi-") as d:
            args = ["diagnose", "--model", self.path, "--datasets", datasets, "--draws", draws,
                    "--out", out or os.path.join(d, "report")]
            if theta is not None:
                sims = os.path.join(d, "held_out.npz")
                _write_simulations(sims, theta, x)
                args += ["--data", sims]
            return _run(args + _options(options))


def train(theta, x, out=None, prior=None, seed=0, quiet=True, **options):
    """Trains on simulations ``theta`` [n, P] and ``x`` [n, D] (or [n, N, D]); returns the Model.

    ``out`` is the model directory (default: a new temporary one). ``prior`` (a dict in the JSON prior format or a
    path) states the prior theta was drawn from. Other options are diffsbi train's, as keywords: ``method=
    "flow-matching"``, ``epochs=50``, ``batch_size=64``, ``summary="deepset"``...
    """
    out = os.fspath(out) if out is not None else tempfile.mkdtemp(prefix="diffsbi-model-")
    with tempfile.TemporaryDirectory(prefix="diffsbi-") as d:
        sims = os.path.join(d, "simulations.npz")
        _write_simulations(sims, theta, x)
        args = ["train", "--data", sims, "--out", out, "--seed", seed]
        p = _prior_file(prior, d)
        if p:
            args += ["--prior", p]
        summary = _run(args + _options(options), quiet=quiet)
    return Model(out, summary)


def train_with_simulator(simulate, prior, simulations, out=None, online=False, workers=1, seed=0, quiet=True,
                         **options):
    """Trains with a Python simulator that diffsbi drives: ``simulate(theta)`` or ``simulate(theta, rng)`` gets
    float64 parameters [b, P] drawn from ``prior`` (a dict in the JSON prior format, a path, or a built-in task's
    name such as ``"two_moons"``) and returns [b, D] or [b, N, D]; rows of NaN mark failed simulations.

    ``simulations`` is the budget; with ``online=True`` fresh simulations feed every batch while the network
    trains. ``workers`` threads run ``simulate`` (numpy releases the interpreter lock in its heavy operations).
    """
    out = os.fspath(out) if out is not None else tempfile.mkdtemp(prefix="diffsbi-model-")
    d = tempfile.mkdtemp(prefix="diffsbi-relay-")
    process = []
    failure = []

    def relay(k):
        # The worker command copies its stdin to req.k and resp.k to its stdout; this thread serves both ends.
        try:
            with open(os.path.join(d, f"req.{k}"), "rb") as req, open(os.path.join(d, f"resp.{k}"), "wb") as resp:
                serve(simulate, stdin=req, stdout=resp, rng=np.random.default_rng([seed, k]))
        except BaseException as e:  # the user's simulator failed: stop diffsbi, re-raise below
            failure.append(e)
            if process and process[-1] is not None:
                process[-1].kill()

    try:
        for k in range(workers):
            os.mkfifo(os.path.join(d, f"req.{k}"))
            os.mkfifo(os.path.join(d, f"resp.{k}"))
        threads = [threading.Thread(target=relay, args=(k,), daemon=True) for k in range(workers)]
        for t in threads:
            t.start()
        command = f"cat '{d}'/resp.$DIFFSBI_WORKER & exec cat > '{d}'/req.$DIFFSBI_WORKER"
        args = ["train", "--simulator", command, "--workers", workers, "--simulations", simulations, "--out", out,
                "--seed", seed]
        if isinstance(prior, str) and not prior.endswith(".json") and not os.path.exists(prior):
            args += ["--task", prior]
        else:
            args += ["--prior", _prior_file(prior, d)]
        if online:
            args.append("--online")
        try:
            summary = _run(args + _options(options), quiet=quiet, process=process)
        except DiffSBIError:
            if failure:
                raise failure[0]
            raise
        if failure:
            raise failure[0]
        return Model(out, summary)
    finally:
        for k in range(workers):  # unblock relay threads still waiting on a FIFO
            for name, mode in ((f"req.{k}", os.O_WRONLY), (f"resp.{k}", os.O_RDONLY)):
                try:
                    os.close(os.open(os.path.join(d, name), mode | os.O_NONBLOCK))
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)

"""The Beer et al. (2014) ODE model written as a user's Python simulator (Examples/simulators/beer2014.py): its
noise-free output against the PEtab collection's nominal simulation, and a campaign through diffsbi's simulator
protocol. Skipped without SciPy (and the campaign without the diffsbi executable)."""

import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import diffsbi  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
EXAMPLE = os.path.join(ROOT, "Examples", "simulators", "beer2014.py")
DATA = os.path.join(ROOT, "data", "beer2014")

try:
    import scipy  # noqa: F401
    HAVE_SCIPY = True
except ImportError:
    HAVE_SCIPY = False


def load_example():
    spec = importlib.util.spec_from_file_location("beer2014_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@unittest.skipUnless(HAVE_SCIPY, "needs scipy")
class Beer2014Example(unittest.TestCase):
    def test_nominal_simulation_matches_the_collection(self):
        example = load_example()
        theta = np.log10(np.load(os.path.join(DATA, "nominal_parameters.npy")))
        self.assertEqual(theta.shape, (72,))
        h = example.observables(theta)
        reference = np.load(os.path.join(DATA, "nominal_simulation.npy"))
        self.assertEqual(h.shape, reference.shape)
        # The collection's table has 10 significant digits; the built-in simulator matches it within 1e-7.
        self.assertLess(np.abs(h - reference).max(), 1e-6)

    def test_campaign_through_the_protocol(self):
        try:
            exe = diffsbi.executable()
        except diffsbi.DiffSBIError:
            self.skipTest("no diffsbi executable")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x.npz")
            r = subprocess.run(
                [exe, "simulate", "--task", "beer2014", "--simulator", f"{sys.executable} {EXAMPLE}", "--count", "2",
                 "--simulator-batch", "2", "--workers", "1", "--seed", "1", "--out", out, "--quiet"],
                capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with np.load(out) as z:
                x = z["x"]
            self.assertEqual(x.shape, (2, 714, 38))
            self.assertTrue(np.all(np.isfinite(x)) and np.all(x >= 0))


if __name__ == "__main__":
    unittest.main()

"""Tests of the Python front end against the diffsbi executable ($DIFFSBI_EXECUTABLE or PATH)."""

import io
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import diffsbi  # noqa: E402
from diffsbi.simulator import read_npy, write_npy  # noqa: E402

FAST = {"epochs": 3, "widths": [32, 32], "batch_size": 64}


def gaussian_simulations(n, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-1, 1, (n, 2))
    return theta, theta + 0.1 * rng.standard_normal((n, 2))


def have_executable():
    try:
        diffsbi.executable()
        return True
    except diffsbi.DiffSBIError:
        return False


class ProtocolHelpers(unittest.TestCase):
    def test_npy_stream_round_trip(self):
        buf = io.BytesIO()
        a = np.arange(12, dtype=np.float64).reshape(3, 4)
        b = np.ones((2, 3, 2))
        write_npy(buf, a)
        write_npy(buf, b)
        buf.seek(0)
        np.testing.assert_array_equal(read_npy(buf), a)
        np.testing.assert_array_equal(read_npy(buf), b)
        self.assertIsNone(read_npy(buf))

    def test_serve_answers_in_order_and_keeps_stdout_clean(self):
        code = (
            "import sys; sys.path.insert(0, %r)\n"
            "from diffsbi.simulator import serve\n"
            "def sim(t):\n    print('noise on stdout is redirected')\n    return 2 * t\n"
            "serve(sim)\n" % os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        )
        requests = io.BytesIO()
        batches = [np.random.default_rng(k).uniform(size=(5 + k, 3)) for k in range(3)]
        for t in batches:
            write_npy(requests, t)
        p = subprocess.run([sys.executable, "-c", code], input=requests.getvalue(), capture_output=True, check=True)
        answers = io.BytesIO(p.stdout)
        for t in batches:
            np.testing.assert_array_equal(read_npy(answers), 2 * t)
        self.assertIsNone(read_npy(answers))
        self.assertIn(b"redirected", p.stderr)


@unittest.skipUnless(have_executable(), "needs the diffsbi executable (DIFFSBI_EXECUTABLE or PATH)")
class FrontEnd(unittest.TestCase):
    def test_train_sample_diagnose(self):
        theta, x = gaussian_simulations(2000)
        with tempfile.TemporaryDirectory() as d:
            model = diffsbi.train(theta, x, out=os.path.join(d, "m"),
                                  prior={"type": "uniform", "low": [-1, -1], "high": [1, 1]}, **FAST)
            self.assertIn("final_loss", model.summary)
            draws = model.sample(np.array([0.3, -0.2]), n=200, sampler="dpm-solver-2m", steps=20)
            self.assertEqual(draws.shape, (200, 2))
            self.assertTrue(np.all(np.abs(draws) <= 1))
            report = model.diagnose(*gaussian_simulations(40, seed=1), datasets=40, draws=30, sampler="dpm-solver-2m", steps=10)
            self.assertIsInstance(report, dict)
            self.assertTrue(report)

    def test_field_generator(self):
        # Images x [n, 8, 8] whose scale is theta[:, 0]: a field generator learns x given theta.
        rng = np.random.default_rng(0)
        theta = rng.uniform(0.5, 1.5, size=(300, 2))
        x = theta[:, 0, None, None] * rng.normal(size=(300, 8, 8))
        with tempfile.TemporaryDirectory() as d:
            model = diffsbi.train(theta, x, out=os.path.join(d, "g"), target="field", epochs=1, batch_size=32,
                                  unet_widths="8,8", unet_blocks=1)
            fields = model.generate(theta[:3], n=2, sampler="dpm-solver-2m", steps=5)
            self.assertEqual(fields.shape, (3, 2, 8, 8))
            self.assertEqual(model.generate(theta[0]).shape, (8, 8))
            self.assertTrue(np.all(np.isfinite(fields)))
            with self.assertRaises(diffsbi.DiffSBIError) as caught:
                model.sample(np.zeros((8, 8)))
            self.assertEqual(caught.exception.exit_code, 2)

    def test_bad_input_raises_with_exit_code_2(self):
        with self.assertRaises(diffsbi.DiffSBIError) as caught:
            diffsbi.train(np.zeros((10, 2)), np.zeros((10, 2)), method="no-such-method")
        self.assertEqual(caught.exception.exit_code, 2)

    def test_python_simulator_budgeted_and_online(self):
        calls = []

        def simulate(theta, rng):
            calls.append(len(theta))
            return theta + 0.1 * rng.standard_normal(theta.shape)

        prior = {"type": "uniform", "low": [-1, -1], "high": [1, 1]}
        with tempfile.TemporaryDirectory() as d:
            m = diffsbi.train_with_simulator(simulate, prior, 1000, out=os.path.join(d, "b"), workers=2, **FAST)
            self.assertEqual(sum(calls), 1024)  # 16 batches of 64 rows (the training batch size)
            self.assertEqual(m.sample(np.zeros(2), n=50, sampler="dpm-solver-2m", steps=10).shape, (50, 2))
            calls.clear()
            diffsbi.train_with_simulator(simulate, "two_moons", 2000, out=os.path.join(d, "o"), online=True, **FAST)
            self.assertGreater(sum(calls), 1000)

    def test_a_failing_simulator_raises_its_own_error(self):
        def simulate(theta):
            raise ZeroDivisionError("broken simulator")

        with self.assertRaises(ZeroDivisionError):
            diffsbi.train_with_simulator(simulate, "two_moons", 500, **FAST)


if __name__ == "__main__":
    unittest.main()

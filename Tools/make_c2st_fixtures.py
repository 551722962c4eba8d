"""Generates the C2ST test fixtures: small pairs of sample sets and scikit-learn's C2ST accuracies.

The accuracy is computed exactly as sbibm 1.1.0 computes it (sbibm/metrics/c2st.py): both sets z-scored by the
first set's mean and unbiased standard deviation, MLPClassifier(activation="relu", hidden_layer_sizes=(10*D, 10*D),
max_iter=10000, solver="adam", random_state=seed), KFold(5, shuffle=True, random_state=seed), mean accuracy.
Because our classifier cannot reproduce NumPy's random streams, the fixture also stores the mean over seeds 1..5,
which the Swift test compares against (tolerance 0.01).

Usage: python3 Tools/make_c2st_fixtures.py  (writes Tests/Fixtures/c2st/*.csv and accuracies.csv)
"""

import os

import numpy as np
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neural_network import MLPClassifier

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "c2st")
SEEDS = [1, 2, 3, 4, 5]


def sbibm_c2st(x, y, seed):
    mean = x.mean(axis=0)
    std = x.std(axis=0, ddof=1)
    x = (x - mean) / std
    y = (y - mean) / std
    data = np.concatenate([x, y]).astype(np.float32)
    target = np.concatenate([np.zeros(len(x)), np.ones(len(y))])
    d = x.shape[1]
    clf = MLPClassifier(activation="relu", hidden_layer_sizes=(10 * d, 10 * d), max_iter=10000, solver="adam",
                        random_state=seed)
    folds = KFold(n_splits=5, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(clf, data, target, cv=folds, scoring="accuracy")))


def main():
    rng = np.random.default_rng(20261127)
    n = 1000
    pairs = {
        "identical_2d": (rng.normal(size=(n, 2)), rng.normal(size=(n, 2))),
        "shifted_2d": (rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + np.array([0.5, 0.0])),
        "scaled_3d": (rng.normal(size=(n, 3)), 1.6 * rng.normal(size=(n, 3))),
        "separated_4d": (rng.normal(size=(n, 4)), rng.normal(size=(n, 4)) + 2.0),
    }
    os.makedirs(OUT, exist_ok=True)
    rows = ["name,seed1,mean_seeds_1_5"]
    for name, (x, y) in pairs.items():
        x = x.astype(np.float32)
        y = y.astype(np.float32)
        np.savetxt(os.path.join(OUT, f"{name}_reference.csv"), x, fmt="%.9g", delimiter=",")
        np.savetxt(os.path.join(OUT, f"{name}_samples.csv"), y, fmt="%.9g", delimiter=",")
        accs = [sbibm_c2st(x, y, s) for s in SEEDS]
        rows.append(f"{name},{accs[0]:.6f},{np.mean(accs):.6f}")
        print(name, accs)
    with open(os.path.join(OUT, "accuracies.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()

"""Data that installed packages ship, for tests, read without importing those packages.

scikit-learn ships its 8x8 digits as a small CSV file; importing scikit-learn to read it (and its
`train_test_split` to split it) costs most of a second in every grading, more than the tests that
train on it. Nothing here downloads anything.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, as `sklearn.datasets.load_digits()` gives them: pixels (1797, 64) in 0..16
    (floats) and labels (1797,) in 0..9 (ints). ModuleNotFoundError where scikit-learn is not installed."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")
    data = np.loadtxt(Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    return data[:, :-1], data[:, -1].astype(np.int64)


def stratified_split(X: np.ndarray, y: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """(X_train, X_test, y_train, y_test), as scikit-learn's `train_test_split(..., stratify=y)` makes them:
    `test_fraction` of each class's rows (rounded), drawn by `rng`, held out, so both parts keep the classes'
    proportions; each part in an order drawn by `rng`."""
    held_out = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        held_out[rows[:round(test_fraction * len(rows))]] = True
    train, test = rng.permutation(np.flatnonzero(~held_out)), rng.permutation(np.flatnonzero(held_out))
    return X[train], X[test], y[train], y[test]

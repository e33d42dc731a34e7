"""grader.datasets: scikit-learn's digits read from the file it ships, and a stratified split."""

import numpy as np
import pytest

from grader.datasets import digits, stratified_split


def test_digits_are_what_scikit_learn_loads():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    pixels, labels = digits()
    expected = sklearn_datasets.load_digits()
    assert pixels.dtype == np.float64 and labels.dtype == np.int64
    np.testing.assert_array_equal(pixels, expected.data)
    np.testing.assert_array_equal(labels, expected.target)


def test_digits_without_scikit_learn_names_the_missing_module(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="No module named 'sklearn'"):
        digits()


def test_stratified_split_partitions_the_rows_and_keeps_each_class_share():
    X = np.arange(200.0)[:, None]
    y = np.repeat([0, 1, 2, 3], [20, 40, 60, 80])
    X_train, X_test, y_train, y_test = stratified_split(X, y, 0.25, np.random.default_rng(1))
    assert sorted(np.concatenate([X_train, X_test])[:, 0]) == list(X[:, 0])  # every row once
    np.testing.assert_array_equal(y_train, y[X_train[:, 0].astype(int)])  # rows keep their labels
    assert np.bincount(y_test).tolist() == [5, 10, 15, 20]
    assert not np.all(np.diff(X_train[:, 0]) > 0)  # shuffled, not in the original order


def test_stratified_split_is_the_same_for_the_same_seed():
    X, y = np.arange(40.0)[:, None], np.arange(40) % 4
    first = stratified_split(X, y, 0.3, np.random.default_rng(7))
    again = stratified_split(X, y, 0.3, np.random.default_rng(7))
    other = stratified_split(X, y, 0.3, np.random.default_rng(8))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[1], other[1])

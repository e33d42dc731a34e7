"""grader.exact: expected values correct to the last place, where float64 formulas round."""

from __future__ import annotations

import math

import numpy as np
import torch

from grader import exact


def test_softmax_forms_the_scaled_logits_exactly():
    F, beta = np.array([[1e6, 1e6 + 1e-3, 1e6 + 5e-3]]), 1e3
    gaps = np.array([0.0, 1e6 + 1e-3 - 1e6, 1e6 + 5e-3 - 1e6])  # exact differences of the float64 energies
    expected = np.exp(-beta * gaps) / np.exp(-beta * gaps).sum()
    assert np.allclose(exact.softmax(F, -beta), expected, rtol=1e-15, atol=0)
    rounded = torch.softmax(-beta * torch.tensor(F), dim=-1).numpy()
    assert np.abs(rounded / expected - 1).max() > 1e-8  # why the tests do not compare with this


def test_reductions_run_over_the_axis_asked_and_keep_the_others():
    a = np.arange(24, dtype=float).reshape(2, 3, 4) / 7
    assert exact.logsumexp(a).shape == (2, 3) and exact.logsumexp(a, axis=1).shape == (2, 4)
    assert np.allclose(exact.logsumexp(a, axis=1), torch.logsumexp(torch.tensor(a), dim=1).numpy(), rtol=1e-15)
    assert exact.softmax(a, axis=0).shape == a.shape and np.allclose(exact.softmax(a, axis=0).sum(axis=0), 1.0)
    assert exact.logsumexp(np.array([1000.0, 1000.0])) == 1000.0 + math.log(2)


def test_free_energy_at_high_and_low_temperature():
    E = np.array([1.0, 1.5, 3.0])
    assert math.isclose(float(exact.free_energy(E, 1e6)), 1.0, rel_tol=1e-15)
    hot = float(exact.free_energy(E, 1e-6)) + math.log(3) / 1e-6
    assert math.isclose(hot, E.mean(), rel_tol=1e-6)

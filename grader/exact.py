"""Expected values more accurate than any float64 answer, for tests about accuracy.

Each function takes float64 inputs as the exact numbers they are, computes in mpmath at DIGITS significant
digits and rounds once to float64: its error is half a unit in the last place, below that of any float64
formula a student may write. A test then compares at a tolerance set from what the handout promises, so a
correct answer never loses a point to the expected value's own rounding (torch's softmax of -beta * F, say,
rounds -beta * F first and is off by about beta * |F| * 1e-16 relative).
"""

from __future__ import annotations

import mpmath
import numpy as np

DIGITS = 50


def _rows(a, row, axis: int, reduces: bool) -> np.ndarray:
    """Apply `row` to every slice of `a` along `axis` (as mpf numbers): it returns one number when `reduces`
    (the axis goes), else a list as long as the slice."""
    a = np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)
    with mpmath.workdps(DIGITS):
        out = [row([mpmath.mpf(float(v)) for v in r]) for r in a.reshape(-1, a.shape[-1])]
    if reduces:
        return np.array([float(v) for v in out], dtype=np.float64).reshape(a.shape[:-1])
    result = np.array([[float(v) for v in r] for r in out], dtype=np.float64).reshape(a.shape)
    return np.moveaxis(result, -1, axis)


def logsumexp(a, scale: float = 1.0, axis: int = -1) -> np.ndarray:
    """log sum_j exp(scale * a_j) along `axis`, with `scale * a` formed exactly."""
    s = mpmath.mpf(float(scale))
    return _rows(a, lambda r: mpmath.log(mpmath.fsum(mpmath.exp(s * v) for v in r)), axis, True)


def softmax(a, scale: float = 1.0, axis: int = -1) -> np.ndarray:
    """exp(scale * a_j) / sum_k exp(scale * a_k) along `axis`, with `scale * a` formed exactly."""
    s = mpmath.mpf(float(scale))

    def row(r):
        terms = [mpmath.exp(s * v) for v in r]
        total = mpmath.fsum(terms)
        return [t / total for t in terms]

    return _rows(a, row, axis, False)


def free_energy(E, beta: float, axis: int = -1) -> np.ndarray:
    """-(1/beta) log sum_z exp(-beta E_z) along `axis`."""
    b = mpmath.mpf(float(beta))
    return _rows(E, lambda r: -mpmath.log(mpmath.fsum(mpmath.exp(-b * v) for v in r)) / b, axis, True)

"""Public tests for Parts 6 and 7: Jacobian norms over time, and gradient clipping."""

import numpy as np
import pytest

from grader.checks import assert_close, assert_shape


def scaled_orthogonal(rng, d, rho):
    """rho times a random orthogonal matrix: every singular value and |eigenvalue| is rho."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return rho * q


@pytest.mark.question("rnn_jacobian")
@pytest.mark.points(3)
@pytest.mark.requirement("R6.1")
def test_rnn_jacobian_norms_at_rest_are_powers_of_rho(submission, rng, cases):
    """At s = 0 with no input, tanh' = 1, so ds_T/ds_k = W^(T-k) and its norm is rho^(T-k)."""
    T, B, n, d = 9, 2, 3, 4
    for rho in (0.8, 1.25):
        params = cases.rnn_params(rng, n, d, 2)
        params["W"], params["b"] = scaled_orthogonal(rng, d, rho), np.zeros(d)
        norms = submission.rnn_jacobian_norms(np.zeros((T, B, n)), np.zeros((B, d)), params)
        assert_shape(norms, (T + 1, B), name="norms")
        expected = np.repeat(rho ** np.arange(T, -1, -1.0)[:, None], B, axis=1)
        assert_close(norms, expected, rtol=1e-8, name=f"norms (rho={rho})")


@pytest.mark.question("lstm_jacobian")
@pytest.mark.points(3)
@pytest.mark.requirement("R6.2")
def test_lstm_jacobian_norms_match_autograd(submission, rng, cases, oracle):
    size = cases.sizes(rng, T=(2, 6), B=(1, 3))
    x, h0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
    c0 = rng.normal(0.0, 0.5, h0.shape)
    params = cases.lstm_params(rng, size["n"], size["d"], scale=0.8)
    norms = submission.lstm_jacobian_norms(x, h0, c0, params)
    expected = oracle.lstm_jacobian_norms(x, h0, c0, params)
    for key in ("h", "c"):
        assert_shape(norms[key], (size["T"] + 1, size["B"]), name=f'norms["{key}"]')
        assert_close(norms[key], expected[key], rtol=1e-7, atol=1e-14, name=f'norms["{key}"]')


def gradient_dict(rng, scale):
    return {"U": rng.normal(0.0, scale, (4, 3)), "W": rng.normal(0.0, scale, (4, 4)), "b": rng.normal(0.0, scale, 4)}


@pytest.mark.question("clipping")
@pytest.mark.points(3)
@pytest.mark.requirement("R7.1")
def test_clip_grad_norm_uses_the_global_norm(submission, rng):
    grads = gradient_dict(rng, 1.0)
    total = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    clipped, norm = submission.clip_grad_norm(grads, total / 4)
    assert_close(norm, total, rtol=1e-10, name="returned norm")
    for name, g in grads.items():
        assert_close(clipped[name], g / 4, rtol=1e-10, name=f"clipped {name}")
    unchanged, norm = submission.clip_grad_norm(grads, total * 2)
    assert_close(norm, total, rtol=1e-10, name="returned norm")
    for name, g in grads.items():
        assert_close(unchanged[name], g, rtol=1e-12, name=f"{name} under the threshold")


@pytest.mark.question("clipping")
@pytest.mark.points(2)
@pytest.mark.requirement("R7.2")
def test_clip_grad_value_clips_each_entry(submission, rng):
    grads = gradient_dict(rng, 2.0)
    clipped = submission.clip_grad_value(grads, 1.5)
    for name, g in grads.items():
        assert_close(clipped[name], np.minimum(np.maximum(g, -1.5), 1.5), rtol=1e-12, name=f"clipped {name}")

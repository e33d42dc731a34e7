"""Hidden tests for Parts 6 and 7: Jacobian norms on other sizes and regimes, and clipping
against torch.nn.utils."""

import numpy as np
import pytest
import torch

from grader.checks import assert_close, assert_inputs_unchanged, assert_shape


def spectral_radius_matrix(rng, d, rho):
    W = rng.normal(size=(d, d))
    return W * (rho / np.abs(np.linalg.eigvals(W)).max())


@pytest.mark.question("rnn_jacobian")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.5", "R6.1")
def test_rnn_jacobian_norms_match_reference(submission, reference, rng, cases):
    for bounds in ({"T": (1, 2), "B": (1, 2), "d": (1, 2)}, {"T": (2, 15), "B": (1, 5)}):  # the boundary, then random
        size = cases.sizes(rng, **bounds)
        x, s0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
        params = cases.rnn_params(rng, size["n"], size["d"], size["k"], scale=0.9)
        norms = assert_inputs_unchanged(submission.rnn_jacobian_norms, x, s0, params)
        label = f"T={size['T']}, B={size['B']}, d={size['d']}"
        assert_shape(norms, (size["T"] + 1, size["B"]), name=f"norms ({label})")
        assert_close(norms, reference.rnn_jacobian_norms(x, s0, params), rtol=1e-7, atol=1e-14, name=f"norms ({label})")


@pytest.mark.question("rnn_jacobian")
@pytest.mark.points(2)
@pytest.mark.requirement("R6.1")
def test_rnn_jacobian_norms_match_autograd(submission, rng, cases, oracle):
    size = cases.sizes(rng, T=(2, 6), B=(1, 3))
    x, s0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
    params = cases.rnn_params(rng, size["n"], size["d"], size["k"], scale=0.9)
    expected = oracle.rnn_jacobian_norms(x, s0, params)
    assert_close(submission.rnn_jacobian_norms(x, s0, params), expected, rtol=1e-7, atol=1e-14, name="norms")


@pytest.mark.question("rnn_jacobian")
@pytest.mark.points(2)
@pytest.mark.requirement("R6.1")
def test_rnn_jacobian_norms_vanish_below_and_explode_above_radius_one(submission, reference, rng, cases):
    T, B, n, d = 24, 2, 3, 6
    params = cases.rnn_params(rng, n, d, 2)
    params["W"] = spectral_radius_matrix(rng, d, 0.5)
    x, s0 = cases.sequence(rng, T, B, n, d)
    norms = submission.rnn_jacobian_norms(x, s0, params)
    assert_close(norms, reference.rnn_jacobian_norms(x, s0, params), rtol=1e-7, atol=1e-14, name="norms (rho=0.5)")
    assert np.all(np.asarray(norms)[0] < 1e-4), f"with spectral radius 0.5, |ds_T/ds_0| should vanish; got {norms[0]}"

    params["W"], params["b"] = spectral_radius_matrix(rng, d, 1.5), np.zeros(d)
    norms = submission.rnn_jacobian_norms(np.zeros((T, B, n)), np.zeros((B, d)), params)
    floor = 1.5 ** np.arange(T, -1, -1.0)[:, None] * (1 - 1e-9)  # |W^m| >= rho^m for any W
    assert np.all(np.asarray(norms) >= floor), "at rest with spectral radius 1.5, |ds_T/ds_k| should grow like 1.5^(T-k)"


@pytest.mark.question("lstm_jacobian")
@pytest.mark.points(3)
@pytest.mark.requirement("R6.2")
def test_lstm_jacobian_norms_match_reference(submission, reference, rng, cases):
    for bounds in ({"T": (1, 2), "B": (1, 2), "d": (1, 2)}, {"T": (4, 16), "B": (1, 5), "d": (1, 7)}):
        size = cases.sizes(rng, **bounds)  # the boundary (one step, one sequence, one unit), then random
        x, h0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
        c0 = rng.normal(0.0, 0.5, h0.shape)
        params = cases.lstm_params(rng, size["n"], size["d"], scale=0.8, biases={"f": 1.0})
        norms = assert_inputs_unchanged(submission.lstm_jacobian_norms, x, h0, c0, params)
        expected = reference.lstm_jacobian_norms(x, h0, c0, params)
        label = f"T={size['T']}, B={size['B']}, d={size['d']}"
        for key in ("h", "c"):
            assert_close(norms[key], expected[key], rtol=1e-7, atol=1e-14, name=f'norms["{key}"] ({label})')


@pytest.mark.question("lstm_jacobian")
@pytest.mark.points(2)
@pytest.mark.requirement("R6.2")
def test_lstm_forget_bias_decides_how_long_the_cell_remembers(submission, reference, rng, cases):
    """Weak recurrent weights, so that little flows from h back into c: then f_t alone
    decides whether dc_T/dc_k keeps its size (f_t near 1) or vanishes (f_t near 0)."""
    T, B, n, d = 30, 2, 3, 4
    x, h0 = cases.sequence(rng, T, B, n, d)
    c0 = rng.normal(0.0, 0.5, h0.shape)
    for forget_bias in (8.0, -4.0):
        params = cases.lstm_params(rng, n, d, biases={"f": forget_bias}, recurrent_scale=0.01)
        norms = submission.lstm_jacobian_norms(x, h0, c0, params)
        expected = reference.lstm_jacobian_norms(x, h0, c0, params)
        for key in ("h", "c"):
            assert_close(norms[key], expected[key], rtol=1e-7, atol=1e-14, name=f'norms["{key}"] (b_f = {forget_bias})')
        cell = np.asarray(norms["c"])
        if forget_bias > 0:
            assert np.all((cell > 0.9) & (cell < 1.5)), f"with f_t near 1, |dc_T/dc_k| should stay near 1; got {cell[:, 0]}"
            assert np.all(np.asarray(norms["h"])[0] < 0.1), "|dh_T/dh_0| should fade even when the cell remembers"
        else:
            assert np.all(cell[0] < 1e-6), f"with f_t near 0, |dc_T/dc_0| should vanish; got {cell[0]}"


def with_torch_grads(grads):
    """Leaf tensors whose .grad holds copies of `grads`, as torch.nn.utils expects."""
    tensors = []
    for g in grads.values():
        tensor = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        tensor.grad = torch.from_numpy(g.copy())
        tensors.append(tensor)
    return tensors


def gradient_dict(rng):
    count = int(rng.integers(1, 6))
    shapes = [tuple(rng.integers(1, 5, size=int(rng.integers(1, 4)))) for _ in range(count)]
    return {f"p{i}": rng.normal(0.0, float(rng.uniform(0.5, 3.0)), shape) for i, shape in enumerate(shapes)}


@pytest.mark.question("clipping")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.5", "R7.1")
def test_clip_grad_norm_matches_torch(submission, rng):
    for factor in (0.3, 3.0):
        grads = gradient_dict(rng)
        total = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
        tensors = with_torch_grads(grads)
        expected_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm=factor * total).item()
        clipped, norm = assert_inputs_unchanged(submission.clip_grad_norm, grads, factor * total)
        assert isinstance(norm, float), f"clip_grad_norm must return the norm as a float, got {type(norm).__name__}"
        assert_close(norm, expected_norm, rtol=1e-10, name=f"returned norm (max_norm = {factor} x norm)")
        for name, tensor in zip(grads, tensors):
            # torch divides by (norm + 1e-6), hence the tolerance
            assert_close(clipped[name], tensor.grad.numpy(), rtol=1e-5, atol=1e-12, name=f"clipped {name}")


@pytest.mark.question("clipping")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.5", "R7.2")
def test_clip_grad_value_matches_torch(submission, rng):
    grads = gradient_dict(rng)
    clip_value = float(rng.uniform(0.2, 2.0))
    tensors = with_torch_grads(grads)
    torch.nn.utils.clip_grad_value_(tensors, clip_value)
    clipped = assert_inputs_unchanged(submission.clip_grad_value, grads, clip_value)
    for name, tensor in zip(grads, tensors):
        assert_close(clipped[name], tensor.grad.numpy(), rtol=1e-12, name=f"clipped {name}")

"""Hidden tests: the Gibbs distribution, the free energy, the NLL loss and its gradients.

Random shapes and inverse temperatures drawn log-uniformly over [1e-3, 1e3], compared with
values computed exactly (grader.exact) and with torch in float64; fixed adversarial cases (huge energies, beta = 1e3, ties); the limits of
the free energy at beta = 1e6 and 1e-6 against bounds derived in the handout.
"""

import numpy as np
import pytest
import torch

from grader import exact
from grader.checks import (as_array, assert_close, assert_distribution, assert_dtype, assert_finite,
                           assert_inputs_unchanged, assert_shape, check_gradient)

EPS = np.finfo(np.float64).eps


def log_uniform(rng, low, high):
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def random_energies(rng, shape):
    """Energies of a random scale, from 1e-2 to 1e4."""
    return log_uniform(rng, 1e-2, 1e4) * rng.normal(size=shape) + rng.normal()


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def torch_nll(F, y, beta):
    """(5) in torch: mean of F(x_i, y_i) + (1/beta) logsumexp(-beta F(x_i, .))."""
    return (F[torch.arange(len(y)), torch.as_tensor(y)] + torch.logsumexp(-beta * F, dim=1) / beta).mean()


def gibbs_expected(F, beta):
    """(1) computed exactly (mpmath) from the float64 energies: more accurate than any float64 answer."""
    return exact.softmax(F, -beta)


def gibbs_rtol(F, beta):
    """The tolerance the conditioning allows: rounding -beta F (the handout's max trick on the
    logits -beta F) moves each exponent by up to beta |F| eps, so P by twice that, relatively."""
    return max(1e-9, 4 * beta * float(np.abs(F).max()) * EPS)


# ------------------------------------------------------------------ gibbs


@pytest.mark.question("gibbs")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.1", "R1.1")
def test_gibbs_matches_torch_softmax(submission, rng):
    for i in range(6):
        shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 4))))
        F, beta = random_energies(rng, shape), log_uniform(rng, 1e-3, 1e3)
        p = submission.gibbs(F, beta)
        assert_shape(p, shape, name=f"gibbs (case {i}, shape {shape})")
        assert_close(p, gibbs_expected(F, beta), gibbs_rtol(F, beta), 1e-14,
                     name=f"gibbs (case {i}, beta = {beta:.3g})")


@pytest.mark.question("gibbs")
@pytest.mark.points(3)
@pytest.mark.requirement("R1.1")
def test_gibbs_at_beta_1e3_and_huge_energies(submission):
    """-beta F up to 3000 (exp overflows) and energies near 1e6 (exp underflows to 0)."""
    cases = [
        (np.array([[-1.0, -2.0, -3.0], [1.0, 2.0, 3.0]]), 1e3),
        (np.array([1e6, 1e6 + 1e-3, 1e6 + 5e-3]), 1e3),
        (np.array([[-5e5, -5e5 - 1.0], [7e5, 7e5 + 0.5]]), 1.0),
    ]
    for F, beta in cases:
        p = submission.gibbs(F, beta)
        name = f"gibbs(F, beta={beta:g}) with F = {F.tolist()}"
        assert_finite(p, name=name)
        assert_distribution(p, name=name)
        assert_close(p, gibbs_expected(F, beta), gibbs_rtol(F, beta), 1e-300, name=name)


@pytest.mark.question("gibbs")
@pytest.mark.points(2)
@pytest.mark.requirement("R1.1")
def test_gibbs_ties(submission):
    """Two tied lowest energies share the mass at any beta; equal energies give the uniform distribution."""
    p = submission.gibbs(np.array([[3.0, 1.0, 1.0, 2.0], [4.0, 4.0, 4.0, 4.0]]), 1e3)
    assert_close(p, [[0, 0.5, 0.5, 0], [0.25, 0.25, 0.25, 0.25]], 1e-12, 1e-300, name="gibbs with ties at beta = 1e3")


@pytest.mark.question("gibbs")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.3", "R0.4", "R1.1")
def test_gibbs_leaves_inputs_and_returns_float64(submission, rng):
    F = rng.normal(size=(4, 5))
    p = assert_inputs_unchanged(submission.gibbs, F, 0.5)
    assert_dtype(p, "float64", name="gibbs")
    p = submission.gibbs(np.array([[0, 1, 2]]), 1.0)  # integer energies
    assert_dtype(p, "float64", name="gibbs of integer energies")


# ------------------------------------------------------------------ free_energy


@pytest.mark.question("free_energy")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.1", "R2.1")
def test_free_energy_matches_torch(submission, rng):
    for i in range(6):
        shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 4))))
        E, beta = random_energies(rng, shape), log_uniform(rng, 1e-3, 1e3)
        F = submission.free_energy(E, beta)
        assert_shape(F, shape[:-1], name=f"free_energy (case {i}, E of shape {shape})")
        expected = exact.free_energy(E, beta)
        assert_close(F, expected, 1e-9, 1e-9 * np.abs(E).max(), name=f"free_energy (case {i}, beta = {beta:.3g})")


def rounding(E, beta):
    """Allowance for float64 rounding: a few ulps of the terms of (3) (|E| and log K / beta)."""
    return 64 * EPS * (np.abs(E).max(axis=-1) + np.log(E.shape[-1]) / beta + 1)


@pytest.mark.question("free_energy")
@pytest.mark.points(3)
@pytest.mark.requirement("R2.2")
def test_zero_temperature_limit(submission, rng):
    """(4a): min E - log K / beta <= F_beta <= min E, at beta = 1e6, with ties and huge energies."""
    beta = 1e6
    cases = [rng.normal(size=(5, int(rng.integers(2, 9)))), 1e3 * rng.normal(size=(3, 6)),
             np.array([[2.0, 2.0, 2.0, 5.0], [-1e5, 3.0, -1e5, 1e5]])]
    for i, E in enumerate(cases):
        F = as_array(submission.free_energy(E, beta), "free_energy")
        assert_shape(F, E.shape[:-1], name="free_energy")
        low, high, slack = E.min(axis=-1) - np.log(E.shape[-1]) / beta, E.min(axis=-1), rounding(E, beta)
        if not (np.all(F >= low - slack) and np.all(F <= high + slack)):
            j = int(np.argmax((F < low - slack) | (F > high + slack)))
            raise AssertionError(f"free_energy at beta = 1e6 (case {i}, row {j}): expected a value within "
                                 f"[min E - log(K) / beta, min E] = [{low[j]:.12g}, {high[j]:.12g}], got {F[j]:.12g}")
    E = np.array([[2.0, 2.0, 2.0, 5.0]])  # three tied minima: F = 2 - log(3) / beta up to exp(-3e6)
    assert_close(submission.free_energy(E, beta), [2 - np.log(3) / beta], 0, rounding(E, beta)[0],
                 name="free_energy of three tied minima at beta = 1e6")


@pytest.mark.question("free_energy")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.2")
def test_high_temperature_limit(submission, rng):
    """(4b): mean E - log K / beta - beta (max E - min E)^2 / 8 <= F_beta <= mean E - log K / beta, at beta = 1e-6."""
    beta = 1e-6
    for i in range(3):
        E = 10 * rng.normal(size=(int(rng.integers(1, 5)), int(rng.integers(2, 9))))
        F = as_array(submission.free_energy(E, beta), "free_energy")
        assert_shape(F, E.shape[:-1], name="free_energy")
        high = E.mean(axis=-1) - np.log(E.shape[-1]) / beta
        low = high - beta * (E.max(axis=-1) - E.min(axis=-1)) ** 2 / 8
        slack = rounding(E, beta)
        if not (np.all(F >= low - slack) and np.all(F <= high + slack)):
            j = int(np.argmax((F < low - slack) | (F > high + slack)))
            raise AssertionError(f"free_energy at beta = 1e-6 (case {i}, row {j}): expected F + log(K) / beta within "
                                 f"[{low[j] - high[j] + E[j].mean():.12g}, {E[j].mean():.12g}] (about mean E), "
                                 f"got {F[j] + np.log(E.shape[-1]) / beta:.12g}")


@pytest.mark.question("free_energy")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.4")
def test_free_energy_leaves_inputs_unchanged(submission, rng):
    E = rng.normal(size=(2, 3, 4))
    assert_shape(assert_inputs_unchanged(submission.free_energy, E, 2.0), (2, 3), name="free_energy")


# ------------------------------------------------------------------ nll


def random_problem(rng):
    n, k = int(rng.integers(2, 9)), int(rng.integers(2, 7))
    return rng.normal(size=(n, k)) * log_uniform(rng, 0.1, 10), rng.integers(0, k, size=n), log_uniform(rng, 1e-3, 1e3)


@pytest.mark.question("nll")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.2", "R3.1", "R3.2")
def test_nll_loss_and_grad_match_autograd(submission, rng):
    for i in range(5):
        F, y, beta = random_problem(rng)
        F_t = t64(F).requires_grad_()
        loss = torch_nll(F_t, y, beta)
        loss.backward()
        name = f"(case {i}, N = {len(y)}, K = {F.shape[1]}, beta = {beta:.3g})"
        assert_close(submission.nll_loss(F, y, beta), loss.item(), 1e-9, 1e-9, name=f"nll_loss {name}")
        grad = submission.nll_grad(F, y, beta)
        assert_shape(grad, F.shape, name=f"nll_grad {name}")
        assert_close(grad, F_t.grad.numpy(), 1e-9, 1e-12, name=f"nll_grad {name}")


@pytest.mark.question("nll")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.2")
def test_nll_grad_central_differences(submission, rng):
    F, y, beta = rng.normal(size=(6, 4)), rng.integers(0, 4, size=6), rng.uniform(0.3, 3)
    loss = lambda v: torch_nll(t64(v), y, beta).item()
    check_gradient(loss, F, submission.nll_grad(F, y, beta), name="nll_grad")


@pytest.mark.question("nll")
@pytest.mark.points(3)
@pytest.mark.requirement("R3.3")
def test_nll_at_beta_1e3(submission):
    """Energies where exp(-beta F) overflows; the correct answer has the lowest energy (loss and gradient
    nearly 0), the second-lowest (loss = the energy gap, gradient +-1/N), or ties with another (loss log(2)/beta)."""
    F, y, beta = np.array([[-3.0, -1.0, -2.0], [-3.0, -1.0, -2.0], [-7.0, -7.0, 4.0]]), np.array([0, 2, 1]), 1e3
    expected_loss = (0.0 + 1.0 + np.log(2) / beta) / 3
    assert_close(submission.nll_loss(F, y, beta), expected_loss, 1e-12, 1e-12, name="nll_loss at beta = 1e3")
    expected_grad = np.array([[0, 0, 0], [-1, 0, 1], [-0.5, 0.5, 0]]) / 3
    assert_close(submission.nll_grad(F, y, beta), expected_grad, 1e-12, 1e-12, name="nll_grad at beta = 1e3")


@pytest.mark.question("nll")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.3", "R0.4")
def test_nll_leaves_inputs_unchanged(submission, rng):
    F, y = rng.normal(size=(5, 3)), np.array([0, 1, 2, 1, 0])
    assert_inputs_unchanged(submission.nll_loss, F, y, 1.0)
    assert_dtype(assert_inputs_unchanged(submission.nll_grad, F, y, 1.0), "float64", name="nll_grad")


# ------------------------------------------------------------------ nll_params


def pair(result, size, name):
    if not (isinstance(result, (tuple, list)) and len(result) == size):
        raise AssertionError(f"{name} must return a tuple of {size} arrays, got {type(result).__name__}")
    return result


def linear_problem(rng):
    n, d, k = int(rng.integers(2, 12)), int(rng.integers(1, 6)), int(rng.integers(2, 6))
    return (rng.normal(size=(n, d)), rng.integers(0, k, size=n), rng.normal(size=(d, k)), rng.normal(size=k),
            log_uniform(rng, 1e-2, 1e2))


@pytest.mark.question("nll_params")
@pytest.mark.points(4)
@pytest.mark.requirement("R4.1")
def test_linear_grad_matches_autograd(submission, rng):
    for i in range(4):
        X, y, W, b, beta = linear_problem(rng)
        W_t, b_t = t64(W).requires_grad_(), t64(b).requires_grad_()
        torch_nll(t64(X) @ W_t + b_t, y, beta).backward()
        dW, db = pair(assert_inputs_unchanged(submission.nll_linear_grad, X, y, W, b, beta), 2, "nll_linear_grad")
        name = f"nll_linear_grad (case {i}, X {X.shape}, K = {len(b)}, beta = {beta:.3g})"
        assert_shape(dW, W.shape, name=f"{name}: dW")
        assert_close(dW, W_t.grad.numpy(), 1e-9, 1e-12, name=f"{name}: dW")
        assert_close(db, b_t.grad.numpy(), 1e-9, 1e-12, name=f"{name}: db")


@pytest.mark.question("nll_params")
@pytest.mark.points(2)
@pytest.mark.requirement("R4.1")
def test_linear_grad_central_differences(submission, rng):
    X, y, W, b, beta = linear_problem(rng)
    dW, db = pair(submission.nll_linear_grad(X, y, W, b, beta), 2, "nll_linear_grad")
    check_gradient(lambda v: torch_nll(t64(X @ v + b), y, beta).item(), W, dW, name="nll_linear_grad: dW")
    check_gradient(lambda v: torch_nll(t64(X @ W + v), y, beta).item(), b, db, name="nll_linear_grad: db")


def mlp_problem(rng):
    n, d, h, k = (int(s) for s in rng.integers(2, 7, size=4))
    params = (rng.normal(size=(d, h)), rng.normal(size=h), rng.normal(size=(h, k)), rng.normal(size=k))
    return rng.normal(size=(n, d)), rng.integers(0, k, size=n), params, log_uniform(rng, 1e-2, 1e2)


@pytest.mark.question("nll_params")
@pytest.mark.points(1)
@pytest.mark.requirement("R4.2")
def test_mlp_energy(submission, rng):
    X, _, params, _ = mlp_problem(rng)
    W1, b1, W2, b2 = (t64(p) for p in params)
    assert_close(submission.mlp_energy(X, *params), (torch.tanh(t64(X) @ W1 + b1) @ W2 + b2).numpy(), 1e-12, 1e-12,
                 name="mlp_energy")


@pytest.mark.question("nll_params")
@pytest.mark.points(5)
@pytest.mark.requirement("R4.2")
def test_mlp_grad_matches_autograd(submission, rng):
    for i in range(4):
        X, y, params, beta = mlp_problem(rng)
        W1, b1, W2, b2 = ts = [t64(p).requires_grad_() for p in params]
        torch_nll(torch.tanh(t64(X) @ W1 + b1) @ W2 + b2, y, beta).backward()
        grads = pair(assert_inputs_unchanged(submission.nll_mlp_grad, X, y, *params, beta), 4, "nll_mlp_grad")
        for got, t, key in zip(grads, ts, ("dW1", "db1", "dW2", "db2")):
            name = f"nll_mlp_grad (case {i}, beta = {beta:.3g}): {key}"
            assert_shape(got, tuple(t.shape), name=name)
            assert_close(got, t.grad.numpy(), 1e-9, 1e-12, name=name)


@pytest.mark.question("nll_params")
@pytest.mark.points(2)
@pytest.mark.requirement("R4.2")
def test_mlp_grad_central_differences(submission, rng):
    X, y, params, beta = mlp_problem(rng)
    grads = pair(submission.nll_mlp_grad(X, y, *params, beta), 4, "nll_mlp_grad")

    def loss(index, value):
        p = list(params)
        p[index] = value
        return torch_nll(torch.tanh(t64(X @ p[0] + p[1])) @ t64(p[2]) + t64(p[3]), y, beta).item()

    for index, key in enumerate(("dW1", "db1", "dW2", "db2")):
        check_gradient(lambda v: loss(index, v), params[index], grads[index], name=f"nll_mlp_grad: {key}")

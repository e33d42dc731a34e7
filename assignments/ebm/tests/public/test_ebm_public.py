"""Public tests: small cases worked out by hand, and gradients against central differences.

The hidden tests use random shapes, random inverse temperatures from 1e-3 to 1e3, huge
energies and ties, compare with torch and scikit-learn, and check that you leave your
inputs unchanged. Passing these few tests does not mean your code is right everywhere.
"""

import math

import numpy as np
import pytest

from grader.checks import assert_close, assert_distribution, assert_shape, check_gradient


@pytest.mark.question("gibbs")
@pytest.mark.points(1)
@pytest.mark.requirement("R1.1")
def test_gibbs_by_hand(submission):
    """Energies 0 and log 3 at beta = 1: weights 1 and 1/3, so probabilities 3/4 and 1/4."""
    p = submission.gibbs(np.array([[0.0, math.log(3.0)]]), 1.0)
    assert_shape(p, (1, 2), name="gibbs")
    assert_distribution(p, name="gibbs")
    assert_close(p, [[0.75, 0.25]], name="gibbs([[0, log 3]], beta=1)")


@pytest.mark.question("free_energy")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.1")
def test_free_energy_by_hand(submission):
    """Two equal energies e: F = e - log(2) / beta."""
    F = submission.free_energy(np.array([[1.0, 1.0], [2.0, 2.0]]), 2.0)
    assert_close(F, [1 - math.log(2) / 2, 2 - math.log(2) / 2], name="free_energy(E, beta=2)")


def nll(F, y, beta):
    """(5), written here without any care for overflow (fine for these small values)."""
    return np.mean(F[np.arange(len(F)), y] + np.log(np.exp(-beta * F).sum(axis=1)) / beta)


@pytest.mark.question("nll")
@pytest.mark.points(1)
@pytest.mark.requirement("R3.2")
def test_nll_grad_central_differences(submission, rng):
    F, y, beta = rng.normal(size=(4, 3)), np.array([0, 2, 1, 2]), 0.7
    assert_close(submission.nll_loss(F, y, beta), nll(F, y, beta), name="nll_loss")
    check_gradient(lambda v: nll(v, y, beta), F, submission.nll_grad(F, y, beta), name="nll_grad")


@pytest.mark.question("nll_params")
@pytest.mark.points(1)
@pytest.mark.requirement("R4.1")
def test_linear_grad_central_differences(submission, rng):
    X, y, W, b, beta = rng.normal(size=(5, 3)), np.array([0, 1, 3, 3, 2]), rng.normal(size=(3, 4)), rng.normal(size=4), 1.5
    dW, db = submission.nll_linear_grad(X, y, W, b, beta)
    check_gradient(lambda v: nll(X @ v + b, y, beta), W, dW, name="nll_linear_grad: dW")
    check_gradient(lambda v: nll(X @ W + v, y, beta), b, db, name="nll_linear_grad: db")


@pytest.mark.question("nce")
@pytest.mark.points(1)
@pytest.mark.requirement("R5.2")
def test_nce_by_hand(submission):
    """One data point and one noise point, both with logit G = 0: the loss is 2 log 2."""
    args = (np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([0.0]), 0.0)
    assert_close(submission.nce_loss(*args), 2 * math.log(2), name="nce_loss at G = 0")
    d_data, d_noise, d_log_z = submission.nce_grad(*args)
    assert_close(d_data, [0.5], name="nce_grad: dL/dE at the data")
    assert_close(d_noise, [-0.5], name="nce_grad: dL/dE at the noise")
    assert_close(d_log_z, 0.0, name="nce_grad: dL/dlog_z")


@pytest.mark.question("infonce")
@pytest.mark.points(1)
@pytest.mark.requirement("R6.3")
def test_info_nce_by_hand(submission):
    """Orthogonal pairs: S = I, so each row's loss is log(e^(1/tau) + (N - 1)) - 1/tau."""
    U = np.eye(3) * np.array([[2.0], [1.0], [5.0]])  # the lengths must not matter
    S = submission.cosine_similarity(U, np.eye(3))
    assert_close(S, np.eye(3), name="cosine_similarity")
    tau = 0.5
    assert_close(submission.info_nce_loss(np.eye(3), tau), math.log(math.exp(2) + 2) - 2, name="info_nce_loss")


@pytest.mark.question("kmeans")
@pytest.mark.points(1)
@pytest.mark.requirement("R7.1", "R7.2", "R7.3")
def test_kmeans_by_hand(submission):
    """Four points on a line, prototypes at 0 and 10: the points 1, 2 go to the first, 8, 12 to the second."""
    Y, W = np.array([[1.0], [2.0], [8.0], [12.0]]), np.array([[0.0, 10.0]])
    assert_close(submission.kmeans_energy(Y, W), [[1, 81], [4, 64], [64, 4], [144, 4]], name="kmeans_energy")
    assert_close(submission.kmeans_infer(Y, W), [0, 0, 1, 1], name="kmeans_infer")
    assert_close(submission.kmeans_free_energy(Y, W), [1, 4, 4, 4], name="kmeans_free_energy")
    assert_close(submission.kmeans_step(Y, W), [[1.5, 10.0]], name="kmeans_step")


@pytest.mark.question("sparse_coding")
@pytest.mark.points(1)
@pytest.mark.requirement("R8.4")
def test_ista_with_an_orthonormal_dictionary(submission):
    """With W = I the smooth part's gradient has L = 2, and the minimiser of (21) is
    soft_threshold(y, lam / 2), which ISTA reaches in a single step from z = 0."""
    y, lam = np.array([3.0, -0.2, 1.0]), 1.0
    assert_close(submission.lipschitz_constant(np.eye(3)), 2.0, name="lipschitz_constant(I)")
    assert_close(submission.soft_threshold(y, 0.5), [2.5, 0.0, 0.5], name="soft_threshold(y, 0.5)")
    Z = submission.ista(y, np.eye(3), lam, 3)
    assert_shape(Z, (4, 3), name="ista(y, I, 1.0, 3)")
    assert_close(Z, [[0, 0, 0], [2.5, 0, 0.5], [2.5, 0, 0.5], [2.5, 0, 0.5]], name="ista(y, I, 1.0, 3)")

"""Hidden tests: NCE and InfoNCE (contrastive), K-means and sparse coding (architectural).

NCE and InfoNCE are compared with torch autograd in float64, at random sizes and at extreme
logits; NCE must also recover the log-partition function of a small model whose exact value
is known. K-means is compared with scikit-learn's KMeans (one Lloyd iteration from a given
init) and a numpy Lloyd step written here; ISTA must decrease the energy at every step and
end at scikit-learn's Lasso solution with alpha = lam / (2 d).
"""

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.cluster import KMeans
from sklearn.linear_model import Lasso

from grader.checks import (as_array, assert_close, assert_dtype, assert_finite, assert_inputs_unchanged, assert_shape,
                           check_gradient)


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def log_uniform(rng, low, high):
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def triple(result, name):
    if not (isinstance(result, (tuple, list)) and len(result) == 3):
        raise AssertionError(f"{name} must return (dL/dE at the data, dL/dE at the noise, dL/dlog_z), "
                             f"got {type(result).__name__}")
    return result


# ------------------------------------------------------------------ nce


def torch_nce(e_data, e_noise, log_q_data, log_q_noise, log_z):
    """(11)-(12) in torch: binary cross-entropy of the logits, data labelled 1, noise 0, summed and divided by N."""
    log_nu = np.log(len(e_noise) / len(e_data))
    g_data = -e_data - log_z - t64(log_q_data) - log_nu
    g_noise = -e_noise - log_z - t64(log_q_noise) - log_nu
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    return (bce(g_data, torch.ones_like(g_data), reduction="sum") +
            bce(g_noise, torch.zeros_like(g_noise), reduction="sum")) / len(e_data)


def nce_problem(rng, scale=3.0):
    n = int(rng.integers(1, 20))
    m = int(rng.integers(1, 40))
    while m == n:  # nu != 1, so that log(nu) matters
        m = int(rng.integers(1, 40))
    return (scale * rng.normal(size=n), scale * rng.normal(size=m), rng.normal(size=n) - 2, rng.normal(size=m) - 2,
            float(scale * rng.normal()))


def check_nce(submission, args, name, rtol=1e-9, atol=1e-12):
    e_data, e_noise, _, _, log_z = args
    ts = [t64(e_data).requires_grad_(), t64(e_noise).requires_grad_(), t64(log_z).requires_grad_()]
    loss = torch_nce(ts[0], ts[1], args[2], args[3], ts[2])
    loss.backward()
    assert_close(submission.nce_loss(*args), loss.item(), rtol, atol, name=f"nce_loss {name}")
    grads = triple(assert_inputs_unchanged(submission.nce_grad, *args), "nce_grad")
    for got, t, key in zip(grads, ts, ("dL/dE at the data", "dL/dE at the noise", "dL/dlog_z")):
        assert_shape(got, tuple(t.shape), name=f"nce_grad {name}: {key}")
        assert_close(got, t.grad.numpy(), rtol, atol, name=f"nce_grad {name}: {key}")


@pytest.mark.question("nce")
@pytest.mark.points(5)
@pytest.mark.requirement("R0.2", "R5.2", "R5.3")
def test_nce_matches_autograd(submission, rng):
    for i in range(5):
        args = nce_problem(rng)
        check_nce(submission, args, f"(case {i}, N = {len(args[0])}, M = {len(args[1])})")


@pytest.mark.question("nce")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.3")
def test_nce_grad_central_differences(submission, rng):
    e_data, e_noise, lq_data, lq_noise, log_z = nce_problem(rng)
    d_data, d_noise, d_log_z = triple(submission.nce_grad(e_data, e_noise, lq_data, lq_noise, log_z), "nce_grad")
    loss = lambda ed, en, lz: torch_nce(t64(ed), t64(en), lq_data, lq_noise, t64(lz)).item()
    check_gradient(lambda v: loss(v, e_noise, log_z), e_data, d_data, name="nce_grad: dL/dE at the data")
    check_gradient(lambda v: loss(e_data, v, log_z), e_noise, d_noise, name="nce_grad: dL/dE at the noise")
    check_gradient(lambda v: loss(e_data, e_noise, v[0]), np.array([log_z]), np.array([d_log_z]), name="nce_grad: dL/dlog_z")


@pytest.mark.question("nce")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.1")
def test_nce_at_extreme_logits(submission):
    """Logits near +-1000: exp overflows, and log(1 - sigmoid) computed naively is log(0)."""
    args = (np.array([-1000.0, 1000.0, 0.0]), np.array([1000.0, -1000.0]), np.zeros(3), np.zeros(2), 0.0)
    assert_finite(submission.nce_loss(*args), name="nce_loss at logits of +-1000")
    check_nce(submission, args, "at logits of +-1000")


@pytest.mark.question("nce")
@pytest.mark.points(5)
@pytest.mark.requirement("R5.4")
def test_nce_estimates_the_log_partition_function(submission, rng):
    """Fit E(y) = theta . (y, y^2) and log_z on 21 grid points by minimising the submission's NCE loss
    (its gradient chained through the energy here), from 5000 data samples and 10000 uniform noise samples.
    log_z must come out near the exact log Z of the true model and of the fitted model. Over 100 seeds the
    reference's error has a standard deviation of 0.018 (largest 0.062); the tolerance, 0.1, is about 5.5 of them."""
    ys = np.linspace(-2, 2, 21)
    phi = np.stack([ys, ys**2], axis=1)
    theta_true = np.array([rng.uniform(-1, 1), rng.uniform(0.2, 1.0)])
    log_z_true = np.log(np.exp(-phi @ theta_true).sum())
    n, m = 5000, 10000
    data = rng.choice(21, size=n, p=np.exp(-phi @ theta_true - log_z_true))
    noise = rng.integers(0, 21, size=m)
    lq_data, lq_noise = np.full(n, -np.log(21)), np.full(m, -np.log(21))

    def loss_and_grad(params):
        theta, log_z = params[:2], float(params[2])
        e_data, e_noise = phi[data] @ theta, phi[noise] @ theta
        loss = float(as_array(submission.nce_loss(e_data, e_noise, lq_data, lq_noise, log_z), "nce_loss"))
        d_data, d_noise, d_log_z = triple(submission.nce_grad(e_data, e_noise, lq_data, lq_noise, log_z), "nce_grad")
        grad = np.r_[phi[data].T @ as_array(d_data) + phi[noise].T @ as_array(d_noise), float(as_array(d_log_z))]
        if not np.isfinite(loss) or not np.all(np.isfinite(grad)):
            raise AssertionError(f"nce_loss or nce_grad is not finite at theta = {theta}, log_z = {log_z}")
        return loss, grad

    fit = minimize(loss_and_grad, np.zeros(3), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10, "ftol": 1e-14, "maxiter": 200})
    theta, log_z = fit.x[:2], fit.x[2]
    log_z_fitted = np.log(np.exp(-phi @ theta).sum())
    if abs(log_z - log_z_true) > 0.1 or abs(log_z - log_z_fitted) > 0.1:
        raise AssertionError(f"NCE's estimate of log Z is {log_z:.4g}; the true model's log Z is {log_z_true:.4g} and the "
                             f"fitted model's {log_z_fitted:.4g} (tolerance 0.1; theta fitted {theta}, true {theta_true})")


# ------------------------------------------------------------------ infonce


@pytest.mark.question("infonce")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.4", "R6.1")
def test_cosine_similarity_matches_torch(submission, rng):
    for i in range(3):
        n, d = int(rng.integers(2, 9)), int(rng.integers(1, 7))
        U, V = rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-3, 3), rng.normal(size=(n, d))
        S = assert_inputs_unchanged(submission.cosine_similarity, U, V)
        expected = torch.nn.functional.cosine_similarity(t64(U)[:, None], t64(V)[None], dim=-1).numpy()
        assert_close(S, expected, 1e-9, 1e-12, name=f"cosine_similarity (case {i}, U and V of shape {(n, d)})")


def check_info_nce(submission, S, tau, name, rtol=1e-9, atol=1e-12):
    S_t = t64(S).requires_grad_()
    loss = torch.nn.functional.cross_entropy(S_t / tau, torch.arange(len(S)))
    loss.backward()
    assert_close(submission.info_nce_loss(S, tau), loss.item(), rtol, atol, name=f"info_nce_loss {name}")
    grad = assert_inputs_unchanged(submission.info_nce_grad, S, tau)
    assert_shape(grad, S.shape, name=f"info_nce_grad {name}")
    assert_close(grad, S_t.grad.numpy(), rtol, atol, name=f"info_nce_grad {name}")


@pytest.mark.question("infonce")
@pytest.mark.points(4)
@pytest.mark.requirement("R6.3")
def test_info_nce_matches_autograd(submission, rng):
    for i in range(5):
        n, tau = int(rng.integers(2, 12)), log_uniform(rng, 0.05, 5)
        S = np.clip(rng.normal(size=(n, n)) * 0.5, -1, 1)
        check_info_nce(submission, S, tau, f"(case {i}, N = {n}, tau = {tau:.3g})")


@pytest.mark.question("infonce")
@pytest.mark.points(3)
@pytest.mark.requirement("R6.2")
def test_info_nce_at_small_temperature(submission):
    """tau = 1e-3: logits up to 1000. One row's positive is the best match, one a tie, one the worst."""
    S = np.array([[1.0, 0.2, -1.0], [0.9, 0.9, 0.0], [1.0, 0.5, -1.0]])
    check_info_nce(submission, S, 1e-3, "at tau = 1e-3")


# ------------------------------------------------------------------ kmeans


def lloyd_step(Y, W):
    """One step of Lloyd's algorithm, written here: nearest prototype (lowest index on ties), then means."""
    E = ((Y[:, :, None] - W[None]) ** 2).sum(axis=1)
    z = E.argmin(axis=1)
    W_new = W.copy()
    for j in range(W.shape[1]):
        if np.any(z == j):
            W_new[:, j] = Y[z == j].mean(axis=0)
    return W_new


def kmeans_problem(rng):
    n, d, k = int(rng.integers(10, 60)), int(rng.integers(1, 5)), int(rng.integers(2, 6))
    Y = rng.normal(size=(n, d)) + 3 * rng.normal(size=(k, d))[rng.integers(0, k, size=n)]
    return Y, Y[rng.choice(n, size=k, replace=False)].T.copy()  # prototypes: k distinct points, as columns


@pytest.mark.question("kmeans")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.4", "R7.1", "R7.2", "R7.3")
def test_kmeans_energy_inference_and_free_energy(submission, rng):
    for i in range(3):
        Y, W = kmeans_problem(rng)
        W = W + 0.1 * rng.normal(size=W.shape)
        expected = torch.cdist(t64(Y), t64(W.T)).numpy() ** 2
        name = f"(case {i}, Y {Y.shape}, W {W.shape})"
        E = assert_inputs_unchanged(submission.kmeans_energy, Y, W)
        assert_close(E, expected, 1e-9, 1e-9, name=f"kmeans_energy {name}")
        z = assert_inputs_unchanged(submission.kmeans_infer, Y, W)
        assert_dtype(z, "i", name=f"kmeans_infer {name}")
        assert_close(z, expected.argmin(axis=1), 0, 0, name=f"kmeans_infer {name}")
        assert_close(submission.kmeans_free_energy(Y, W), expected.min(axis=1), 1e-9, 1e-9,
                     name=f"kmeans_free_energy {name}")


@pytest.mark.question("kmeans")
@pytest.mark.points(3)
@pytest.mark.requirement("R7.4")
def test_kmeans_step_matches_sklearn(submission, rng):
    for i in range(3):
        Y, W = kmeans_problem(rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km = KMeans(n_clusters=W.shape[1], init=W.T, n_init=1, max_iter=1, algorithm="lloyd").fit(Y)
        W_new = assert_inputs_unchanged(submission.kmeans_step, Y, W)
        assert_shape(W_new, W.shape, name="kmeans_step")
        assert_close(W_new, km.cluster_centers_.T, 1e-9, 1e-9,
                     name=f"kmeans_step (case {i}, Y {Y.shape}, W {W.shape}) against sklearn's KMeans(max_iter=1)")


@pytest.mark.question("kmeans")
@pytest.mark.points(3)
@pytest.mark.requirement("R7.5", "R7.6")
def test_kmeans_step_with_empty_clusters_and_ties(submission, rng):
    """Integer data, so that every distance is exact: points halfway between two prototypes go to the
    first, and a far prototype that gets no point stays where it is."""
    Y = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [4.0, 2.0], [4.0, 4.0]])
    W = np.array([[0.0, 2.0, 100.0], [0.0, 0.0, 100.0]])
    assert_close(submission.kmeans_infer(Y, W), [0, 1, 0, 1, 1], 0, 0, name="kmeans_infer with a tie")
    assert_close(submission.kmeans_step(Y, W), [[0.5, 10 / 3, 100.0], [0.0, 2.0, 100.0]], 1e-12, 1e-12,
                 name="kmeans_step with a tie and an empty cluster")
    for i in range(2):
        Y = rng.integers(-3, 4, size=(int(rng.integers(5, 30)), 2)).astype(float)
        W = np.hstack([rng.integers(-3, 4, size=(2, 3)).astype(float), [[50.0], [-50.0]]])
        assert_close(submission.kmeans_step(Y, W), lloyd_step(Y, W), 1e-12, 1e-12,
                     name=f"kmeans_step on integer data with ties and an empty cluster (case {i})")


# ------------------------------------------------------------------ sparse_coding


def energy(y, W, z, lam):
    """(21), no 1/2."""
    return np.sum((y - W @ z) ** 2) + lam * np.abs(z).sum()


@pytest.mark.question("sparse_coding")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.4", "R8.1", "R8.2", "R8.3")
def test_energy_lipschitz_and_soft_threshold(submission, rng):
    W = rng.normal(size=(int(rng.integers(2, 9)), int(rng.integers(2, 9))))
    assert_close(submission.sparse_coding_energy(np.array([1.0, 2.0]), np.eye(2), np.array([0.0, -1.0]), 0.5), 10.5,
                 1e-12, 0, name="sparse_coding_energy(y=[1, 2], W=I, z=[0, -1], lam=0.5), which is 1^2 + 3^2 + 0.5 * 1")
    y, z, lam = rng.normal(size=W.shape[0]), rng.normal(size=W.shape[1]), rng.uniform(0.1, 2)
    assert_close(assert_inputs_unchanged(submission.sparse_coding_energy, y, W, z, lam), energy(y, W, z, lam),
                 1e-12, 0, name="sparse_coding_energy")
    assert_close(submission.lipschitz_constant(W), 2 * np.linalg.eigvalsh(W.T @ W).max(), 1e-9, 0,
                 name="lipschitz_constant")
    v, t = rng.normal(size=20), rng.uniform(0.1, 1)
    v[:2] = [t, -t]  # exactly at the threshold
    assert_close(assert_inputs_unchanged(submission.soft_threshold, v, t), torch.nn.functional.softshrink(t64(v), t).numpy(),
                 1e-12, 1e-15, name="soft_threshold")


def sparse_problem(rng):
    d, k = int(rng.integers(15, 30)), int(rng.integers(3, 10))
    W = rng.normal(size=(d, k)) * log_uniform(rng, 0.1, 10)
    z_true = rng.normal(size=k) * (rng.random(k) < 0.5)
    y = W @ z_true + 0.1 * rng.normal(size=d) * np.abs(W).mean()
    lam = float(np.abs(2 * W.T @ y).max() * rng.uniform(0.05, 0.5))  # below lam_max = ||2 W'y||_inf, so z* != 0
    return y, W, lam


@pytest.mark.question("sparse_coding")
@pytest.mark.points(3)
@pytest.mark.requirement("R8.4")
def test_ista_decreases_the_energy_at_every_step(submission, rng):
    for i in range(3):
        y, W, lam = sparse_problem(rng)
        Z = as_array(assert_inputs_unchanged(submission.ista, y, W, lam, 50), "ista")
        assert_shape(Z, (51, W.shape[1]), name="ista(y, W, lam, 50)")
        assert_close(Z[0], np.zeros(W.shape[1]), 0, 0, name="ista: row 0 (the start, z = 0)")
        energies = np.array([energy(y, W, z, lam) for z in Z])
        rises = np.diff(energies) > 1e-12 * energies[0]
        if rises.any():
            t = int(np.argmax(rises))
            raise AssertionError(f"ista (case {i}): the energy (21) rises from step {t} to {t + 1}: "
                                 f"{energies[t]:.12g} -> {energies[t + 1]:.12g}")
        if not energies[-1] < energies[0]:
            raise AssertionError(f"ista (case {i}): the energy did not decrease in 50 steps")


@pytest.mark.question("sparse_coding")
@pytest.mark.points(4)
@pytest.mark.requirement("R8.5")
def test_ista_matches_lasso(submission, rng):
    """(25): ||y - Wz||^2 + lam ||z||_1 = 2d [ ||y - Wz||^2 / (2d) + (lam / 2d) ||z||_1 ], sklearn's Lasso with alpha = lam / (2d)."""
    for i in range(2):
        y, W, lam = sparse_problem(rng)
        d = len(y)
        lasso = Lasso(alpha=lam / (2 * d), fit_intercept=False, tol=1e-14, max_iter=100000).fit(W, y)
        Z = as_array(submission.ista(y, W, lam, 2000), "ista")
        assert_shape(Z, (2001, W.shape[1]), name="ista(y, W, lam, 2000)")
        scale = np.abs(lasso.coef_).max()
        assert_close(Z[-1], lasso.coef_, 1e-6, 1e-6 * scale,
                     name=f"ista after 2000 steps (case {i}, W {W.shape}, lam = {lam:.3g}) against sklearn's Lasso")

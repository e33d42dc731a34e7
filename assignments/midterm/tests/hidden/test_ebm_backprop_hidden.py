"""Hidden tests of the midterm's code questions in parts 3 and 4: the Gibbs distribution, the free
energy, the NLL loss and its gradient, InfoNCE, K-means and sparse coding, and back-propagation,
against torch (softmax, logsumexp, autograd, cross-entropy) in float64 on shapes drawn from `rng`,
with temperatures from 1e-3 to 1e3 and energies large enough to overflow a naive exp."""

import numpy as np
import pytest
import torch

from grader import exact
from grader.checks import as_array, assert_close, assert_finite, assert_inputs_unchanged, assert_shape


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def log_uniform(rng, low, high):
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def energies(rng, shape):
    """Energies of a random scale, from 1e-2 to 1e3."""
    return log_uniform(rng, 1e-2, 1e3) * rng.normal(size=shape) + rng.normal()


def random_shape(rng):
    return tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 4))))


# ------------------------------------------------------------------ gibbs and free_energy


def random_cases(rng, n=6):
    """(case number, shape, beta, energies): shapes of 1 to 3 axes, beta log-uniform in [1e-3, 1e3]."""
    for i in range(n):
        shape, beta = random_shape(rng), log_uniform(rng, 1e-3, 1e3)
        yield i, shape, beta, energies(rng, shape)


@pytest.mark.question("gibbs")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.1")
def test_gibbs_matches_torch(submission, rng):
    for i, shape, beta, F in random_cases(rng):
        p = submission.gibbs(F, beta)
        assert_shape(p, shape, name=f"gibbs (case {i}, shape {shape})")
        assert_close(p, torch.softmax(-beta * t64(F), dim=-1).numpy(), 1e-9, 1e-14, name=f"gibbs (case {i}, beta = {beta:.3g})")


@pytest.mark.question("gibbs")
@pytest.mark.points(1)
@pytest.mark.requirement("R3.1")
def test_gibbs_does_not_overflow(submission):
    F, beta = np.array([[-1.0, -2.0, -3.0], [1e6, 1e6 + 1e-3, 1e6 + 5e-3]]), 1e3
    p = submission.gibbs(F, beta)
    assert_finite(p, name="gibbs at beta = 1e3 with energies -3 and 1e6")
    # exact to the last place; the tolerance admits the rounding of -beta * F (about beta |F| 1e-16, 3.5e-8 here),
    # which torch's softmax of -beta * F makes too, and a shift by F_min before scaling does not
    rtol = max(1e-9, 4 * beta * np.abs(F).max() * np.finfo(np.float64).eps)
    assert_close(p, exact.softmax(F, -beta), rtol, 1e-300, name="gibbs at beta = 1e3")


@pytest.mark.question("free_energy")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.2")
def test_free_energy_matches_torch(submission, rng):
    for i, shape, beta, E in random_cases(rng):
        expected = exact.free_energy(E, beta)
        F = submission.free_energy(E, beta)
        assert_shape(F, shape[:-1], name=f"free_energy (case {i}, E of shape {shape})")
        assert_close(F, expected, 1e-9, 1e-9 * np.abs(E).max(), name=f"free_energy (case {i}, beta = {beta:.3g})")


@pytest.mark.question("free_energy")
@pytest.mark.points(1)
@pytest.mark.requirement("R3.2")
def test_free_energy_near_zero_temperature(submission, rng):
    """(17): min E - log(K) / beta <= F_beta <= min E, at beta = 1e6."""
    E, beta = 1e3 * rng.normal(size=(4, 6)), 1e6
    F = as_array(submission.free_energy(E, beta), "free_energy")
    assert_shape(F, (4,), name="free_energy at beta = 1e6")
    low, high = E.min(axis=1) - np.log(6) / beta, E.min(axis=1)
    slack = 1e-12 * np.abs(E).max()
    assert np.all(F >= low - slack) and np.all(F <= high + slack), (
        f"free_energy at beta = 1e6: expected values within [min E - log(K) / beta, min E] = "
        f"{np.stack([low, high], axis=1).tolist()}, got {F.tolist()}")


# ------------------------------------------------------------------ nll_loss and nll_grad


def torch_nll(F, y, beta):
    """(18) in torch: the mean of F(x_i, y_i) + (1/beta) logsumexp(-beta F(x_i, .))."""
    return (F[torch.arange(len(y)), torch.as_tensor(y)] + torch.logsumexp(-beta * F, dim=1) / beta).mean()


def nll_case(rng):
    N, K = int(rng.integers(1, 8)), int(rng.integers(2, 7))
    return energies(rng, (N, K)), rng.integers(0, K, size=N), log_uniform(rng, 1e-3, 1e3)


@pytest.mark.question("nll_loss")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.1", "R3.4")
def test_nll_loss_matches_torch(submission, rng):
    for i in range(6):
        F, y, beta = nll_case(rng)
        assert_close(submission.nll_loss(F, y, beta), torch_nll(t64(F), y, beta).item(), 1e-9, 1e-9 * np.abs(F).max(),
                     name=f"nll_loss (case {i}, F of shape {F.shape}, beta = {beta:.3g})")


@pytest.mark.question("nll_loss")
@pytest.mark.points(1)
@pytest.mark.requirement("R3.4")
def test_nll_loss_large_beta(submission):
    """At beta = 1e3 the loss tends to F(x, y_i) - min_y F(x, y): exp(-beta F) must not overflow."""
    F, y = np.array([[-2.0, -1.0, 0.5], [3.0, 2.0, 2.5]]), np.array([1, 2])
    loss = submission.nll_loss(F, y, 1e3)
    assert_close(loss, torch_nll(t64(F), y, 1e3).item(), 1e-9, 1e-12, name="nll_loss at beta = 1e3")


@pytest.mark.question("nll_grad")
@pytest.mark.points(3)
@pytest.mark.requirement("R3.5")
def test_nll_grad_matches_autograd(submission, rng):
    for i in range(6):
        F, y, beta = nll_case(rng)
        energies_t = t64(F).requires_grad_()
        torch_nll(energies_t, y, beta).backward()
        G = submission.nll_grad(F, y, beta)
        assert_shape(G, F.shape, name=f"nll_grad (case {i})")
        assert_close(G, energies_t.grad.numpy(), 1e-8, 1e-12, name=f"nll_grad (case {i}, beta = {beta:.3g})")


@pytest.mark.question("nll_grad")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.5")
def test_nll_grad_phases_balance(submission, rng):
    """Each row of (19) is (one-hot - P(.|x)) / N: it sums to zero, also at beta = 1e3 with huge energies."""
    F, y = 1e4 * rng.normal(size=(5, 4)), rng.integers(0, 4, size=5)
    G = as_array(submission.nll_grad(F, y, 1e3), "nll_grad")
    assert_finite(G, name="nll_grad at beta = 1e3")
    assert_close(G.sum(axis=1), np.zeros(5), 0, 1e-12, name="nll_grad at beta = 1e3: the sum of each row")
    energies_t = t64(F).requires_grad_()
    torch_nll(energies_t, y, 1e3).backward()
    assert_close(G, energies_t.grad.numpy(), 1e-8, 1e-12, name="nll_grad at beta = 1e3")


# ------------------------------------------------------------------ info_nce


@pytest.mark.question("info_nce")
@pytest.mark.points(1)
@pytest.mark.requirement("R3.6")
def test_cosine_similarities_match_torch(submission, rng):
    for i in range(4):
        N, M, d = (int(v) for v in rng.integers(1, 7, size=3))
        U, V = rng.normal(size=(N, d)) * rng.uniform(0.1, 10), rng.normal(size=(M, d))
        expected = torch.nn.functional.cosine_similarity(t64(U)[:, None, :], t64(V)[None, :, :], dim=-1).numpy()
        S = submission.cosine_similarities(U, V)
        assert_shape(S, (N, M), name=f"cosine_similarities (case {i})")
        assert_close(S, expected, 1e-9, 1e-12, name=f"cosine_similarities (case {i})")


@pytest.mark.question("info_nce")
@pytest.mark.points(3)
@pytest.mark.requirement("R3.7")
def test_info_nce_matches_torch_cross_entropy(submission, rng):
    """(21) is the cross-entropy of the rows of S / tau with the positives on the diagonal, at tau from 1e-3 to 1,
    and at tau = 1e-3 itself, where exp(S / tau) overflows unless the maximum is taken out."""
    for i in range(6):
        N, d, tau = int(rng.integers(1, 8)), int(rng.integers(2, 6)), log_uniform(rng, 1e-3, 1.0)
        U, V = rng.normal(size=(N, d)), rng.normal(size=(N, d))
        S = torch.nn.functional.cosine_similarity(t64(U)[:, None, :], t64(V)[None, :, :], dim=-1)
        expected = torch.nn.functional.cross_entropy(S / tau, torch.arange(N)).item()
        assert_close(submission.info_nce_loss(U, V, tau), expected, 1e-8, 1e-10,
                     name=f"info_nce_loss (case {i}, N = {N}, tau = {tau:.3g})")
    # the smallest temperature the handout promises, with positives close to their anchors: S / tau near 1000
    U = rng.normal(size=(6, 4))
    V = U + 0.1 * rng.normal(size=U.shape)
    S = torch.nn.functional.cosine_similarity(t64(U)[:, None, :], t64(V)[None, :, :], dim=-1).numpy()
    expected = float(np.mean(exact.logsumexp(S, 1e3) - np.diag(S) * 1e3))
    loss = submission.info_nce_loss(U, V, 1e-3)
    assert_finite(loss, name="info_nce_loss at tau = 1e-3")
    assert_close(loss, expected, 1e-8, 1e-10, name="info_nce_loss at tau = 1e-3 (similarities near 1)")


# ------------------------------------------------------------------ kmeans_sparse


@pytest.mark.question("kmeans_sparse")
@pytest.mark.points(3)
@pytest.mark.requirement("R3.8")
def test_kmeans_free_energy_is_the_closest_prototype(submission, rng):
    """(22): the minimum over the k one-hot codes z of ||y - W z||^2, computed here code by code."""
    for i in range(4):
        N, d, k = int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(1, 6))
        Y, W = rng.normal(size=(N, d)), rng.normal(size=(d, k))
        codes = np.eye(k)
        expected = np.array([min(np.sum((y - W @ z) ** 2) for z in codes) for y in Y])
        F = assert_inputs_unchanged(submission.kmeans_free_energy, Y, W)
        assert_shape(F, (N,), name=f"kmeans_free_energy (case {i})")
        assert_close(F, expected, 1e-10, 1e-12, name=f"kmeans_free_energy (case {i}, N = {N}, d = {d}, k = {k})")


@pytest.mark.question("kmeans_sparse")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.9")
def test_sparse_coding_energy(submission, rng):
    for i in range(4):
        d, k = int(rng.integers(1, 6)), int(rng.integers(1, 8))
        y, W, z, lam = rng.normal(size=d), rng.normal(size=(d, k)), rng.normal(size=k), float(rng.uniform(0, 2))
        assert_close(submission.sparse_coding_energy(y, W, z, lam), np.sum((y - W @ z) ** 2) + lam * np.abs(z).sum(),
                     1e-10, 1e-12, name=f"sparse_coding_energy (case {i}, lambda = {lam:.3g})")


# ------------------------------------------------------------------ mlp_backward


def mlp_case(rng):
    N, n, m, K = (int(v) for v in rng.integers(1, 7, size=4))
    K = max(K, 2)
    return (rng.normal(size=(N, n)), rng.integers(0, K, size=N), rng.normal(size=(n, m)), rng.normal(size=m),
            rng.normal(size=(m, K)), rng.normal(size=K))


def autograd_mlp(X, y, W1, b1, W2, b2):
    """(24): the mean cross-entropy of softmax(tanh(X W1 + b1) W2 + b2), and its gradients by autograd."""
    params = [t64(p).requires_grad_() for p in (W1, b1, W2, b2)]
    logits = torch.tanh(t64(X) @ params[0] + params[1]) @ params[2] + params[3]
    torch.nn.functional.cross_entropy(logits, torch.as_tensor(y)).backward()
    return [p.grad.numpy() for p in params]


def assert_mlp_gradients(submission, rng, layer):
    """The gradients of one layer (0: W1, b1; 1: W2, b2) on five random networks, against autograd."""
    names = ("dW1", "db1", "dW2", "db2")[2 * layer:2 * layer + 2]
    for i in range(5):
        case = mlp_case(rng)
        grads, expected = submission.mlp_backward(*case), autograd_mlp(*case)
        assert isinstance(grads, (list, tuple)) and len(grads) == 4, (
            f"mlp_backward must return the four arrays (dW1, db1, dW2, db2), got {type(grads).__name__}")
        for name, got, want in zip(names, grads[2 * layer:2 * layer + 2], expected[2 * layer:2 * layer + 2]):
            assert_close(got, want, 1e-8, 1e-12, name=f"mlp_backward: {name} (case {i})")


@pytest.mark.question("mlp_backward")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.1", "R4.1")
def test_mlp_output_layer_gradients(submission, rng):
    assert_mlp_gradients(submission, rng, layer=1)


@pytest.mark.question("mlp_backward")
@pytest.mark.points(4)
@pytest.mark.requirement("R4.1")
def test_mlp_hidden_layer_gradients(submission, rng):
    assert_mlp_gradients(submission, rng, layer=0)


@pytest.mark.question("mlp_backward")
@pytest.mark.points(1)
@pytest.mark.requirement("R4.2")
def test_mlp_backward_leaves_inputs_unchanged(submission, rng):
    assert_inputs_unchanged(submission.mlp_backward, *mlp_case(rng))

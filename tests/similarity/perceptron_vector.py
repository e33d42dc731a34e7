"""Perceptron tasks, vectorised with einsum and bit tricks."""
import numpy as np


def boolean_inputs(n):
    codes = np.arange(1 << n)
    return ((codes[:, None] & (1 << np.arange(n))[None, :]) > 0).astype(int)


def mp_neuron(X, inhibitory, theta):
    X = np.asarray(X)
    mask = np.asarray(inhibitory, dtype=bool)
    excit = np.einsum("ij,j->i", X, (~mask).astype(X.dtype))
    veto = np.einsum("ij,j->i", X, mask.astype(X.dtype)) > 0
    return ((excit >= theta) & ~veto).astype(int)


def signed_points(X, y, normalise=True):
    X = np.asarray(X, dtype=float)
    sign = 2.0 * (np.asarray(y) == 1) - 1.0
    Z = np.column_stack([np.ones(X.shape[0]), X]) * sign[:, np.newaxis]
    if not normalise:
        return Z
    return Z / np.sqrt(np.einsum("ij,ij->i", Z, Z))[:, np.newaxis]


def perceptron(X, y, w0, max_steps, seed=0, order=None):
    Z = signed_points(X, y, normalise=False)
    ties_ok = np.asarray(y) == 1
    rng = np.random.default_rng(seed)
    w = np.asarray(w0, dtype=float).copy()
    snapshots = [w.copy()]
    n_steps = 0

    def errors(v):
        margin_values = Z @ v
        return np.logical_or(margin_values < 0, np.logical_and(margin_values == 0, np.logical_not(ties_ok)))

    wrong = errors(w)
    for n_steps in range(1, max_steps + 1):
        if not wrong.any():
            n_steps -= 1
            break
        idx = order[(n_steps - 1) % len(order)] if order is not None else rng.integers(Z.shape[0])
        if wrong[idx]:
            w = w + Z[idx]
            snapshots.append(w.copy())
            wrong = errors(w)
    else:
        n_steps = max_steps if max_steps > 0 else 0
    return dict(w=w, converged=bool(~wrong.any()), corrections=len(snapshots) - 1, steps=n_steps,
                trace=np.stack(snapshots))


def norm_sq_bound(w0, k, radius):
    return np.einsum("i,i->", np.asarray(w0, float), np.asarray(w0, float)) + np.multiply(k, radius ** 2)


def margin(P, w_star):
    u = np.asarray(w_star, float) / np.linalg.norm(w_star)
    return float((np.asarray(P, float) @ u).min())


def network_forward(X, net):
    pre = np.einsum("ij,kj->ik", np.asarray(X, float), net["W1"]) + net["b1"]
    return ((pre >= 0).astype(float) @ net["w2"] + net["b2"] >= 0).astype(int)


def boolean_network(truth_table):
    table = np.asarray(truth_table, dtype=float)
    bits = int(round(np.log2(table.size)))
    return dict(W1=np.where(boolean_inputs(bits) == 1, 1.0, -1.0), b1=-bits * np.ones(table.size), w2=table, b2=-1.0)

# Alternative: vectorised numpy with other choices than the obvious ones: boolean_inputs by
# unpackbits-style bit masks, threshold_unit by the modified algorithm on unnormalised signed
# corners with a bound on the epochs, the runs track all margins at once (P @ w), bounds by
# np.polynomial roots for k_max, and a network that scales weights by 0.5 (any correct weights).
import numpy as np


def mp_neuron(X, inhibitory, theta):
    X = np.asarray(X)
    inhibitory = np.asarray(inhibitory, dtype=bool)
    excit = X[:, ~inhibitory].sum(axis=1)
    veto = (X[:, inhibitory] != 0).any(axis=1)
    return np.where(veto, 0, (excit >= theta).astype(np.int64)).astype(np.int64)


def boolean_inputs(n):
    r = np.arange(2 ** n)[:, None]
    masks = 1 << np.arange(n)[None, :]
    return ((r & masks) != 0).astype(np.int64)


def _augment(X):
    X = np.asarray(X, dtype=float)
    return np.hstack([np.ones((X.shape[0], 1)), X])


def threshold_unit(truth_table):
    t = np.asarray(truth_table).astype(int)
    n = int(np.log2(t.size))
    A = _augment(boolean_inputs(n))
    # Algorithm 1 in epochs: stop when an epoch makes no correction, or when the weights at the
    # start of an epoch repeat (the cycling theorem), which means the table is not separable.
    w = np.zeros(n + 1)
    history = set()
    while True:
        key = w.tobytes()
        if key in history:
            return None
        history.add(key)
        wrong = 0
        for r in range(t.size):
            s = A[r] @ w
            if t[r] == 1 and s < 0:
                w, wrong = w + A[r], wrong + 1
            elif t[r] == 0 and s >= 0:
                w, wrong = w - A[r], wrong + 1
        if wrong == 0:
            return w


def _learn(S, w0, max_steps, seed, order, strict):
    """S: signed points; a point is wrong when S @ w < 0 (strict) or <= 0."""
    w = np.array(w0, dtype=float)
    rng = np.random.default_rng(seed)
    bad = (lambda v: v < 0) if strict else (lambda v: v <= 0)
    trace = [w.copy()]
    steps = 0
    done = not bad(S @ w).any()
    while not done and steps < max_steps:
        i = order[steps % len(order)] if order is not None else rng.integers(len(S))
        steps += 1
        if bad(S[i] @ w):
            w = w + S[i]
            trace.append(w.copy())
            done = not bad(S @ w).any()
    return {"w": w, "converged": bool(done), "corrections": len(trace) - 1, "steps": int(steps),
            "trace": np.stack(trace)}


def perceptron(X, y, w0, max_steps, seed=0, order=None):
    # Signed augmented points: y=1 is wrong when s.w < 0, y=0 (negated) when s.w <= 0.
    A = _augment(X)
    pos = np.asarray(y) == 1
    S = np.where(pos[:, None], A, -A)
    w = np.array(w0, dtype=float)
    rng = np.random.default_rng(seed)

    def wrong(v, p):
        return np.where(p, v < 0, v <= 0)

    trace = [w.copy()]
    steps = 0
    done = not wrong(S @ w, pos).any()
    while not done and steps < max_steps:
        i = order[steps % len(order)] if order is not None else rng.integers(len(S))
        steps += 1
        if wrong(S[i] @ w, pos[i]):
            w = w + S[i]
            trace.append(w.copy())
            done = not wrong(S @ w, pos).any()
    return {"w": w, "converged": bool(done), "corrections": len(trace) - 1, "steps": int(steps),
            "trace": np.stack(trace)}


def signed_points(X, y, normalise=True):
    A = _augment(X)
    sign = 2.0 * (np.asarray(y) == 1) - 1.0
    P = A * sign[:, None]
    if normalise:
        P = P / np.linalg.norm(P, axis=1, keepdims=True)
    return P


def modified_perceptron(P, w0, max_steps, seed=0, order=None):
    return _learn(np.asarray(P, dtype=float), w0, max_steps, seed, order, strict=False)


def margin(P, w_star):
    w_star = np.asarray(w_star, dtype=float)
    return float(np.min(np.asarray(P) @ (w_star / np.linalg.norm(w_star))))


def alignment_bound(w_star, w0, k, delta):
    u = np.asarray(w_star, float) / np.linalg.norm(w_star)
    return u @ np.asarray(w0, float) + np.asarray(k, float) * delta


def norm_sq_bound(w0, k, radius):
    w0 = np.asarray(w0, float)
    return np.dot(w0, w0) + np.asarray(k, float) * radius * radius


def cos_beta_bound(w_star, w0, k, delta, radius):
    return alignment_bound(w_star, w0, k, delta) / np.sqrt(norm_sq_bound(w0, k, radius))


def correction_bound(w_star, w0, delta, radius):
    u = np.asarray(w_star, float) / np.linalg.norm(w_star)
    w0 = np.asarray(w0, float)
    a, b = u @ w0, w0 @ w0
    # citardauq form of the larger root of d^2 k^2 + (2ad - R^2) k + (a^2 - b) = 0
    A, B, C = delta ** 2, 2 * a * delta - radius ** 2, a * a - b
    q = -0.5 * (B + np.copysign(np.sqrt(max(B * B - 4 * A * C, 0.0)), B))
    roots = [q / A] + ([C / q] if q != 0 else [])
    return float(max(roots))


def boolean_network(truth_table):
    t = np.asarray(truth_table, dtype=float)
    n = int(np.log2(t.size))
    Z = 2.0 * boolean_inputs(n) - 1.0
    return {"W1": 0.5 * Z, "b1": np.full(2 ** n, -0.5 * n), "w2": 3.0 * t, "b2": -1.5}


def network_forward(X, net):
    X = np.asarray(X, dtype=float)
    H = (X @ np.asarray(net["W1"], float).T + np.asarray(net["b1"], float) >= 0).astype(float)
    return (H @ np.asarray(net["w2"], float) + float(net["b2"]) >= 0).astype(np.int64)

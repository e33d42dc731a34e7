import numpy as np

# Helpers first, tasks after.


def _with_bias(X):
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    ones = np.ones((X.shape[0], 1), dtype=np.float64)
    return np.concatenate([ones, X], axis=1)


def _unit_rows(A):
    return A / np.linalg.norm(A, axis=-1)[..., None]


def _needs_correction(P, w, tie_ok):
    d = P.dot(w)
    return (d < 0.0) | ((d == 0.0) & (tie_ok == False))  # noqa: E712


def signed_points(X, y, normalise=True):
    labels = np.asarray(y).ravel()
    A = _with_bias(X)
    A[labels != 1] *= -1.0
    return _unit_rows(A) if normalise else A


def perceptron(X, y, w0, max_steps, seed=0, order=None):
    A = signed_points(X, y, False)
    tie_ok = np.asarray(y).ravel() == 1
    generator = np.random.default_rng(seed)
    w, trace = np.asarray(w0, dtype=np.float64) + 0.0, []
    trace.append(w)
    todo = _needs_correction(A, w, tie_ok)
    step = 0
    while True:
        if step >= max_steps or not todo.any():
            break
        k = generator.integers(A.shape[0]) if order is None else order[step % len(order)]
        step = step + 1
        if not todo[k]:
            continue
        w = w + A[k]
        trace.append(w)
        todo = _needs_correction(A, w, tie_ok)
    return {"w": w, "converged": not bool(todo.any()), "corrections": len(trace) - 1, "steps": step,
            "trace": np.vstack(trace)}


def mp_neuron(X, inhibitory, theta):
    X = np.asarray(X)
    inh = np.flatnonzero(np.asarray(inhibitory, dtype=bool))
    exc = np.flatnonzero(~np.asarray(inhibitory, dtype=bool))
    silent = X[:, inh].max(axis=1, initial=0) > 0
    return np.where(silent | (X[:, exc].sum(axis=1) < theta), 0, 1)


def boolean_inputs(n):
    grid = np.indices((2,) * n).reshape(n, -1).T if n else np.zeros((1, 0), dtype=int)
    return grid[:, ::-1].astype(int)


def margin(P, w_star):
    return float(np.min(np.dot(np.asarray(P, dtype=np.float64), _unit_rows(np.asarray(w_star, dtype=np.float64)))))


def norm_sq_bound(w0, k, radius):
    w0 = np.asarray(w0, dtype=np.float64)
    return np.square(w0).sum() + np.asarray(k) * np.square(radius)


def network_forward(X, net):
    hidden = np.heaviside(_with_bias(X).dot(np.column_stack([net["b1"], net["W1"]]).T), 1.0)
    return np.heaviside(hidden.dot(net["w2"]) + net["b2"], 1.0).astype(int)


def boolean_network(truth_table):
    f = np.asarray(truth_table, dtype=np.float64)
    n = int(np.log2(f.shape[0]))
    corners = boolean_inputs(n)
    return {"W1": corners * 2.0 - 1.0, "b1": np.full(f.shape[0], -1.0 * n), "w2": f, "b2": -1.0}

import math

import numpy as np


def to_bits(r, n):
    return [int(c) for c in reversed(format(r, f"0{n}b"))] if n else []


def boolean_inputs(n):
    return np.array([to_bits(r, n) for r in range(2 ** n)], dtype=int).reshape(-1, n)


def mp_neuron(X, inhibitory, theta):
    fires = lambda row: not any(v for v, i in zip(row, inhibitory) if i) and sum(
        v for v, i in zip(row, inhibitory) if not i) >= theta
    return np.array([int(fires(row)) for row in np.asarray(X).tolist()])


def signed_points(X, y, normalise=True):
    signed = [[s * v for v in [1.0, *row]] for row, s in zip(np.asarray(X, float).tolist(),
                                                              [1 if t == 1 else -1 for t in np.asarray(y).tolist()])]
    if normalise:
        signed = [[v / math.hypot(*row) for v in row] for row in signed]
    return np.array(signed)


def perceptron(X, y, w0, max_steps, seed=0, order=None):
    points = signed_points(X, y, normalise=False)
    tie_fine = [t == 1 for t in np.asarray(y).tolist()]
    draw = np.random.default_rng(seed)
    current = np.array(w0, dtype=float)
    visited = [current]
    needs_fix = lambda w: [d < 0 or (d == 0 and not ok) for d, ok in zip((points @ w).tolist(), tie_fine)]
    flags, taken = needs_fix(current), 0
    while taken < max_steps and True in flags:
        choice = order[taken % len(order)] if order is not None else draw.integers(len(points))
        taken += 1
        if flags[choice]:
            current = current + points[choice]
            visited.append(current)
            flags = needs_fix(current)
    return {"w": current, "converged": True not in flags, "corrections": len(visited) - 1, "steps": taken,
            "trace": np.array(visited)}


def margin(P, w_star):
    length = math.sqrt(sum(v * v for v in np.asarray(w_star, float).tolist()))
    return min(sum(a * b / length for a, b in zip(p, np.asarray(w_star, float).tolist()))
               for p in np.asarray(P, float).tolist())


def norm_sq_bound(w0, k, radius):
    return sum(v ** 2 for v in np.asarray(w0, float).tolist()) + np.asarray(k) * radius ** 2


def boolean_network(truth_table):
    size = len(truth_table)
    n = size.bit_length() - 1
    return {"W1": np.array([[2.0 * b - 1 for b in to_bits(r, n)] for r in range(size)]).reshape(size, n),
            "b1": np.array([-float(n) for _ in range(size)]),
            "w2": np.array([float(t) for t in truth_table]), "b2": -1.0}


def network_forward(X, net):
    layer = lambda x: [float(np.dot(w, x) + b >= 0) for w, b in zip(net["W1"], net["b1"])]
    return np.array([int(np.dot(layer(x), net["w2"]) + net["b2"] >= 0) for x in np.asarray(X, float)])

# Alternative: plain Python loops everywhere (no vectorised numpy), the learning runs keep a
# count of misclassified points instead of re-scanning, and threshold_unit detects cycling
# with a set of epoch-start weight tuples.
import numpy as np


def mp_neuron(X, inhibitory, theta):
    out = []
    for row in X:
        fired = 1
        total = 0
        for x, inh in zip(row, inhibitory):
            if inh and x:
                fired = 0
            elif not inh:
                total += x
        out.append(fired if total >= theta else 0)
    return np.array(out, dtype=np.int64)


def boolean_inputs(n):
    rows = []
    for r in range(2 ** n):
        rows.append([(r // 2 ** j) % 2 for j in range(n)])
    return np.array(rows, dtype=np.int64).reshape(2 ** n, n)


def _dot(a, b):
    s = 0.0
    for i in range(len(a)):
        s += a[i] * b[i]
    return s


def threshold_unit(truth_table):
    table = [int(v) for v in truth_table]
    n = int(round(np.log2(len(table))))
    X = boolean_inputs(n)
    w = [0] * (n + 1)
    seen = set()
    while True:
        key = tuple(w)
        if key in seen:
            return None
        seen.add(key)
        changed = False
        for r in range(len(table)):
            x = [1] + [int(v) for v in X[r]]
            s = sum(wi * xi for wi, xi in zip(w, x))
            if table[r] == 1 and s < 0:
                w = [wi + xi for wi, xi in zip(w, x)]
                changed = True
            elif table[r] == 0 and s >= 0:
                w = [wi - xi for wi, xi in zip(w, x)]
                changed = True
        if not changed:
            return np.array(w, dtype=float)


def _run(points, wrong, w0, max_steps, seed, order):
    w = [float(v) for v in w0]
    trace = [list(w)]
    rng = np.random.default_rng(seed)
    m = len(points)

    def all_good():
        for i in range(m):
            if wrong(w, i):
                return False
        return True

    converged = all_good()
    steps = 0
    corrections = 0
    while not converged and steps < max_steps:
        i = order[steps % len(order)] if order is not None else int(rng.integers(m))
        steps += 1
        if wrong(w, i):
            sign = points[i][1]
            w = [wi + sign * pi for wi, pi in zip(w, points[i][0])]
            corrections += 1
            trace.append(list(w))
            converged = all_good()
    return {"w": np.array(w, dtype=float), "converged": bool(converged), "corrections": corrections,
            "steps": steps, "trace": np.array(trace, dtype=float)}


def perceptron(X, y, w0, max_steps, seed=0, order=None):
    points = []
    for row, label in zip(X, y):
        x = [1.0] + [float(v) for v in row]
        points.append((x, 1.0 if label == 1 else -1.0))

    def wrong(w, i):
        s = _dot(w, points[i][0])
        return (s < 0) if points[i][1] > 0 else (s >= 0)

    return _run(points, wrong, w0, max_steps, seed, order)


def signed_points(X, y, normalise=True):
    rows = []
    for row, label in zip(X, y):
        p = [1.0] + [float(v) for v in row]
        if label == 0:
            p = [-v for v in p]
        if normalise:
            length = sum(v * v for v in p) ** 0.5
            p = [v / length for v in p]
        rows.append(p)
    return np.array(rows, dtype=float)


def modified_perceptron(P, w0, max_steps, seed=0, order=None):
    points = [([float(v) for v in row], 1.0) for row in P]

    def wrong(w, i):
        return _dot(w, points[i][0]) <= 0

    return _run(points, wrong, w0, max_steps, seed, order)


def margin(P, w_star):
    length = _dot(w_star, w_star) ** 0.5
    best = None
    for p in P:
        v = _dot(w_star, p) / length
        best = v if best is None or v < best else best
    return float(best)


def alignment_bound(w_star, w0, k, delta):
    a = _dot(w_star, w0) / _dot(w_star, w_star) ** 0.5
    return np.array([a + int(ki) * delta for ki in k], dtype=float)


def norm_sq_bound(w0, k, radius):
    b = _dot(w0, w0)
    return np.array([b + int(ki) * radius ** 2 for ki in k], dtype=float)


def cos_beta_bound(w_star, w0, k, delta, radius):
    top = alignment_bound(w_star, w0, k, delta)
    bottom = norm_sq_bound(w0, k, radius)
    return np.array([t / b ** 0.5 for t, b in zip(top, bottom)], dtype=float)


def correction_bound(w_star, w0, delta, radius):
    a = _dot(w_star, w0) / _dot(w_star, w_star) ** 0.5
    b = _dot(w0, w0)
    R2 = radius ** 2
    # (a + k d)^2 = b + k R^2  <=>  d^2 k^2 + (2 a d - R^2) k + (a^2 - b) = 0; the larger root.
    A, B, C = delta ** 2, 2 * a * delta - R2, a * a - b
    disc = max(B * B - 4 * A * C, 0.0)
    return float((-B + disc ** 0.5) / (2 * A))


def boolean_network(truth_table):
    table = list(truth_table)
    n = int(round(np.log2(len(table))))
    X = boolean_inputs(n)
    W1 = [[2.0 * v - 1.0 for v in X[j]] for j in range(2 ** n)]
    return {"W1": np.array(W1).reshape(2 ** n, n), "b1": np.full(2 ** n, -float(n)),
            "w2": np.array([float(v) for v in table]), "b2": -1.0}


def network_forward(X, net):
    W1, b1, w2, b2 = net["W1"], net["b1"], net["w2"], net["b2"]
    out = []
    for x in X:
        h = []
        for j in range(len(b1)):
            h.append(1.0 if _dot(W1[j], x) + b1[j] >= 0 else 0.0)
        out.append(1 if _dot(w2, h) + b2 >= 0 else 0)
    return np.array(out, dtype=np.int64)

import numpy as np


def mp_neuron(X, inhibitory, theta):
    out = []
    for row in np.asarray(X):
        blocked = False
        total = 0
        for value, inhib in zip(row, inhibitory):
            if inhib and value:
                blocked = True
            elif not inhib:
                total += value
        out.append(0 if blocked else int(total >= theta))
    return np.array(out)


def boolean_inputs(n):
    rows = []
    for r in range(2 ** n):
        rows.append([(r >> j) & 1 for j in range(n)])
    return np.array(rows, dtype=int).reshape(2 ** n, n)


def signed_points(X, y, normalise=True):
    points = []
    for x, label in zip(np.asarray(X, dtype=float), y):
        p = np.concatenate(([1.0], x))
        if label != 1:
            p = -p
        if normalise:
            p = p / np.sqrt(np.sum(p * p))
        points.append(p)
    return np.array(points)


def perceptron(X, y, w0, max_steps, seed=0, order=None):
    P = signed_points(X, y, normalise=False)
    positive = np.asarray(y) == 1
    generator = np.random.default_rng(seed)
    weights = np.array(w0, dtype=float)
    history = [weights]

    def misclassified(v):
        scores = P @ v
        return [s < 0 or (s == 0 and not pos) for s, pos in zip(scores, positive)]

    bad = misclassified(weights)
    count = 0
    while any(bad) and count < max_steps:
        if order is None:
            pick = generator.integers(len(P))
        else:
            pick = order[count % len(order)]
        count += 1
        if bad[pick]:
            weights = weights + P[pick]
            history.append(weights)
            bad = misclassified(weights)
    return {"w": weights, "converged": not any(bad), "corrections": len(history) - 1, "steps": count,
            "trace": np.array(history)}


def margin(P, w_star):
    direction = np.asarray(w_star, dtype=float)
    direction = direction / np.sqrt(direction @ direction)
    smallest = None
    for p in np.asarray(P, dtype=float):
        value = p @ direction
        if smallest is None or value < smallest:
            smallest = value
    return float(smallest)


def norm_sq_bound(w0, k, radius):
    start = np.asarray(w0, dtype=float)
    return float(sum(c * c for c in start)) + np.asarray(k) * radius * radius


def boolean_network(truth_table):
    n = int(np.log2(len(truth_table)))
    weights = []
    for row in boolean_inputs(n):
        weights.append([1.0 if bit else -1.0 for bit in row])
    return {"W1": np.array(weights).reshape(2 ** n, n), "b1": np.array([-float(n)] * 2 ** n),
            "w2": np.array(truth_table, dtype=float), "b2": -1.0}


def network_forward(X, net):
    results = []
    for x in np.asarray(X, dtype=float):
        hidden = [1.0 if w @ x + b >= 0 else 0.0 for w, b in zip(net["W1"], net["b1"])]
        results.append(int(np.dot(hidden, net["w2"]) + net["b2"] >= 0))
    return np.array(results)

# Alternative: a forward pass that loops over the examples (one row at a time), a backward
# pass that accumulates each example's outer products in turn, and the sigmoid neuron's
# gradient summed in a Python loop. Correct, but the forward pass is not vectorised over the
# batch, so it is meant to lose the speed question. Training, too slow through those loops on
# the digits, runs (12)-(21) on whole batches in helpers of its own.
import numpy as np


def sigmoid(a):
    a = np.asarray(a, dtype=float)
    out = np.empty_like(a)
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    e = np.exp(a[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def sigmoid_grad(a):
    s = sigmoid(a)
    return s * (1.0 - s)


def tanh(a):
    return np.tanh(np.asarray(a, dtype=float))


def tanh_grad(a):
    t = np.tanh(np.asarray(a, dtype=float))
    return 1.0 - t * t


def relu(a):
    a = np.asarray(a, dtype=float)
    return np.where(a > 0, a, 0.0)


def relu_grad(a):
    return (np.asarray(a) > 0).astype(float)


def softmax(a):
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        e = np.exp(a - a.max())
        return e / e.sum()
    return np.array([softmax(row) for row in a]).reshape(a.shape)


def cross_entropy(a, y):
    a = np.asarray(a, dtype=float)
    total = 0.0
    for row, label in zip(a, y):
        m = row.max()
        total += -(row[int(label)] - m - np.log(np.sum(np.exp(row - m))))
    return float(total / len(a))


def squared_error(y_hat, y):
    d = np.asarray(y_hat, dtype=float) - np.asarray(y, dtype=float)
    return float(np.sum(d * d) / d.shape[0])


ACT = {"sigmoid": (sigmoid, sigmoid_grad), "tanh": (tanh, tanh_grad), "relu": (relu, relu_grad)}


def forward(X, params, activation, output):
    g = ACT[activation][0]
    L = len(params["W"])
    X = np.asarray(X, dtype=float)
    A = [[] for _ in range(L)]
    H = [[] for _ in range(L + 1)]
    for x in X:
        h = x
        H[0].append(h)
        for k in range(L):
            a = params["W"][k] @ h + params["b"][k]
            A[k].append(a)
            if k < L - 1:
                h = g(a)
            elif output == "softmax":
                h = softmax(a)
            else:
                h = a
            H[k + 1].append(h)
    return {"a": [np.array(rows).reshape(len(X), -1) for rows in A],
            "h": [X.copy()] + [np.array(rows).reshape(len(X), -1) for rows in H[1:]]}


def backward(cache, y, params, activation, output):
    dg = ACT[activation][1]
    L = len(params["W"])
    N = cache["h"][0].shape[0]
    gW = [np.zeros_like(np.asarray(W, dtype=float)) for W in params["W"]]
    gb = [np.zeros_like(np.asarray(b, dtype=float)) for b in params["b"]]
    for i in range(N):
        out = cache["h"][L][i]
        if output == "softmax":
            delta = out.copy()
            delta[int(y[i])] -= 1.0
            delta /= N
        else:
            delta = 2.0 * (out - np.asarray(y, dtype=float)[i]) / N
        for k in range(L - 1, -1, -1):
            gW[k] += np.outer(delta, cache["h"][k][i])
            gb[k] += delta
            if k > 0:
                delta = (params["W"][k].T @ delta) * dg(cache["a"][k - 1][i])
    return {"W": gW, "b": gb}


def sigmoid_neuron_gd(x, y, w, b, lr, steps):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    N = len(x)

    def loss(w, b):
        return float(sum((y[i] - sigmoid(np.array(w * x[i] + b))) ** 2 for i in range(N)) / N)

    losses = [loss(w, b)]
    for _ in range(steps):
        dw = db = 0.0
        for i in range(N):
            f = float(sigmoid(np.array(w * x[i] + b)))
            r = 2.0 / N * (f - y[i]) * f * (1 - f)
            dw += r * x[i]
            db += r
        w, b = w - lr * dw, b - lr * db
        losses.append(loss(w, b))
    return {"w": float(w), "b": float(b), "losses": losses}


def init_params(layer_sizes, seed):
    rng = np.random.default_rng(seed)
    W, b = [], []
    for k in range(1, len(layer_sizes)):
        W.append(rng.normal(0.0, 1.0 / np.sqrt(layer_sizes[k - 1]), size=(layer_sizes[k], layer_sizes[k - 1])))
        b.append(np.zeros(layer_sizes[k]))
    return {"W": W, "b": b}


def _batch_gradients(X, y, params, activation):
    g, dg = ACT[activation]
    L = len(params["W"])
    hs, acts = [np.asarray(X, dtype=float)], []
    for k in range(L):
        acts.append(hs[-1] @ params["W"][k].T + params["b"][k])
        hs.append(g(acts[-1]) if k < L - 1 else softmax(acts[-1]))
    delta = hs[-1].copy()
    delta[np.arange(len(y)), np.asarray(y, dtype=int)] -= 1.0
    delta /= len(y)
    gW, gb = [None] * L, [None] * L
    for k in range(L - 1, -1, -1):
        gW[k], gb[k] = delta.T @ hs[k], delta.sum(axis=0)
        if k > 0:
            delta = (delta @ params["W"][k]) * dg(acts[k - 1])
    return {"W": gW, "b": gb}


def train(X, y, layer_sizes, activation, lr, epochs, seed):
    params = init_params(layer_sizes, seed)
    for _ in range(epochs):
        grads = _batch_gradients(X, y, params, activation)
        params = {"W": [W - lr * g for W, g in zip(params["W"], grads["W"])],
                  "b": [b - lr * g for b, g in zip(params["b"], grads["b"])]}
    return params

# Alternative: vectorised, with other stable formulas than the handout's: sigmoid as
# exp(-logaddexp(0, -a)), sigmoid' as e^{-|a|} / (1 + e^{-|a|})^2 (accurate in the tails),
# tanh' as 1/cosh^2, softmax and cross-entropy through a log-sum-exp, the backward pass with
# einsum, and init drawing W_k^T (n_{k-1}, n_k) and transposing.
import numpy as np


def sigmoid(a):
    return np.exp(-np.logaddexp(0.0, -np.asarray(a, dtype=float)))


def sigmoid_grad(a):
    e = np.exp(-np.abs(np.asarray(a, dtype=float)))
    return e / (1.0 + e) ** 2


def tanh(a):
    return np.tanh(np.asarray(a, dtype=float))


def tanh_grad(a):
    with np.errstate(over="ignore"):
        return 1.0 / np.cosh(np.asarray(a, dtype=float)) ** 2


def relu(a):
    return np.maximum(np.asarray(a, dtype=float), 0.0)


def relu_grad(a):
    return np.heaviside(np.asarray(a, dtype=float), 0.0)


def _logsumexp(a):
    m = np.max(a, axis=-1, keepdims=True)
    return m + np.log(np.sum(np.exp(a - m), axis=-1, keepdims=True))


def softmax(a):
    a = np.asarray(a, dtype=float)
    return np.exp(a - _logsumexp(a))


def cross_entropy(a, y):
    a = np.asarray(a, dtype=float)
    y = np.asarray(y).astype(int)
    logp = a - _logsumexp(a)
    return float(-np.take_along_axis(logp, y[:, None], axis=1).mean())


def squared_error(y_hat, y):
    d = np.asarray(y_hat, dtype=float) - np.asarray(y, dtype=float)
    return float(np.einsum("ij,ij->", d, d) / d.shape[0])


ACT = {"sigmoid": (sigmoid, sigmoid_grad), "tanh": (tanh, tanh_grad), "relu": (relu, relu_grad)}


def forward(X, params, activation, output):
    g = ACT[activation][0]
    h = np.asarray(X, dtype=float)
    cache = {"a": [], "h": [h]}
    L = len(params["W"])
    for k, (W, b) in enumerate(zip(params["W"], params["b"]), start=1):
        a = np.einsum("nj,ij->ni", h, W) + b
        h = g(a) if k < L else (softmax(a) if output == "softmax" else a)
        cache["a"].append(a)
        cache["h"].append(h)
    return cache


def backward(cache, y, params, activation, output):
    dg = ACT[activation][1]
    L = len(params["W"])
    p = cache["h"][L]
    N = p.shape[0]
    if output == "softmax":
        onehot = np.eye(p.shape[1])[np.asarray(y).astype(int)]
        delta = (p - onehot) / N
    else:
        delta = 2.0 * (p - np.asarray(y, dtype=float)) / N
    gW, gb = [None] * L, [None] * L
    for k in range(L, 0, -1):
        gW[k - 1] = np.einsum("ni,nj->ij", delta, cache["h"][k - 1])
        gb[k - 1] = np.einsum("ni->i", delta)
        if k > 1:
            delta = (delta @ params["W"][k - 1]) * dg(cache["a"][k - 2])
    return {"W": gW, "b": gb}


def sigmoid_neuron_gd(x, y, w, b, lr, steps):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w, b = float(w), float(b)
    losses = []
    for t in range(steps + 1):
        f = sigmoid(w * x + b)
        losses.append(float(np.mean((y - f) ** 2)))
        if t == steps:
            break
        r = 2.0 * (f - y) * sigmoid_grad(w * x + b) / len(x)
        w, b = w - lr * float(r @ x), b - lr * float(r.sum())
    return {"w": w, "b": b, "losses": losses}


def init_params(layer_sizes, seed):
    rng = np.random.default_rng(seed)
    W = [(rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).T.copy()
         for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])]
    return {"W": W, "b": [np.zeros(n) for n in layer_sizes[1:]]}


def train(X, y, layer_sizes, activation, lr, epochs, seed):
    params = init_params(layer_sizes, seed)
    for _ in range(epochs):
        grads = backward(forward(X, params, activation, "softmax"), y, params, activation, "softmax")
        for key in ("W", "b"):
            params[key] = [theta - lr * g for theta, g in zip(params[key], grads[key])]
    return params

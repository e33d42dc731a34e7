# %% [markdown]
# # Backpropagation in numpy: reference solution
#
# Equation numbers refer to `assignments/backprop/handout.md`. Conventions: a batch is
# stored as rows (`X` is `(N, n_0)`, `a_k` and `h_k` are `(N, n_k)`), `W_k` is
# `(n_k, n_{k-1})`, `b_k` is `(n_k,)`, and every loss is a mean over the batch.

# %%
import numpy as np

# %% [markdown]
# ## Activations: each g next to its derivative g'(a)

# %%
def sigmoid(a):
    e = np.exp(-np.abs(a))  # (1) never exponentiates a positive number
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_grad(a):
    s = sigmoid(a)
    return s * (1 - s)  # (2)


def tanh(a):
    return np.tanh(a)  # (3)


def tanh_grad(a):
    return 1 - np.tanh(a) ** 2  # (4)


def relu(a):
    return np.maximum(a, 0.0)  # (5)


def relu_grad(a):
    return (a > 0).astype(np.float64)  # (6), with relu'(0) = 0


ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
}

# %% [markdown]
# ## Output function and losses

# %%
def softmax(a):
    z = a - a.max(axis=-1, keepdims=True)  # (8) shifting by the row max changes nothing
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # (7)


def cross_entropy(a, y):
    z = a - a.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # (10) log-softmax
    return float(-log_p[np.arange(len(y)), y].mean())  # (9)


def squared_error(y_hat, y):
    return float(np.sum((y_hat - y) ** 2) / len(y))  # (11)

# %% [markdown]
# ## Forward pass (Algorithm 5)

# %%
def forward(X, params, activation, output):
    g, _ = ACTIVATIONS[activation]
    L = len(params["W"])
    a, h = [], [X]  # a = [a_1, ..., a_L], h = [h_0, ..., h_L]
    for k in range(1, L + 1):
        W_k, b_k = params["W"][k - 1], params["b"][k - 1]
        a_k = h[k - 1] @ W_k.T + b_k  # (12)
        if k < L:
            h_k = g(a_k)  # (13)
        elif output == "softmax":
            h_k = softmax(a_k)  # (14)
        else:
            h_k = a_k  # (15)
        a.append(a_k)
        h.append(h_k)
    return {"a": a, "h": h}

# %% [markdown]
# ## Backward pass (Algorithm 6)
#
# `delta` holds the gradient of the loss with respect to `a_k`, one row per example.

# %%
def backward(cache, y, params, activation, output):
    _, g_grad = ACTIVATIONS[activation]
    a, h = cache["a"], cache["h"]
    L, N = len(a), len(h[0])
    if output == "softmax":
        Y = np.eye(h[L].shape[1])[y]  # one-hot rows e(y_i)
        delta = (h[L] - Y) / N  # (16)
    else:
        delta = 2 * (h[L] - y) / N  # (17)
    dW, db = [None] * L, [None] * L
    for k in range(L, 0, -1):
        dW[k - 1] = delta.T @ h[k - 1]  # (18)
        db[k - 1] = delta.sum(axis=0)  # (19)
        if k > 1:
            dh = delta @ params["W"][k - 1]  # (20)
            delta = dh * g_grad(a[k - 2])  # (21)
    return {"W": dW, "b": db}

# %% [markdown]
# ## Gradient descent on one sigmoid neuron

# %%
def sigmoid_neuron_gd(x, y, w, b, lr, steps):
    def loss(w, b):
        return float(np.mean((y - sigmoid(w * x + b)) ** 2))  # (22)

    losses = [loss(w, b)]
    for _ in range(steps):
        f = sigmoid(w * x + b)
        r = 2 * (f - y) * f * (1 - f) / len(x)  # (23) shared factor of both gradients
        w, b = w - lr * np.sum(r * x), b - lr * np.sum(r)  # (24)
        losses.append(loss(w, b))
    return {"w": float(w), "b": float(b), "losses": losses}

# %% [markdown]
# ## Training a network (Algorithm 4)

# %%
def init_params(layer_sizes, seed):
    rng = np.random.default_rng(seed)
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    W = [rng.normal(0.0, 1 / np.sqrt(n_in), size=(n_out, n_in)) for n_in, n_out in pairs]  # (25)
    b = [np.zeros(n_out) for _, n_out in pairs]
    return {"W": W, "b": b}


def train(X, y, layer_sizes, activation, lr, epochs, seed):
    params = init_params(layer_sizes, seed)
    for _ in range(epochs):
        cache = forward(X, params, activation, "softmax")
        grads = backward(cache, y, params, activation, "softmax")
        params = {key: [p - lr * d for p, d in zip(params[key], grads[key])] for key in params}  # (26)
    return params

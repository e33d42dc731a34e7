"""A plausible student attempt at backprop: most of it right, a few classic slips."""
import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))          # overflows for very negative a


def sigmoid_grad(a):
    return sigmoid(a) * (1.0 - sigmoid(a))


def tanh(a):
    return np.tanh(a)


def tanh_grad(a):
    return 1.0 - np.tanh(a) ** 2


def relu(a):
    return np.where(a > 0, a, 0.0)


def relu_grad(a):
    return np.where(a >= 0, 1.0, 0.0)        # slip: relu'(0) should be 0


def softmax(a):
    e = np.exp(a)                            # slip: no max shift, overflows on large logits
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy(a, y):
    p = softmax(a)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def squared_error(y_hat, y):
    return float(np.mean(np.sum((y_hat - y) ** 2, axis=-1)))


def forward(X, params, activation, output):
    g = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu}[activation]
    a_list, h_list = [], [X]
    for i, (W, b) in enumerate(zip(params["W"], params["b"])):
        a = h_list[-1] @ W.T + b
        last = i == len(params["W"]) - 1
        h = (softmax(a) if output == "softmax" else a) if last else g(a)
        a_list.append(a)
        h_list.append(h)
    return {"a": a_list, "h": h_list}


def backward(cache, y, params, activation, output):
    g_grad = {"sigmoid": sigmoid_grad, "tanh": tanh_grad, "relu": relu_grad}[activation]
    a_list, h_list = cache["a"], cache["h"]
    n = len(y)
    if output == "softmax":
        delta = h_list[-1].copy()
        delta[np.arange(n), y] -= 1
    else:
        delta = 2 * (h_list[-1] - y)
    delta /= n
    grads_W, grads_b = [], []
    for k in reversed(range(len(params["W"]))):
        grads_W.insert(0, delta.T @ h_list[k])
        grads_b.insert(0, delta.sum(axis=0))
        if k > 0:
            delta = (delta @ params["W"][k]) * g_grad(a_list[k - 1])
    return {"W": grads_W, "b": grads_b}


def sigmoid_neuron_gd(x, y, w, b, lr, steps):
    raise NotImplementedError("ran out of time")

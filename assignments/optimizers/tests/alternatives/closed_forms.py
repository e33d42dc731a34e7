# Alternative: vectorised with algebraically equal rearrangements: Adam and NAdam fold the bias
# corrections into the step size and epsilon (Kingma and Ba's "efficient" form,
# eta*sqrt(1-b2^t)/(1-b1^t) and eps*sqrt(1-b2^t)), the EMAs as v + (1-b)(x - v), AdaDelta's
# ratio under one square root, the gradients through einsum, and schedules in closed form
# (step decay by a power, cosine cycles by a logarithm, momentum via 2^(-1-log2 n)).
import math
import numpy as np


def init_state(method, w):
    keys = {"momentum": "u", "nesterov": "u", "adagrad": "v", "rmsprop": "v", "adadelta": "vu",
            "adam": "mv", "adamax": "mv", "nadam": "mv"}[method]
    return dict({k: np.zeros_like(np.asarray(w, dtype=float)) for k in keys}, t=0)


def _ema(a, x, beta):
    return a + (1.0 - beta) * (x - a)


def gd_step(w, g, lr):
    return np.subtract(w, np.multiply(lr, g))


def momentum_step(w, g, state, lr, beta):
    u = np.add(np.multiply(beta, state["u"]), g)
    return np.subtract(w, lr * u), {"u": u, "t": state["t"] + 1}


def nesterov_lookahead(w, state, lr, beta):
    return w - (lr * beta) * state["u"]


def nesterov_step(w, g, state, lr, beta):
    u = beta * state["u"] + g
    return w - lr * g - (lr * beta) * u, {"u": u, "t": state["t"] + 1}


def heavy_ball_step(w, w_prev, g, gamma, beta):
    return (1.0 + beta) * w - beta * w_prev - gamma * g


def momentum_to_heavy_ball(lrs, betas):
    lrs, betas = np.asarray(lrs, dtype=float), np.asarray(betas, dtype=float)
    ratio = np.ones_like(lrs)
    ratio[1:] = lrs[1:] / lrs[:-1]
    return lrs.copy(), betas * ratio


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def linear_grad(w, X, y):
    return np.einsum("nd,n->d", X, X @ w - y) / len(X)


def logistic_grad(w, X, y):
    return np.einsum("nd,n->d", X, _sigmoid(X @ w) - y) / len(X)


def minibatch_epoch(w, X, y, lr, batch_size, perm, model):
    grad = linear_grad if model == "linear" else logistic_grad
    perm = np.asarray(perm)
    batches = np.array_split(perm, range(batch_size, len(perm), batch_size))
    W = np.empty((len(batches) + 1, np.size(w)))
    W[0] = w
    for k, B in enumerate(batches):
        W[k + 1] = W[k] - lr * grad(W[k], X[B], y[B])
    return W


def adagrad_step(w, g, state, lr, eps):
    v = state["v"] + np.square(g)
    return w - lr * g / (np.sqrt(v) + eps), {"v": v, "t": state["t"] + 1}


def rmsprop_step(w, g, state, lr, beta, eps):
    v = _ema(state["v"], np.square(g), beta)
    return w - lr * g / (np.sqrt(v) + eps), {"v": v, "t": state["t"] + 1}


def adadelta_step(w, g, state, beta, eps):
    v = _ema(state["v"], g * g, beta)
    dw = -np.sqrt((state["u"] + eps) / (v + eps)) * g
    u = _ema(state["u"], dw * dw, beta)
    return w + dw, {"v": v, "u": u, "t": state["t"] + 1}


def adam_step(w, g, state, lr, beta1, beta2, eps):
    t = state["t"] + 1
    m = _ema(state["m"], g, beta1)
    v = _ema(state["v"], g * g, beta2)
    c2 = math.sqrt(1.0 - beta2 ** t)
    step = lr * c2 / (1.0 - beta1 ** t)
    return w - step * m / (np.sqrt(v) + eps * c2), {"m": m, "v": v, "t": t}


def adamax_step(w, g, state, lr, beta1, beta2, eps):
    t = state["t"] + 1
    m = _ema(state["m"], g, beta1)
    v = np.maximum(beta2 * state["v"], np.abs(g))
    return w - (lr / (1.0 - beta1 ** t)) * m / (v + eps), {"m": m, "v": v, "t": t}


def nadam_step(w, g, state, lr, beta1, beta2, eps):
    t = state["t"] + 1
    m = _ema(state["m"], g, beta1)
    v = _ema(state["v"], g * g, beta2)
    c2 = math.sqrt(1.0 - beta2 ** t)
    d = (beta1 / (1.0 - beta1 ** (t + 1))) * m + ((1.0 - beta1) / (1.0 - beta1 ** t)) * g
    return w - lr * c2 * d / (np.sqrt(v) + eps * c2), {"m": m, "v": v, "t": t}


def step_decay(t, lr0, drop, every):
    return float(lr0 * drop ** (t // every))


def exponential_decay(t, lr0, k):
    return float(lr0 * np.exp(-k * t))


def inverse_time_decay(t, lr0, k):
    return float(lr0 / (1 + k * t))


def cosine_restarts(t, lr_min, lr_max, period, mult):
    if mult == 1:
        i, start = t // period, (t // period) * period
    else:
        i = int(math.floor(math.log(t / period * (mult - 1) + 1, mult)))
        # guard the logarithm against rounding at cycle boundaries
        while period * (mult ** (i + 1) - 1) // (mult - 1) <= t:
            i += 1
        while i > 0 and period * (mult ** i - 1) // (mult - 1) > t:
            i -= 1
        start = period * (mult ** i - 1) // (mult - 1)
    length = period * mult ** i
    return float(lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * (t - start) / length)) / 2)


def sutskever_momentum(t, mu_max):
    return float(min(1.0 - 2.0 ** (-1.0 - math.log2(t // 250 + 1)), mu_max))

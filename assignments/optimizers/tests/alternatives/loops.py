# Alternative: every update rule walks the coordinates one by one (a flat index loop over a
# copy of w, any shape), the mini-batch gradients add up one example at a time, and the
# schedules are computed by walking the steps (cosine restarts cycle by cycle).
import math
import numpy as np

KEYS = {"momentum": ("u",), "nesterov": ("u",), "adagrad": ("v",), "rmsprop": ("v",),
        "adadelta": ("v", "u"), "adam": ("m", "v"), "adamax": ("m", "v"), "nadam": ("m", "v")}


def init_state(method, w):
    state = {key: np.zeros(np.shape(w)) for key in KEYS[method]}
    state["t"] = 0
    return state


def _copy(state):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}


def gd_step(w, g, lr):
    out = np.array(w, dtype=float, copy=True)
    flat, gf = out.reshape(-1), np.asarray(g, dtype=float).reshape(-1)
    for i in range(flat.size):
        flat[i] = flat[i] - lr * gf[i]
    return out


def momentum_step(w, g, state, lr, beta):
    new = _copy(state)
    out = np.array(w, dtype=float, copy=True)
    u, wf, gf = new["u"].reshape(-1), out.reshape(-1), np.asarray(g, float).reshape(-1)
    for i in range(wf.size):
        u[i] = beta * u[i] + gf[i]
        wf[i] = wf[i] - lr * u[i]
    new["t"] = state["t"] + 1
    return out, new


def nesterov_lookahead(w, state, lr, beta):
    out = np.array(w, dtype=float, copy=True)
    wf, u = out.reshape(-1), state["u"].reshape(-1)
    for i in range(wf.size):
        wf[i] -= lr * beta * u[i]
    return out


def nesterov_step(w, g, state, lr, beta):
    new = _copy(state)
    out = np.array(w, dtype=float, copy=True)
    u, wf, gf = new["u"].reshape(-1), out.reshape(-1), np.asarray(g, float).reshape(-1)
    for i in range(wf.size):
        u[i] = beta * u[i] + gf[i]
        wf[i] = wf[i] - lr * (gf[i] + beta * u[i])
    new["t"] = state["t"] + 1
    return out, new


def heavy_ball_step(w, w_prev, g, gamma, beta):
    out = np.array(w, dtype=float, copy=True)
    wf, pf, gf = out.reshape(-1), np.asarray(w_prev, float).reshape(-1), np.asarray(g, float).reshape(-1)
    for i in range(wf.size):
        wf[i] = wf[i] - gamma * gf[i] + beta * (wf[i] - pf[i])
    return out


def momentum_to_heavy_ball(lrs, betas):
    gammas, hb = [], []
    for t in range(len(lrs)):
        gammas.append(float(lrs[t]))
        hb.append(float(betas[0]) if t == 0 else float(betas[t]) * float(lrs[t]) / float(lrs[t - 1]))
    return np.array(gammas, dtype=float), np.array(hb, dtype=float)


def _grad(w, X, y, model):
    X, y, w = np.asarray(X, float), np.asarray(y, float), np.asarray(w, float)
    total = np.zeros_like(w)
    for x_i, y_i in zip(X, y):
        z = float(x_i @ w)
        pred = z if model == "linear" else 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        total = total + (pred - y_i) * x_i
    return total / len(X)


def linear_grad(w, X, y):
    return _grad(w, X, y, "linear")


def logistic_grad(w, X, y):
    return _grad(w, X, y, "logistic")


def minibatch_epoch(w, X, y, lr, batch_size, perm, model):
    X, y = np.asarray(X, float), np.asarray(y, float)
    rows = [np.array(w, dtype=float, copy=True)]
    start = 0
    while start < len(perm):
        batch = list(perm[start:start + batch_size])
        rows.append(rows[-1] - lr * _grad(rows[-1], X[batch], y[batch], model))
        start += batch_size
    return np.array(rows)


def _elementwise(w, g, state, lr, update):
    new = _copy(state)
    new["t"] = state["t"] + 1
    out = np.array(w, dtype=float, copy=True)
    wf, gf = out.reshape(-1), np.asarray(g, float).reshape(-1)
    views = {k: v.reshape(-1) for k, v in new.items() if k != "t"}
    for i in range(wf.size):
        wf[i] += update(i, gf[i], views, new["t"])
    return out, new


def adagrad_step(w, g, state, lr, eps):
    def update(i, gi, s, t):
        s["v"][i] += gi * gi
        return -lr * gi / (math.sqrt(s["v"][i]) + eps)
    return _elementwise(w, g, state, lr, update)


def rmsprop_step(w, g, state, lr, beta, eps):
    def update(i, gi, s, t):
        s["v"][i] = beta * s["v"][i] + (1 - beta) * gi * gi
        return -lr * gi / (math.sqrt(s["v"][i]) + eps)
    return _elementwise(w, g, state, lr, update)


def adadelta_step(w, g, state, beta, eps):
    def update(i, gi, s, t):
        s["v"][i] = beta * s["v"][i] + (1 - beta) * gi * gi
        dw = -math.sqrt(s["u"][i] + eps) / math.sqrt(s["v"][i] + eps) * gi
        s["u"][i] = beta * s["u"][i] + (1 - beta) * dw * dw
        return dw
    return _elementwise(w, g, state, None, update)


def adam_step(w, g, state, lr, beta1, beta2, eps):
    def update(i, gi, s, t):
        s["m"][i] = beta1 * s["m"][i] + (1 - beta1) * gi
        s["v"][i] = beta2 * s["v"][i] + (1 - beta2) * gi * gi
        m_hat = s["m"][i] / (1 - beta1 ** t)
        v_hat = s["v"][i] / (1 - beta2 ** t)
        return -lr * m_hat / (math.sqrt(v_hat) + eps)
    return _elementwise(w, g, state, lr, update)


def adamax_step(w, g, state, lr, beta1, beta2, eps):
    def update(i, gi, s, t):
        s["m"][i] = beta1 * s["m"][i] + (1 - beta1) * gi
        s["v"][i] = max(beta2 * s["v"][i], abs(gi))
        return -lr * (s["m"][i] / (1 - beta1 ** t)) / (s["v"][i] + eps)
    return _elementwise(w, g, state, lr, update)


def nadam_step(w, g, state, lr, beta1, beta2, eps):
    def update(i, gi, s, t):
        s["m"][i] = beta1 * s["m"][i] + (1 - beta1) * gi
        s["v"][i] = beta2 * s["v"][i] + (1 - beta2) * gi * gi
        d = beta1 * s["m"][i] / (1 - beta1 ** (t + 1)) + (1 - beta1) * gi / (1 - beta1 ** t)
        return -lr * d / (math.sqrt(s["v"][i] / (1 - beta2 ** t)) + eps)
    return _elementwise(w, g, state, lr, update)


def step_decay(t, lr0, drop, every):
    lr = float(lr0)
    for s in range(1, t + 1):
        if s % every == 0:
            lr *= drop
    return lr


def exponential_decay(t, lr0, k):
    return float(lr0 * math.exp(-k * t))


def inverse_time_decay(t, lr0, k):
    return float(lr0 / (1.0 + k * t))


def cosine_restarts(t, lr_min, lr_max, period, mult):
    start, length = 0, period
    while t >= start + length:
        start += length
        length *= mult
    return float(lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * (t - start) / length)))


def sutskever_momentum(t, mu_max):
    stage = t // 250 + 1
    return float(min(1.0 - 1.0 / (2.0 * stage), mu_max))

# %% [markdown]
# # Optimizers in numpy: reference solution
#
# Equation numbers refer to `assignments/optimizers/handout.md`. Every update rule is one
# pure step on plain data: it takes the parameters `w`, the gradient `g` the caller computed
# and the optimizer's `state` (a dict of arrays plus the step count `t`), and returns the new
# parameters and a new state. Learning rates sit outside the moving averages, and `eps`
# sits outside the square root everywhere except in AdaDelta (handout, "Conventions").

# %%
import math

import numpy as np

# %% [markdown]
# ## Optimizer states

# %%
STATE_KEYS = {
    "momentum": ("u",),
    "nesterov": ("u",),
    "adagrad": ("v",),
    "rmsprop": ("v",),
    "adadelta": ("v", "u"),
    "adam": ("m", "v"),
    "adamax": ("m", "v"),
    "nadam": ("m", "v"),
}


def init_state(method, w):
    state = {key: np.zeros_like(w, dtype=np.float64) for key in STATE_KEYS[method]}
    state["t"] = 0  # steps taken so far
    return state


# %% [markdown]
# ## Gradient descent and momentum

# %%
def gd_step(w, g, lr):
    return w - lr * g  # (1)


def momentum_step(w, g, state, lr, beta):
    u = beta * state["u"] + g  # (2)
    return w - lr * u, {"u": u, "t": state["t"] + 1}

# %% [markdown]
# ## Nesterov accelerated gradient

# %%
def nesterov_lookahead(w, state, lr, beta):
    return w - lr * beta * state["u"]  # (4)


def nesterov_step(w, g, state, lr, beta):
    u = beta * state["u"] + g  # (6): w is the look-ahead point, g the gradient there
    return w - lr * (g + beta * u), {"u": u, "t": state["t"] + 1}

# %% [markdown]
# ## The heavy ball

# %%
def heavy_ball_step(w, w_prev, g, gamma, beta):
    return w - gamma * g + beta * (w - w_prev)  # (7)


def momentum_to_heavy_ball(lrs, betas):
    lrs, betas = np.asarray(lrs, dtype=np.float64), np.asarray(betas, dtype=np.float64)
    gammas = lrs.copy()  # (9)
    hb_betas = betas.copy()  # beta'_0 = beta_0: it multiplies w_0 - w_{-1} = 0
    hb_betas[1:] = betas[1:] * lrs[1:] / lrs[:-1]  # (9)
    return gammas, hb_betas

# %% [markdown]
# ## Batch, stochastic and mini-batch gradient descent

# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def linear_grad(w, X, y):
    return X.T @ (X @ w - y) / len(y)  # (11)


def logistic_grad(w, X, y):
    return X.T @ (sigmoid(X @ w) - y) / len(y)  # (13)


GRADIENTS = {"linear": linear_grad, "logistic": logistic_grad}


def minibatch_epoch(w, X, y, lr, batch_size, perm, model):
    ws = [w]
    for start in range(0, len(y), batch_size):  # (14) the last batch may be smaller
        batch = perm[start:start + batch_size]
        ws.append(gd_step(ws[-1], GRADIENTS[model](ws[-1], X[batch], y[batch]), lr))
    return np.array(ws)

# %% [markdown]
# ## AdaGrad, RMSProp and AdaDelta

# %%
def ema(average, x, beta):
    return beta * average + (1 - beta) * x  # (15)


def adagrad_step(w, g, state, lr, eps):
    v = state["v"] + g**2  # (16)
    return w - lr * g / (np.sqrt(v) + eps), {"v": v, "t": state["t"] + 1}  # (17)


def rmsprop_step(w, g, state, lr, beta, eps):
    v = ema(state["v"], g**2, beta)  # (18)
    return w - lr * g / (np.sqrt(v) + eps), {"v": v, "t": state["t"] + 1}  # (19)


def adadelta_step(w, g, state, beta, eps):
    v = ema(state["v"], g**2, beta)  # (20)
    delta = -np.sqrt(state["u"] + eps) / np.sqrt(v + eps) * g  # (21), with u_{t-1}
    u = ema(state["u"], delta**2, beta)  # (23)
    return w + delta, {"v": v, "u": u, "t": state["t"] + 1}  # (22)

# %% [markdown]
# ## Adam, AdaMax and NAdam

# %%
def adam_step(w, g, state, lr, beta1, beta2, eps):
    t = state["t"] + 1
    m = ema(state["m"], g, beta1)  # (24)
    v = ema(state["v"], g**2, beta2)  # (25)
    m_hat = m / (1 - beta1**t)  # (26)
    v_hat = v / (1 - beta2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"m": m, "v": v, "t": t}  # (27)


def adamax_step(w, g, state, lr, beta1, beta2, eps):
    t = state["t"] + 1
    m = ema(state["m"], g, beta1)  # (24)
    v = np.maximum(beta2 * state["v"], np.abs(g))  # (28)
    m_hat = m / (1 - beta1**t)  # (26), no correction of v
    return w - lr * m_hat / (v + eps), {"m": m, "v": v, "t": t}  # (29)


def nadam_step(w, g, state, lr, beta1, beta2, eps):
    t = state["t"] + 1
    m = ema(state["m"], g, beta1)  # (24)
    v = ema(state["v"], g**2, beta2)  # (25)
    v_hat = v / (1 - beta2**t)  # (26)
    d = beta1 * m / (1 - beta1 ** (t + 1)) + (1 - beta1) * g / (1 - beta1**t)  # (30)
    return w - lr * d / (np.sqrt(v_hat) + eps), {"m": m, "v": v, "t": t}  # (31)

# %% [markdown]
# ## Schedules

# %%
def step_decay(t, lr0, drop, every):
    return lr0 * drop ** (t // every)  # (32)


def exponential_decay(t, lr0, k):
    return lr0 * math.exp(-k * t)  # (33)


def inverse_time_decay(t, lr0, k):
    return lr0 / (1 + k * t)  # (34)


def cosine_restarts(t, lr_min, lr_max, period, mult):
    t_cur, t_i = t, period  # (35): steps into the current cycle, and its length
    while t_cur >= t_i:
        t_cur, t_i = t_cur - t_i, t_i * mult
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2  # (36)


def sutskever_momentum(t, mu_max):
    return min(1 - 1 / (2 * (t // 250 + 1)), mu_max)  # (37)

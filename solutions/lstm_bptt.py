# %% [markdown]
# # Reference solution: back-propagation through time, LSTM and GRU
#
# Every function follows the handout (`assignments/lstm_bptt/handout.md`); the comments
# cite its equation numbers. Arrays are time-major with the batch in rows: `x[t - 1]` is
# the (B, n) batch of inputs x_t, states are (B, d), and "U x_t" in the handout is
# `x_t @ U.T` here. Losses and gradients are sums over time steps and over the batch.

# %%
import numpy as np


def sigmoid(a):
    # 1 / (1 + exp(-a)), written with tanh so that it never overflows.
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def log_softmax(a):
    z = a - a.max(axis=-1, keepdims=True)  # (4) is unchanged by the shift, and exp cannot overflow
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def affine(params, gate, x_t, h_prev):
    """U_gate x_t + W_gate h_prev + b_gate, for a batch of rows."""
    return x_t @ params["U_" + gate].T + h_prev @ params["W_" + gate].T + params["b_" + gate]


# %% [markdown]
# ## Part 1: the vanilla RNN, equations (1) to (5)

# %%
def rnn_unroll(x, s0, params):
    """The states s_t and the log-probabilities log y_t, each stacked over time."""
    U, W, b, V, c = (params[k] for k in ("U", "W", "b", "V", "c"))
    s_t, states, log_probs = s0, [], []
    for x_t in x:
        s_t = np.tanh(x_t @ U.T + s_t @ W.T + b)  # (1), (2)
        log_y_t = log_softmax(s_t @ V.T + c)  # (3), (4)
        states.append(s_t)
        log_probs.append(log_y_t)
    return np.stack(states), np.stack(log_probs)


def rnn_forward(x, s0, params):
    s, log_y = rnn_unroll(x, s0, params)
    return s, np.exp(log_y)


def rnn_loss(x, s0, targets, params):
    _, log_y = rnn_unroll(x, s0, params)
    return float(-np.take_along_axis(log_y, targets[..., None], axis=-1).sum())  # (5)


# %% [markdown]
# ## Part 2: back-propagation through time, full and truncated, equations (6) to (11)

# %%
def rnn_bptt(x, s0, targets, params, truncate=None):
    W, V = params["W"], params["V"]
    s, y = rnn_forward(x, s0, params)
    T = len(x)
    tau = T if truncate is None else truncate
    s_prev = np.concatenate([s0[None], s[:-1]])  # s_prev[t - 1] = s_{t-1}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    da_next = np.zeros_like(s0)  # dL/da_{t+1}, zero after the last step
    for t in range(T, 0, -1):
        dz_t = y[t - 1].copy()
        dz_t[np.arange(len(dz_t)), targets[t - 1]] -= 1.0  # (6)
        grads["V"] += dz_t.T @ s[t - 1]  # (7)
        grads["c"] += dz_t.sum(axis=0)
        ds_t = dz_t @ V  # (8), the path through the output y_t
        if t % tau != 0:  # (11): m_t = 0 where step t ends a window
            ds_t += da_next @ W  # (8), the path through s_{t+1}
        da_t = ds_t * (1.0 - s[t - 1] ** 2)  # (9)
        grads["U"] += da_t.T @ x[t - 1]  # (10)
        grads["W"] += da_t.T @ s_prev[t - 1]
        grads["b"] += da_t.sum(axis=0)
        da_next = da_t
    return grads


# %% [markdown]
# ## Part 3: the LSTM, equations (12) to (17)
#
# One step forward and, right below it, the same step backward (equations (18) to (22)).
# The forward keeps what the backward needs in `cache`.

# %%
def lstm_step(x_t, h_prev, c_prev, params):
    f_t = sigmoid(affine(params, "f", x_t, h_prev))  # (12) forget gate
    i_t = sigmoid(affine(params, "i", x_t, h_prev))  # (13) input gate
    g_t = np.tanh(affine(params, "g", x_t, h_prev))  # (14) candidate
    o_t = sigmoid(affine(params, "o", x_t, h_prev))  # (15) output gate
    c_t = f_t * c_prev + i_t * g_t  # (16) cell
    tanh_c_t = np.tanh(c_t)
    h_t = o_t * tanh_c_t  # (17) hidden state
    cache = (x_t, h_prev, c_prev, f_t, i_t, g_t, o_t, tanh_c_t)
    return h_t, c_t, cache


def lstm_step_backward(dh_t, dc_next, cache, params, grads):
    """One step of (18) to (22). dh_t is delta h_t of (18); dc_next is delta c_{t+1} * f_{t+1},
    the cell's share of (19). Adds step t's terms of (21) into `grads` and returns what
    step t passes back: the sum in (18) for h_{t-1} and the second term of (19) for c_{t-1}."""
    x_t, h_prev, c_prev, f_t, i_t, g_t, o_t, tanh_c_t = cache
    dc_t = dh_t * o_t * (1.0 - tanh_c_t**2) + dc_next  # (19)
    da = {
        "f": dc_t * c_prev * f_t * (1.0 - f_t),  # (20), through (16) and (12)
        "i": dc_t * g_t * i_t * (1.0 - i_t),  # (20), through (16) and (13)
        "g": dc_t * i_t * (1.0 - g_t**2),  # (20), through (16) and (14)
        "o": dh_t * tanh_c_t * o_t * (1.0 - o_t),  # (20), through (17) and (15)
    }
    dh_prev = np.zeros_like(h_prev)
    for gate, da_gate in da.items():
        grads["U_" + gate] += da_gate.T @ x_t  # (21)
        grads["W_" + gate] += da_gate.T @ h_prev  # (21)
        grads["b_" + gate] += da_gate.sum(axis=0)  # (21)
        dh_prev += da_gate @ params["W_" + gate]  # (18) for step t-1, (22) at t = 1
    dc_prev = dc_t * f_t  # (19) for step t-1, (22) at t = 1
    return dh_prev, dc_prev


def lstm_unroll(x, h0, c0, params):
    """Run (12) to (17) over the sequence; return the states and every step's cache."""
    h_t, c_t, hs, cs, caches = h0, c0, [], [], []
    for x_t in x:
        h_t, c_t, cache = lstm_step(x_t, h_t, c_t, params)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(cache)
    return np.stack(hs), np.stack(cs), caches


def lstm_forward(x, h0, c0, params):
    h, c, _ = lstm_unroll(x, h0, c0, params)
    return h, c


# %% [markdown]
# ## Part 4: the LSTM backward pass through the whole sequence

# %%
def lstm_backward(x, h0, c0, params, dh):
    _, _, caches = lstm_unroll(x, h0, c0, params)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dh_next, dc_next = np.zeros_like(h0), np.zeros_like(c0)
    for t in range(len(x), 0, -1):
        dh_t = dh[t - 1] + dh_next  # (18)
        dh_next, dc_next = lstm_step_backward(dh_t, dc_next, caches[t - 1], params, grads)
    grads["h0"], grads["c0"] = dh_next, dc_next  # (22)
    return grads


# %% [markdown]
# ## Part 5: the GRU forward pass, equations (23) to (26)

# %%
def gru_forward(x, h0, params):
    h_t, hs = h0, []
    for x_t in x:
        z_t = sigmoid(affine(params, "z", x_t, h_t))  # (23) update gate
        r_t = sigmoid(affine(params, "r", x_t, h_t))  # (24) reset gate
        n_t = np.tanh(affine(params, "n", x_t, r_t * h_t))  # (25) candidate
        h_t = (1.0 - z_t) * h_t + z_t * n_t  # (26)
        hs.append(h_t)
    return np.stack(hs)


# %% [markdown]
# ## Part 6: long-term dependencies, equations (27) to (31)
#
# The Jacobian of the last state with respect to state k is a product of one-step
# Jacobians, built from the end: J_T = I, then J_{t-1} = J_t A_t for t = T, ..., 1 (27).

# %%
def spectral_norms(J):
    return np.linalg.norm(J, ord=2, axis=(-2, -1))


def diag(v):
    """diag(v) as a factor that scales the rows of a matrix, for a batch of vectors v."""
    return v[:, :, None]


def rnn_jacobian_norms(x, s0, params):
    W = params["W"]
    s, _ = rnn_forward(x, s0, params)
    T, (B, d) = len(x), s0.shape
    J = np.broadcast_to(np.eye(d), (B, d, d))
    norms = [spectral_norms(J)]
    for t in range(T, 0, -1):
        A_t = diag(1.0 - s[t - 1] ** 2) * W  # (28)
        J = J @ A_t  # (27)
        norms.append(spectral_norms(J))
    return np.stack(norms[::-1])  # norms[k] belongs to ds_T/ds_k


def lstm_jacobian_norms(x, h0, c0, params):
    _, _, caches = lstm_unroll(x, h0, c0, params)
    B, d = h0.shape
    J = np.broadcast_to(np.eye(2 * d), (B, 2 * d, 2 * d))  # rows and columns ordered (h, c)
    norms_h, norms_c = [spectral_norms(J[:, :d, :d])], [spectral_norms(J[:, d:, d:])]
    for t in range(len(x), 0, -1):
        _, _, c_prev, f_t, i_t, g_t, o_t, tanh_c_t = caches[t - 1]
        dc_dc = np.eye(d) * f_t[:, None, :]  # (29) diag(f_t)
        dc_dh = (
            diag(c_prev * f_t * (1 - f_t)) * params["W_f"]
            + diag(g_t * i_t * (1 - i_t)) * params["W_i"]
            + diag(i_t * (1 - g_t**2)) * params["W_g"]
        )  # (29)
        dh_dc_t = diag(o_t * (1 - tanh_c_t**2))
        dh_dh = diag(tanh_c_t * o_t * (1 - o_t)) * params["W_o"] + dh_dc_t * dc_dh  # (30)
        dh_dc = dh_dc_t * dc_dc  # (30)
        A_t = np.block([[dh_dh, dh_dc], [dc_dh, dc_dc]])  # (31)
        J = J @ A_t
        norms_h.append(spectral_norms(J[:, :d, :d]))
        norms_c.append(spectral_norms(J[:, d:, d:]))
    return {"h": np.stack(norms_h[::-1]), "c": np.stack(norms_c[::-1])}


# %% [markdown]
# ## Part 7: gradient clipping, equations (32) and (33)

# %%
def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g**2) for g in grads.values())))  # (32)
    scale = max_norm / total if total > max_norm else 1.0  # (32)
    return {k: g * scale for k, g in grads.items()}, total


def clip_grad_value(grads, clip_value):
    return {k: np.clip(g, -clip_value, clip_value) for k, g in grads.items()}  # (33)

# %% [markdown]
# # Back-propagation through time: RNNs, LSTMs and long-term dependencies
#
# Fill in every function below; `handout.md` has the equations, numbered, and the
# conventions they follow. In short:
#
# - arrays are time-major with the batch in rows: `x` is `(T, B, n)`, `x[t - 1]` is the
#   `(B, n)` batch of inputs x_t, and "U x_t" in the handout is `x_t @ U.T` here;
# - initial states are arguments of shape `(B, d)`; returned state sequences are
#   `(T, B, d)` and do not repeat the initial state;
# - losses, and so gradients, are sums over time steps and over the batch;
# - parameters and gradients are dicts of float64 arrays with the keys the handout lists.
#
# Use numpy only (torch, jax, autograd and tensorflow are refused). You may add helper
# functions; only the names below are graded. Keep top-level code to definitions: the
# grader runs every cell when it loads your notebook.

# %%
import numpy as np

# %% [markdown]
# ## Part 1: a vanilla RNN, equations (1) to (5)


# %%
def rnn_forward(x, s0, params):
    """States s (T, B, d) and output distributions y (T, B, k), as a tuple (s, y).

    params: "U" (d, n), "W" (d, d), "b" (d,), "V" (k, d), "c" (k,).
    """
    raise NotImplementedError


def rnn_loss(x, s0, targets, params):
    """Cross-entropy (5) summed over time and batch, as a float. targets: ints (T, B)."""
    raise NotImplementedError


# %% [markdown]
# ## Part 2: back-propagation through time, equations (6) to (11)


# %%
def rnn_bptt(x, s0, targets, params, truncate=None):
    """Gradients of (5) as a dict with keys "U", "W", "b", "V", "c".

    truncate=None: full BPTT (8). truncate=tau: windows of tau steps, no gradient
    crossing a window boundary (11).
    """
    raise NotImplementedError


# %% [markdown]
# ## Part 3: the LSTM forward pass, equations (12) to (17)


# %%
def lstm_forward(x, h0, c0, params):
    """Hidden states h and cells c, each (T, B, d), as a tuple (h, c).

    params: for each gate in f, i, g, o: "U_<gate>" (d, n), "W_<gate>" (d, d), "b_<gate>" (d,).
    """
    raise NotImplementedError


# %% [markdown]
# ## Part 4: the LSTM backward pass, equations (18) to (22)


# %%
def lstm_backward(x, h0, c0, params, dh):
    """Gradients of L = sum_t <dh_t, h_t>, dh being (T, B, d).

    Returns a dict with the twelve parameter keys and "h0", "c0" (each (B, d)).
    """
    raise NotImplementedError


# %% [markdown]
# ## Part 5: the GRU forward pass, equations (23) to (26)


# %%
def gru_forward(x, h0, params):
    """Hidden states h (T, B, d).

    params: for each of z, r, n: "U_<name>" (d, n), "W_<name>" (d, d), "b_<name>" (d,).
    """
    raise NotImplementedError


# %% [markdown]
# ## Part 6: long-term dependencies, equations (27) to (31)


# %%
def rnn_jacobian_norms(x, s0, params):
    """Array (T + 1, B): entry [k, b] is the spectral norm of ds_T/ds_k for sequence b."""
    raise NotImplementedError


def lstm_jacobian_norms(x, h0, c0, params):
    """Dict with "h" and "c", each (T + 1, B): spectral norms of dh_T/dh_k and dc_T/dc_k."""
    raise NotImplementedError


# %% [markdown]
# ## Part 7: gradient clipping, equations (32) and (33)


# %%
def clip_grad_norm(grads, max_norm):
    """(clipped dict, global norm before clipping as a float)."""
    raise NotImplementedError


def clip_grad_value(grads, clip_value):
    """Dict with every entry clipped to [-clip_value, clip_value]."""
    raise NotImplementedError

# %% [markdown]
# # Backpropagation in numpy
#
# Fill in every function below; `handout.md` has the equations (numbered as in the
# docstrings) and the conventions the tests follow:
#
# - a batch is stored as rows: `X` is `(N, n_0)`, `a_k` and `h_k` are `(N, n_k)`;
# - `W_k` is `(n_k, n_{k-1})`, `b_k` is `(n_k,)`, and
#   `params = {"W": [W_1, ..., W_L], "b": [b_1, ..., b_L]}`;
# - every loss is a mean over the batch;
# - only numpy: `torch`, `jax`, `autograd` and `tensorflow` are not allowed.
#
# Run the public tests with `grader check backprop backprop.ipynb`.

# %%
import numpy as np

# %% [markdown]
# ## 1. Activation functions
#
# Each takes an array `a` of any shape and returns an array of the same shape. The
# `*_grad` functions return the derivative evaluated at the pre-activation `a`.

# %%
def sigmoid(a):
    """Logistic sigmoid, eq. (1), without overflow for large |a|."""
    raise NotImplementedError


def sigmoid_grad(a):
    """sigma'(a), eq. (2)."""
    raise NotImplementedError


def tanh(a):
    """Hyperbolic tangent, eq. (3)."""
    raise NotImplementedError


def tanh_grad(a):
    """tanh'(a), eq. (4)."""
    raise NotImplementedError


def relu(a):
    """max(a, 0), eq. (5)."""
    raise NotImplementedError


def relu_grad(a):
    """relu'(a), eq. (6), with relu'(0) = 0."""
    raise NotImplementedError

# %% [markdown]
# ## 2. Output function and losses

# %%
def softmax(a):
    """Softmax along the last axis, eqs. (7) and (8); must not overflow for logits near 1000."""
    raise NotImplementedError


def cross_entropy(a, y):
    """Mean cross-entropy of logits a (N, k) and integer labels y (N,), eqs. (9) and (10); a float."""
    raise NotImplementedError


def squared_error(y_hat, y):
    """(1/N) times the sum of squared differences of two (N, n) arrays, eq. (11); a float."""
    raise NotImplementedError

# %% [markdown]
# ## 3. Forward pass

# %%
def forward(X, params, activation, output):
    """Eqs. (12)-(15). activation: "sigmoid", "tanh" or "relu"; output: "softmax" or "linear".

    Returns {"a": [a_1, ..., a_L], "h": [h_0, ..., h_L]} with h_0 = X.
    """
    raise NotImplementedError

# %% [markdown]
# ## 4. Backward pass

# %%
def backward(cache, y, params, activation, output):
    """Eqs. (16)-(21): gradients of cross-entropy ("softmax") or squared error ("linear").

    cache is what forward returns; y holds integer labels (N,) for "softmax" and targets
    (N, n_L) for "linear". Returns {"W": [dW_1, ..., dW_L], "b": [db_1, ..., db_L]}.
    """
    raise NotImplementedError

# %% [markdown]
# ## 5. Gradient descent on one sigmoid neuron

# %%
def sigmoid_neuron_gd(x, y, w, b, lr, steps):
    """Eqs. (22)-(24): `steps` full-batch updates of the scalars w and b.

    Returns {"w": float, "b": float, "losses": [L_0, ..., L_steps]}.
    """
    raise NotImplementedError

# %% [markdown]
# ## 6. Training

# %%
def init_params(layer_sizes, seed):
    """Eq. (25): W_k ~ Normal(0, 1/n_{k-1}), b_k = 0, drawn from np.random.default_rng(seed)."""
    raise NotImplementedError


def train(X, y, layer_sizes, activation, lr, epochs, seed):
    """Eq. (26): `epochs` steps of full-batch gradient descent on cross-entropy; returns params."""
    raise NotImplementedError

# %% [markdown]
# ## Try it
#
# Run this cell yourself once the functions work. The grader does not run it: its first
# line skips it in a notebook, and the `__name__` test skips it in a `.py` module.

# %%
# grader: skip
if __name__ == "__main__":
    xor_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    xor_y = np.array([0, 1, 1, 0])
    xor_params = train(xor_X, xor_y, [2, 8, 2], "tanh", 1.0, 1000, seed=0)
    print("XOR predictions:", forward(xor_X, xor_params, "tanh", "softmax")["h"][-1].argmax(axis=1))

# %% [markdown]
# ## Written question (graded by a TA)
#
# Show that the gradient of -log softmax(a)_y with respect to a is p - e(y), starting
# from the derivative of softmax. Where does the 1/N of the batch mean end up, and why
# is computing delta_L this way better numerically than multiplying dL/dp by the softmax
# Jacobian?
#
# Write your answer below the line `softmax_gradient:` (keep that line: it marks your answer for the TA).
#
# softmax_gradient:
# *Your answer here.*

# %% [markdown]
# # Energy-based models in numpy
#
# Fill in every function below; `handout.md` has the equations (numbered as in the
# docstrings) and the conventions. Only numpy and the standard library are allowed.
# Check your work with `grader check ebm ebm.ipynb`.
#
# Energies are numpy arrays whose last axis runs over the finite set of answers y (or of
# latent values z); `beta > 0` is the inverse temperature. Data points are the rows of
# `X` and `Y`; prototypes and dictionary atoms are the columns of `W`. Every loss is a mean
# over the batch. Return float64 arrays, and do not modify the arrays you are given.

# %%
import numpy as np

# %% [markdown]
# ## Question gibbs: the Gibbs distribution (1)-(2)

# %%
def gibbs(F, beta):
    """P(y|x) of (1) over the last axis of the energies F (any shape), computed stably as in (2).
    Returns a float64 array of F's shape whose last axis sums to 1."""
    raise NotImplementedError


# %% [markdown]
# ## Question free_energy: the free energy (3) and its limits (4)

# %%
def free_energy(E, beta):
    """F_beta = -(1/beta) log sum_z exp(-beta E) over the last axis of E (3): shape E.shape[:-1].
    Must stay accurate for beta from 1e-6 to 1e6."""
    raise NotImplementedError


# %% [markdown]
# ## Question nll: the NLL loss (5) and its gradient with respect to the energies (6)

# %%
def nll_loss(F, y, beta):
    """The loss (5), a float: F (N, K) energies of every answer, y (N,) integer indices of the correct ones."""
    raise NotImplementedError


def nll_grad(F, y, beta):
    """dL/dF of (6), shape (N, K)."""
    raise NotImplementedError


# %% [markdown]
# ## Question nll_params: gradients with respect to parameters (7)-(10)

# %%
def linear_energy(X, W, b):
    """F = X W + b (7): X (N, d), W (d, K), b (K,) -> (N, K)."""
    raise NotImplementedError


def nll_linear_grad(X, y, W, b, beta):
    """(dW, db) of (8): the gradient of the loss (5) of the linear energy (7)."""
    raise NotImplementedError


def mlp_energy(X, W1, b1, W2, b2):
    """F = tanh(X W1 + b1) W2 + b2 (9): W1 (d, h), b1 (h,), W2 (h, K), b2 (K,) -> (N, K)."""
    raise NotImplementedError


def nll_mlp_grad(X, y, W1, b1, W2, b2, beta):
    """(dW1, db1, dW2, db2) of (10): the gradient of the loss (5) of the energy (9)."""
    raise NotImplementedError


# %% [markdown]
# ## Question nce: noise-contrastive estimation (11)-(13)

# %%
def nce_loss(e_data, e_noise, log_q_data, log_q_noise, log_z):
    """The NCE loss (12), a float: energies and noise log-densities at N data points and M noise points,
    and the model's estimate log_z of its log-partition function; nu = M / N."""
    raise NotImplementedError


def nce_grad(e_data, e_noise, log_q_data, log_q_noise, log_z):
    """(dL/de_data (N,), dL/de_noise (M,), dL/dlog_z float) of (13)."""
    raise NotImplementedError


# %% [markdown]
# ## Question infonce: InfoNCE with a temperature (14)-(16)

# %%
def cosine_similarity(U, V):
    """S[i, j] = cos(u_i, v_j) (14): U, V (N, d) -> (N, N)."""
    raise NotImplementedError


def info_nce_loss(S, tau):
    """The InfoNCE loss (15), a float: S (N, N) similarities, the positive pairs on the diagonal."""
    raise NotImplementedError


def info_nce_grad(S, tau):
    """dL/dS of (16), shape (N, N)."""
    raise NotImplementedError


# %% [markdown]
# ## Question kmeans: K-means as an energy-based model (17)-(20)

# %%
def kmeans_energy(Y, W):
    """E[n, j] = ||y_n - w_j||^2 (17): Y (N, d), W (d, k) with the prototypes as columns -> (N, k)."""
    raise NotImplementedError


def kmeans_infer(Y, W):
    """The index of the one-hot z minimising (17) for each point (18), ties to the lowest index: (N,) integers."""
    raise NotImplementedError


def kmeans_free_energy(Y, W):
    """The zero-temperature free energy (19) of each point: (N,)."""
    raise NotImplementedError


def kmeans_step(Y, W):
    """One training step (20): assign by (18), then move each prototype to the mean of its points
    (a prototype without points stays). Returns a new (d, k) array."""
    raise NotImplementedError


# %% [markdown]
# ## Question sparse_coding: sparse coding as an energy-based model (21)-(25)

# %%
def sparse_coding_energy(y, W, z, lam):
    """E(y, z) = ||y - W z||^2 + lam ||z||_1 (21), no 1/2: a float."""
    raise NotImplementedError


def lipschitz_constant(W):
    """L of (22), the Lipschitz constant of the gradient of ||y - W z||^2 in z: a float."""
    raise NotImplementedError


def soft_threshold(v, t):
    """The soft-thresholding operator (23), elementwise."""
    raise NotImplementedError


def ista(y, W, lam, n_steps):
    """n_steps of ISTA (24) from z = 0: y (d,), W (d, k) -> (n_steps + 1, k), row 0 = zeros, row t = z_t."""
    raise NotImplementedError


# %% [markdown]
# ## Written question (graded by a TA)
#
# Why does the NLL loss (5) need its negative phase, the second term of (6)? What goes
# wrong when beta is very large? Answer in a few paragraphs in this cell (see the handout,
# "Written question", for what a full answer covers).
#
# Write your answer below the line `essay:` (keep that line: it marks your answer for the TA).
#
# essay:
# *Your answer here.*

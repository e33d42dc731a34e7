# %% [markdown]
# # Midterm: LSTMs, optimisation, energy-based models, the ELBO and backprop
#
# 105 points, full marks at 100. `handout.md` is the exam paper: it numbers the questions and
# the equations cited below, and says how each answer is graded. Answer in this file (or in the
# notebook made from it), in the cell tagged with the question's id:
#
# - **code**: fill in the functions (numpy and the standard library only);
# - **numeric**: replace `None` with a number, or a list of numbers where the question asks for
#   several; a **formula** is a function returning a number;
# - **choice**: replace `None` with the label of your option (`"b"`), or a list of labels
#   (`["a", "c"]`) where several may be right;
# - **derivation**: replace `None` with a list of steps (handout, question 4.1);
# - **free text**: write your answer in the text cell tagged with the question's id, after its first
#   word `<id>:` (keep that word: it marks your answer; in the `.py` starter, write comment lines).
#
# Leave an answer as `None` (or a function as it is) if you skip it. Do not rename anything.
# Check the form of your answers with `grader check midterm midterm.ipynb`.

# %%
import math

import numpy as np

# %% [markdown]
# ## Part 1: LSTMs and vanishing gradients (20 points)
#
# ### 1.1 (code, 10 points) The cell-state Jacobian (4)

# %% tags=["lstm_cell_jacobian"]
def cell_jacobian(x_t, c_prev, o_prev, params):
    """dc_t/dc_{t-1} of (1)-(3), a (d, d) array J with J[j, k] = dc_t[j] / dc_{t-1}[k], every path included.
    x_t (n,), c_prev (d,), o_prev (d,) the output gate of step t-1; params holds W_f, U_f, b_f, W_i, ... ."""
    raise NotImplementedError

# %% [markdown]
# ### 1.2 (numeric, 3 points) The direct path after 40 steps

# %% tags=["lstm_decay"]
lstm_decay = None

# %% [markdown]
# ### 1.3 (numeric formula, 2 points) The half-life of the gradient

# %% tags=["lstm_half_life"]
def lstm_half_life(f):
    """The number of steps T (a real number) after which f^T = 1/2."""
    ...

# %% [markdown]
# ### 1.4 (free text, 5 points) Mitigated, not removed

# %% [markdown] tags=["lstm_mitigate"]
# lstm_mitigate: *Your answer here.*

# %% [markdown]
# ## Part 2: Optimisation (34 points)
#
# ### 2.1 (code, 6 points) Gradient descent and mini-batch SGD (5)-(8)

# %% tags=["gd_sgd"]
def gd_step(theta, X, y, lr):
    """One step (7) on the mean squared loss (5): theta (p,), X (N, p), y (N,); returns the new theta."""
    raise NotImplementedError


def sgd_epoch(theta, X, y, lr, batch_size, perm):
    """One epoch of (8): batches perm[0:B], perm[B:2B], ... (the last may be smaller); returns the final theta."""
    raise NotImplementedError

# %% [markdown]
# ### 2.2 (free text, 4 points) Small batches

# %% [markdown] tags=["batch_noise"]
# batch_noise: *Your answer here.*

# %% [markdown]
# ### 2.3 (code, 2 points) The heavy ball (9)

# %% tags=["heavy_ball_step"]
def heavy_ball_step(w, w_prev, g, gamma, beta):
    """w_{t+1} of (9) from w = w_t, w_prev = w_{t-1} and the gradient g at w_t."""
    raise NotImplementedError

# %% [markdown]
# ### 2.4 (single choice, 2 points), 2.5 (multiple choice, 3 points), 2.6 (numeric, 3 points)

# %% tags=["heavy_ball_range"]
heavy_ball_range = None

# %% tags=["heavy_ball_facts"]
heavy_ball_facts = None

# %% tags=["heavy_ball_beta_min"]
heavy_ball_beta_min = None

# %% [markdown]
# ### 2.7 (code, 3 points) RMSProp (10)-(11)

# %% tags=["rmsprop_step"]
def rmsprop_step(w, g, v, lr, alpha, eps):
    """One step of (10)-(11); returns (w_new, v_new)."""
    raise NotImplementedError

# %% [markdown]
# ### 2.8 (code, 6 points) Adam with bias correction (12)-(14)

# %% tags=["adam_step"]
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    """Step t (t = 1 at the first step) of (12)-(14); returns (w_new, m_new, v_new), the moments uncorrected."""
    raise NotImplementedError

# %% [markdown]
# ### 2.9 (single choice, 2 points) and 2.10 (numeric, 3 points) The schedule of the fragment

# %% tags=["lr_schedule_rule"]
lr_schedule_rule = None

# %% tags=["lr_schedule_trace"]
lr_schedule_trace = None

# %% [markdown]
# ## Part 3: Energy-based models (31 points)
#
# ### 3.1 (code, 3 points) The Gibbs distribution (15)

# %% tags=["gibbs"]
def gibbs(F, beta):
    """P(y|x) of (15) over the last axis of the energies F (any shape); must not overflow for beta up to 1e3."""
    raise NotImplementedError

# %% [markdown]
# ### 3.2 (code, 3 points) The free energy (16)

# %% tags=["free_energy"]
def free_energy(E, beta):
    """F_beta of (16) over the last axis of E: shape E.shape[:-1]; accurate for beta up to 1e6."""
    raise NotImplementedError

# %% [markdown]
# ### 3.3 (numeric, 4 points) Three values of the free energy (17)

# %% tags=["free_energy_values"]
free_energy_values = None

# %% [markdown]
# ### 3.4 (code, 3 points) and 3.5 (code, 5 points) The NLL loss (18) and its gradient (19)

# %% tags=["nll_loss"]
def nll_loss(F, y, beta):
    """The loss (18), a float: F (N, K) energies of every answer, y (N,) the indices of the correct ones."""
    raise NotImplementedError

# %% tags=["nll_grad"]
def nll_grad(F, y, beta):
    """dL/dF of (18), shape (N, K)."""
    raise NotImplementedError

# %% [markdown]
# ### 3.6 (code, 5 points) InfoNCE (20)-(21)

# %% tags=["info_nce"]
def cosine_similarities(U, V):
    """S[i, j] = the cosine of the angle between rows U[i] and V[j] (20): U (N, d), V (M, d) -> (N, M)."""
    raise NotImplementedError


def info_nce_loss(U, V, tau):
    """The loss (21), a float: row i of V is the positive of row i of U, the other rows its negatives."""
    raise NotImplementedError

# %% [markdown]
# ### 3.7 (multiple choice, 3 points) and 3.8 (code, 5 points) K-means and sparse coding (22)-(23)

# %% tags=["ebm_facts"]
ebm_facts = None

# %% tags=["kmeans_sparse"]
def kmeans_free_energy(Y, W):
    """F(y_n) of (22) for every row of Y (N, d), prototypes the columns of W (d, k): shape (N,)."""
    raise NotImplementedError


def sparse_coding_energy(y, W, z, lam):
    """E(y, z) of (23), a float: y (d,), W (d, k), z (k,)."""
    raise NotImplementedError

# %% [markdown]
# ## Part 4: The ELBO and back-propagation (20 points)
#
# ### 4.1 (derivation, 8 points) The gap of the ELBO

# %% tags=["elbo_gap"]
elbo_gap = None

# %% [markdown]
# ### 4.2 (numeric, 4 points) A discrete model

# %% tags=["elbo_discrete"]
elbo_discrete = None

# %% [markdown]
# ### 4.3 (code, 8 points) Back-propagation through (24)

# %% tags=["mlp_backward"]
def mlp_backward(X, y, W1, b1, W2, b2):
    """(dW1, db1, dW2, db2): the gradients of the mean cross-entropy L of (24), by back-propagation."""
    raise NotImplementedError

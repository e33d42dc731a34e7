# %% [markdown]
# # Perceptrons: threshold units, learning, and a proof that learning stops
#
# Fill in every function below; `handout.md` has the equations (numbered as in the
# comments) and the conventions. Only numpy is allowed. Check your work with
# `grader check perceptron perceptron.ipynb`.
#
# Conventions: `X` is `(m, n)`, one point per row; labels are 0/1; the bias is the first
# weight, `x~ = (1, x_1, ..., x_n)`; a unit fires when `w . x~ >= 0`; truth-table row `r`
# has `x_j` = bit `j - 1` of `r`; random picks come from `np.random.default_rng(seed)`.

# %%
import numpy as np

# %% [markdown]
# ## Task 1. The McCulloch-Pitts neuron, equation (1)

# %%
def mp_neuron(X, inhibitory, theta):
    """Outputs (m,) ints 0/1 of a McCulloch-Pitts unit for the rows of the 0/1 array X (m, n).

    inhibitory: bool (n,), True for inhibitory inputs; theta: the threshold.
    """
    raise NotImplementedError


# %% [markdown]
# ## Task 2. Linearly separable boolean functions, equations (2) and (3)

# %%
def boolean_inputs(n):
    """The (2**n, n) int array of truth-table inputs: row r has x_j = bit j-1 of r."""
    raise NotImplementedError


def threshold_unit(truth_table):
    """Weights w (n+1,) with (w . x~ >= 0) == truth_table on every row, or None if not separable."""
    raise NotImplementedError


# %% [markdown]
# ## Tasks 3 and 4. The learning algorithm (4)-(5) and its modified form (6)-(8)
#
# Both functions return a run dictionary with keys `"w"`, `"converged"`, `"corrections"`,
# `"steps"` and `"trace"` (the weights at the start and after each correction).

# %%
def perceptron(X, y, w0, max_steps, seed=0, order=None):
    """Algorithm 1 on the augmented points of X (m, n) with labels y (m,), from weights w0 (n+1,)."""
    raise NotImplementedError


def signed_points(X, y, normalise=True):
    """P' (m, n+1): +x~_i for y_i = 1, -x~_i for y_i = 0, each scaled to length 1 if normalise."""
    raise NotImplementedError


def modified_perceptron(P, w0, max_steps, seed=0, order=None):
    """Algorithm 2 on the rows of P (m, n+1): correct with w += p whenever w . p <= 0."""
    raise NotImplementedError


# %% [markdown]
# ## Tasks 5 and 6. The convergence proof, equations (9)-(13)
#
# `k` is a 1-D integer array of correction counts; return float arrays of its shape.
# `w_star` need not have length 1: use its direction `u = w_star / ||w_star||`.

# %%
def margin(P, w_star):
    """delta = min_i u . p_i over the rows of P, as a float."""
    raise NotImplementedError


def alignment_bound(w_star, w0, k, delta):
    """The lower bound (10) on u . w_k after k corrections."""
    raise NotImplementedError


def norm_sq_bound(w0, k, radius):
    """The upper bound (11) on ||w_k||^2 after k corrections."""
    raise NotImplementedError


def cos_beta_bound(w_star, w0, k, delta, radius):
    """The lower bound (12) on the cosine of the angle between w_star and w_k."""
    raise NotImplementedError


def correction_bound(w_star, w0, delta, radius):
    """k_max of (13): the most corrections Algorithm 2 can make, as a float."""
    raise NotImplementedError


# %% [markdown]
# ## Question 7. The convergence proof, in your own words (graded by a TA)
#
# Your proof covers: why delta > 0, the inductions (10) and (11) (say where
# w . p <= 0 is used), how they combine, and how you solve for k_max, including the case
# where u . w_0 + k delta is negative.
#
# Write your answer below the line `proof:` (keep that line: it marks your answer for the TA).
#
# proof:
# *Your answer here.*

# %% [markdown]
# ## Task 8. A network of perceptrons for any boolean function, equations (14)-(16)

# %%
def boolean_network(truth_table):
    """A dict with W1 (2**n, n), b1 (2**n,), w2 (2**n,), b2 (float) computing the table on +-1 inputs."""
    raise NotImplementedError


def network_forward(X, net):
    """Outputs (m,) ints 0/1 of the network net (a dict as above) on the rows of X (m, n)."""
    raise NotImplementedError

# %% [markdown]
# # Perceptrons and the convergence proof: reference solution
#
# Equation numbers refer to `assignments/perceptron/handout.md`. Conventions: a data set
# `X` is `(m, n)`, one point per row; labels `y` are 0/1; the bias is the first weight,
# `x~ = (1, x_1, ..., x_n)`; a unit fires when `w . x~ >= 0`; truth-table row `r` holds
# `x_j = bit j-1 of r`; every random pick comes from `np.random.default_rng(seed)`.

# %%
import numpy as np

# %% [markdown]
# ## 1. The McCulloch-Pitts neuron

# %%
def mp_neuron(X, inhibitory, theta):
    X = np.asarray(X)
    inhibitory = np.asarray(inhibitory, dtype=bool)
    vetoed = X[:, inhibitory].any(axis=1)  # (1) one active inhibitory input forces 0
    g = X[:, ~inhibitory].sum(axis=1)  # (1) the aggregation of the excitatory inputs
    return np.where(vetoed, 0, (g >= theta).astype(int))


# %% [markdown]
# ## 2. Which boolean functions one perceptron can compute

# %%
def boolean_inputs(n):
    r = np.arange(2**n)[:, None]
    return (r >> np.arange(n)) & 1  # (3) row r: x_j is bit j-1 of r


def threshold_unit(truth_table):
    # Cyclic perceptron on the 2^n corners from w = 0. The corners are integer, so w stays
    # integer and bounded (section 2): a repeated weight vector at the start of an epoch is
    # a cycle, which a separable table cannot have (section 4).
    f = np.asarray(truth_table)
    X = boolean_inputs(len(f).bit_length() - 1)
    w = np.zeros(X.shape[1] + 1)
    seen = set()
    while tuple(w) not in seen:
        seen.add(tuple(w))
        run = perceptron(X, f, w, max_steps=len(f), order=np.arange(len(f)))
        if run["converged"]:
            return run["w"]
        w = run["w"]
    return None


# %% [markdown]
# ## 3. The learning algorithm (Algorithm 1) and its modified form (Algorithm 2)

# %%
def augment(X):
    X = np.asarray(X, dtype=float)
    return np.hstack([np.ones((len(X), 1)), X])  # (4) x_0 = 1 carries the bias w_0 = -theta


def signed_points(X, y, normalise=True):
    P = augment(X) * np.where(np.asarray(y) == 1, 1.0, -1.0)[:, None]  # (6) P' = P u N-
    if normalise:
        P = P / np.linalg.norm(P, axis=1, keepdims=True)  # (7) ||p|| = 1
    return P


def correct_until_separated(P, tie_is_correct, w0, max_steps, seed, order):
    """The loop both algorithms share, on signed points: p_i needs a correction when
    w . p_i < 0, or when w . p_i = 0 and a tie does not count as correct for p_i."""
    rng = np.random.default_rng(seed)
    w = np.array(w0, dtype=float)
    trace = [w]

    def wrong(w):
        s = P @ w
        return (s < 0) | ((s == 0) & ~tie_is_correct)

    mistakes = wrong(w)
    steps = 0
    while mistakes.any() and steps < max_steps:
        i = rng.integers(len(P)) if order is None else order[steps % len(order)]
        steps += 1
        if mistakes[i]:
            w = w + P[i]  # (5) and (8): w += x for a positive, w -= x for a negative
            trace.append(w)
            mistakes = wrong(w)
    return {
        "w": w,
        "converged": not mistakes.any(),
        "corrections": len(trace) - 1,
        "steps": steps,
        "trace": np.array(trace),
    }


def perceptron(X, y, w0, max_steps, seed=0, order=None):
    # Algorithm 1: a positive point is correct when w . x~ >= 0, a negative one when w . x~ < 0 (2)
    y = np.asarray(y)
    return correct_until_separated(signed_points(X, y, normalise=False), y == 1, w0, max_steps, seed, order)


def modified_perceptron(P, w0, max_steps, seed=0, order=None):
    # Algorithm 2: every p in P' must end with w . p > 0 (8)
    P = np.asarray(P, dtype=float)
    return correct_until_separated(P, np.zeros(len(P), dtype=bool), w0, max_steps, seed, order)


# %% [markdown]
# ## 4. The convergence proof, quantity by quantity

# %%
def unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def margin(P, w_star):
    return float(np.min(np.asarray(P) @ unit(w_star)))  # (9) delta = min_i u . p_i


def alignment_bound(w_star, w0, k, delta):
    return unit(w_star) @ np.asarray(w0, dtype=float) + np.asarray(k) * delta  # (10) u . w_k >= u . w_0 + k delta


def norm_sq_bound(w0, k, radius):
    w0 = np.asarray(w0, dtype=float)
    return w0 @ w0 + np.asarray(k) * radius**2  # (11) ||w_k||^2 <= ||w_0||^2 + k R^2


def cos_beta_bound(w_star, w0, k, delta, radius):
    return alignment_bound(w_star, w0, k, delta) / np.sqrt(norm_sq_bound(w0, k, radius))  # (12)


def correction_bound(w_star, w0, delta, radius):
    # (13): the larger root of delta^2 k^2 - (R^2 - 2 a delta) k + (a^2 - b) = 0,
    # the square of a + k delta = sqrt(b + k R^2), where a = u . w_0 and b = ||w_0||^2 >= a^2
    w0 = np.asarray(w0, dtype=float)
    a, b = unit(w_star) @ w0, w0 @ w0
    c = radius**2 - 2 * a * delta
    return float((c + np.sqrt(c**2 + 4 * delta**2 * (b - a**2))) / (2 * delta**2))


# %% [markdown]
# ## Question 7: a model answer for the TAs
#
# Negating the points of N turns "w . x~ < 0" into "w . p > 0", and dividing p by ||p|| > 0
# does not change the sign of w . p, so w solves the problem exactly when w . p > 0 for all p
# in P'. Take a solution w* and u = w*/||w*||. There are finitely many p, each with u . p > 0,
# so their minimum delta is > 0; let R = max ||p||.
#
# A correction adds some p, and u . p >= delta, so u . w_k = u . w_{k-1} + u . p >= u . w_{k-1}
# + delta; by induction u . w_k >= u . w_0 + k delta (10). A correction happens only when
# w_{k-1} . p <= 0, so ||w_k||^2 = ||w_{k-1}||^2 + 2 w_{k-1} . p + ||p||^2 <= ||w_{k-1}||^2 + R^2;
# by induction ||w_k||^2 <= ||w_0||^2 + k R^2 (11). With a = u . w_0 and b = ||w_0||^2, Cauchy-
# Schwarz gives a + k delta <= u . w_k <= ||w_k|| <= sqrt(b + k R^2), i.e. cos beta_k <= 1 in (12).
# While a + k delta < 0 this says nothing, but k < -a/delta is then bounded anyway. Otherwise
# squaring gives delta^2 k^2 - (R^2 - 2 a delta) k + a^2 - b <= 0, so k lies below the larger
# root k_max (13), which is >= -a/delta, so it covers both cases. With w_0 = 0, k <= (R/delta)^2.
# The argument never uses which point was picked, so it holds for every order of presentation.


# %% [markdown]
# ## 5. One hidden layer of 2^n perceptrons computes any boolean function

# %%
def boolean_network(truth_table):
    f = np.asarray(truth_table, dtype=float)
    n = len(f).bit_length() - 1
    W1 = 2.0 * boolean_inputs(n) - 1  # (15) hidden unit j has the +-1 pattern of row j as weights
    b1 = np.full(2**n, -float(n))  # (15) it fires only when all n inputs agree with it
    return {"W1": W1, "b1": b1, "w2": f, "b2": -1.0}  # (16) the output ORs the rows where f = 1


def network_forward(X, net):
    h = (np.asarray(X, dtype=float) @ net["W1"].T + net["b1"] >= 0).astype(float)  # (14)
    return (h @ net["w2"] + net["b2"] >= 0).astype(int)  # (14)

# %% [markdown]
# # Optimizers: update rules and schedules in numpy
#
# Fill in every function below; `handout.md` has the equations (numbered as in the
# docstrings) and the conventions. Only numpy and the standard library are allowed.
# Check your work with `grader check optimizers optimizers.ipynb`.
#
# Every update rule is one step on plain data: it takes the parameters `w`, the gradient
# `g` (computed by the caller) and the optimizer's `state`, and returns `(w_new, state_new)`.
# A state is a dict of arrays shaped like `w` plus the integer `t`, the number of steps
# taken so far; see the table in the handout for the keys of each method. Build new
# arrays rather than modifying the ones you are given.

# %%
import math

import numpy as np

# %% [markdown]
# ## Optimizer states

# %%
def init_state(method, w):
    """The state before the first step of `method` ("momentum", "nesterov", "adagrad", "rmsprop",
    "adadelta", "adam", "adamax" or "nadam"): its arrays all zeros shaped like w, and t = 0."""
    raise NotImplementedError


# %% [markdown]
# ## Question gd_momentum: gradient descent (1) and momentum (2)

# %%
def gd_step(w, g, lr):
    """One step of gradient descent (1): returns w_new."""
    raise NotImplementedError


def momentum_step(w, g, state, lr, beta):
    """One step of momentum (2), state {"u", "t"}: returns (w_new, state_new)."""
    raise NotImplementedError


# %% [markdown]
# ## Question nesterov: the look-ahead point (4) and the reformulated step (6)

# %%
def nesterov_lookahead(w, state, lr, beta):
    """The look-ahead point (4), from w_t and the velocity u_{t-1} in state["u"]."""
    raise NotImplementedError


def nesterov_step(w, g, state, lr, beta):
    """One step of (6): w is the current iterate and g the gradient there. Returns (w_new, state_new)."""
    raise NotImplementedError


# %% [markdown]
# ## Question heavy_ball: the heavy ball (7) and its coefficients from momentum (9)

# %%
def heavy_ball_step(w, w_prev, g, gamma, beta):
    """One heavy-ball step (7): returns w_{t+1} from w_t, w_{t-1}, the gradient at w_t, gamma_t and beta'_t."""
    raise NotImplementedError


def momentum_to_heavy_ball(lrs, betas):
    """(gammas, hb_betas), two 1-D float arrays: the coefficients (9) that make (7) follow momentum (8)."""
    raise NotImplementedError


# %% [markdown]
# ## Question minibatch: gradients (11) and (13), and one epoch (14)

# %%
def linear_grad(w, X, y):
    """The gradient (11) of the mean squared-error loss (10) over the rows of X (N, d)."""
    raise NotImplementedError


def logistic_grad(w, X, y):
    """The gradient (13) of the mean logistic loss (12) over the rows of X (N, d), y in {0, 1}."""
    raise NotImplementedError


def minibatch_epoch(w, X, y, lr, batch_size, perm, model):
    """One epoch (14) in the order `perm`, model "linear" or "logistic": W (ceil(N/B) + 1, d), row 0 = w."""
    raise NotImplementedError


# %% [markdown]
# ## Question adagrad_rmsprop: AdaGrad (16)-(17) and RMSProp (18)-(19)

# %%
def adagrad_step(w, g, state, lr, eps):
    """One AdaGrad step, state {"v", "t"}: returns (w_new, state_new)."""
    raise NotImplementedError


def rmsprop_step(w, g, state, lr, beta, eps):
    """One RMSProp step, state {"v", "t"}: returns (w_new, state_new)."""
    raise NotImplementedError


# %% [markdown]
# ## Question adadelta: AdaDelta (20)-(23)

# %%
def adadelta_step(w, g, state, beta, eps):
    """One AdaDelta step, state {"v", "u", "t"}: returns (w_new, state_new)."""
    raise NotImplementedError


# %% [markdown]
# ## Question adam_family: Adam (24)-(27), AdaMax (28)-(29) and NAdam (30)-(31)

# %%
def adam_step(w, g, state, lr, beta1, beta2, eps):
    """One Adam step, state {"m", "v", "t"} (m and v before bias correction): returns (w_new, state_new)."""
    raise NotImplementedError


def adamax_step(w, g, state, lr, beta1, beta2, eps):
    """One AdaMax step, state {"m", "v", "t"} (v the decayed max-norm): returns (w_new, state_new)."""
    raise NotImplementedError


def nadam_step(w, g, state, lr, beta1, beta2, eps):
    """One NAdam step, state {"m", "v", "t"}: returns (w_new, state_new)."""
    raise NotImplementedError


# %% [markdown]
# ## Question schedules: (32)-(37), each a float for the integer step t = 0, 1, 2, ...

# %%
def step_decay(t, lr0, drop, every):
    """(32): lr0 times drop once every `every` steps."""
    raise NotImplementedError


def exponential_decay(t, lr0, k):
    """(33)."""
    raise NotImplementedError


def inverse_time_decay(t, lr0, k):
    """(34)."""
    raise NotImplementedError


def cosine_restarts(t, lr_min, lr_max, period, mult):
    """(35)-(36): cycles of period, period * mult, period * mult**2, ... steps."""
    raise NotImplementedError


def sutskever_momentum(t, mu_max):
    """(37): the momentum coefficient at step t, capped at mu_max."""
    raise NotImplementedError

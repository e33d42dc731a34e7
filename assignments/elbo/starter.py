# %% [markdown]
# # The ELBO: derivations checked by machine, discrete and Gaussian latents, PPCA
#
# Fill in every function below; `handout.md` has the equations (numbered as in the
# docstrings), the conventions and the derivation language. Write the graded functions in
# numpy; torch is installed and you may use it to check your work in the skipped cell at
# the end (autograd on your `elbo_mc`, say), but `elbo_mc_grad` must be the closed form
# (13)-(14). Check your work with `grader check elbo elbo.ipynb`.
#
# Conventions: one observation x at a time. PPCA: p(z) = N(0, I_k) and
# p(x|z) = N(W z + mu, sigma2 I_D), with x and mu of shape (D,), W of shape (D, k) and
# sigma2 a float (the variance, not the standard deviation). A diagonal q is given by its
# mean m and its log standard deviations log_s, both of shape (k,).

# %%
import numpy as np

# %% [markdown]
# ## Questions derivation_bound and derivation_identity
#
# Return each derivation as a list of strings in the checker's language (handout,
# "Derivations checked by machine"): the first string an expression, every other one
# starting with `=`, `>=` or `<=`, optionally followed by a reason in brackets.

# %%
def elbo_derivation():
    """The steps from log p(x) to the ELBO that prove log p(x) >= ELBO (3)."""
    return []


def identity_derivation():
    """The steps from log p(x) to ELBO + KL(q(z|x) || p(z|x)) that prove the identity (4)."""
    return []


# %% [markdown]
# ## Question discrete: a latent variable with K values (6)-(8)
#
# `log_prior[k]` is log p(z = k) and `log_lik[k]` is log p(x | z = k) for the observed x,
# both of shape (K,); `q` holds the probabilities q(z = k | x), some of which may be 0.

# %%
def log_evidence_discrete(log_prior, log_lik):
    """log p(x) (6), as a float; stable when log_lik is near -1000 or +700."""
    raise NotImplementedError


def posterior_discrete(log_prior, log_lik):
    """p(z = k | x) for every k (7), shape (K,)."""
    raise NotImplementedError


def elbo_discrete(log_prior, log_lik, q):
    """The exact ELBO (8) of q, as a float, with 0 log 0 = 0."""
    raise NotImplementedError


# %% [markdown]
# ## Question kl_gaussian (9)

# %%
def kl_diag_gaussians(mu1, var1, mu2, var2):
    """KL(N(mu1, diag var1) || N(mu2, diag var2)), summed over the last axis: arrays of shape
    (..., d) give shape (...); one pair of shape (d,) gives a float."""
    raise NotImplementedError


# %% [markdown]
# ## Question reparam: the Monte Carlo ELBO (10)-(11) and its gradient (12)-(14)
#
# `eps` has shape (S, k): row s is the standard normal draw of sample s.

# %%
def elbo_mc(x, W, mu, sigma2, m, log_s, eps):
    """The estimate (11) of the ELBO of q = N(m, diag exp(2 log_s)) for the PPCA model, as a float."""
    raise NotImplementedError


def elbo_mc_grad(x, W, mu, sigma2, m, log_s, eps):
    """(grad_m, grad_log_s), the gradients (13)-(14) of elbo_mc with eps held fixed, each of shape (k,)."""
    raise NotImplementedError


# %% [markdown]
# ## Question ppca: likelihood (15), posterior (16) and the ELBO of a Gaussian q (17)-(20)

# %%
def ppca_log_likelihood(x, W, mu, sigma2):
    """log N(x; mu, W W^T + sigma2 I) (15), as a float."""
    raise NotImplementedError


def ppca_posterior(x, W, mu, sigma2):
    """(mean, cov) of p(z|x) (16): shapes (k,) and (k, k)."""
    raise NotImplementedError


def elbo_gaussian(x, W, mu, sigma2, m, S):
    """The exact ELBO (20) of q = N(m, S), S a (k, k) covariance, as a float."""
    raise NotImplementedError


# %% [markdown]
# ## Try it
#
# Run this cell yourself. The grader does not run it: its first line skips it in a
# notebook, and the `__name__` test skips it in a `.py` module.

# %%
# grader: skip
if __name__ == "__main__":
    from grader.derivations import check

    print(check(elbo_derivation(), goal=("log p(x)", ">=", "ELBO")).message())
    print(check(identity_derivation(), goal=("log p(x)", "=", "ELBO + KL(q(z|x) || p(z|x))")).message())

    rng = np.random.default_rng(0)
    W, mu, x, sigma2 = rng.normal(size=(4, 2)), rng.normal(size=4), rng.normal(size=4), 0.5
    mean, cov = ppca_posterior(x, W, mu, sigma2)
    print("log p(x) =", ppca_log_likelihood(x, W, mu, sigma2), " ELBO(q*) =", elbo_gaussian(x, W, mu, sigma2, mean, cov))

# %% [markdown]
# ## Written question (graded by a TA)
#
# When is the bound log p(x) >= ELBO(q) tight, and what does the gap log p(x) - ELBO(q)
# measure? What does that mean for the q you get by maximising the ELBO, and for the PPCA
# results of this assignment? (A paragraph or two.)
#
# Write your answer below the line `tightness:` (keep that line: it marks your answer for the TA).
#
# tightness:
# *Your answer here.*

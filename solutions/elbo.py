# %% [markdown]
# # The ELBO: reference solution
#
# Equation numbers refer to `assignments/elbo/handout.md`. One observation x at a time;
# the PPCA model is p(z) = N(0, I_k), p(x|z) = N(W z + mu, sigma2 I_D); q is a Gaussian
# with mean m and, where diagonal, standard deviations s = exp(log_s).

# %%
import numpy as np

LOG_2PI = np.log(2 * np.pi)

# %% [markdown]
# ## Derivations, in the checker's language

# %%
def elbo_derivation():
    """log p(x) >= ELBO, by Jensen's inequality (3); each step names the rules it applies."""
    return [
        "log p(x)",
        "= [marginalisation (1)] log E_q[p(x,z) / q(z|x)]",
        ">= [Jensen: log is concave] E_q[log(p(x,z) / q(z|x))]",
        "= [log of a quotient] E_q[log p(x,z) - log q(z|x)]",
        "= [definition of the ELBO (2)] ELBO",
    ]


def identity_derivation():
    """log p(x) = ELBO + KL(q(z|x) || p(z|x)) (4)."""
    return [
        "log p(x)",
        "= [expectation of a constant] E_q[log p(x)]",
        "= [Bayes' rule, log of a quotient] E_q[log p(x,z) - log p(z|x)]",
        "= [algebra: add and subtract log q] E_q[log p(x,z) - log q(z|x) + log q(z|x) - log p(z|x)]",
        "= [linearity of expectation] E_q[log p(x,z) - log q(z|x)] + E_q[log q(z|x) - log p(z|x)]",
        "= [definitions of the ELBO (2) and of KL (5)] ELBO + KL(q(z|x) || p(z|x))",
    ]

# %% [markdown]
# ## A discrete latent variable

# %%
def log_evidence_discrete(log_prior, log_lik):
    log_joint = log_prior + log_lik
    top = np.max(log_joint)
    return float(top + np.log(np.sum(np.exp(log_joint - top))))  # (6), shifted by the max


def posterior_discrete(log_prior, log_lik):
    return np.exp(log_prior + log_lik - log_evidence_discrete(log_prior, log_lik))  # (7)


def elbo_discrete(log_prior, log_lik, q):
    q = np.asarray(q, dtype=np.float64)
    support = q > 0  # 0 log 0 = 0: values of z that q never takes add nothing
    log_q = np.log(np.where(support, q, 1.0))
    return float(np.sum(np.where(support, q * (log_prior + log_lik - log_q), 0.0)))  # (8)

# %% [markdown]
# ## KL between diagonal Gaussians

# %%
def kl_diag_gaussians(mu1, var1, mu2, var2):
    terms = np.log(var2) - np.log(var1) + (var1 + (mu1 - mu2) ** 2) / var2 - 1  # (9)
    return 0.5 * np.sum(terms, axis=-1)

# %% [markdown]
# ## The reparameterised Monte Carlo ELBO and its gradient

# %%
def reparameterise(m, log_s, eps):
    return m + np.exp(log_s) * eps  # (10): one row of eps per sample


def log_joint_ppca(x, z, W, mu, sigma2):
    """log p(x, z_s) for each row z_s of z, and its gradient with respect to z_s."""
    residual = x - mu - z @ W.T
    log_lik = -0.5 * (len(x) * np.log(2 * np.pi * sigma2) + np.sum(residual**2, axis=-1) / sigma2)
    log_prior = -0.5 * (z.shape[-1] * LOG_2PI + np.sum(z**2, axis=-1))
    return log_lik + log_prior, residual @ W / sigma2 - z  # (12): g_s


def elbo_mc(x, W, mu, sigma2, m, log_s, eps):
    z = reparameterise(m, log_s, eps)
    log_p, _ = log_joint_ppca(x, z, W, mu, sigma2)
    log_q = -0.5 * np.sum(eps**2 + LOG_2PI, axis=-1) - np.sum(log_s)  # log q(z_s|x), since (z_s - m) / s = eps_s
    return float(np.mean(log_p - log_q))  # (11)


def elbo_mc_grad(x, W, mu, sigma2, m, log_s, eps):
    z = reparameterise(m, log_s, eps)
    _, g = log_joint_ppca(x, z, W, mu, sigma2)
    grad_m = np.mean(g, axis=0)  # (13)
    grad_log_s = np.mean(g * np.exp(log_s) * eps, axis=0) + 1.0  # (14): + 1 from -log q
    return grad_m, grad_log_s

# %% [markdown]
# ## Probabilistic PCA

# %%
def ppca_log_likelihood(x, W, mu, sigma2):
    C = W @ W.T + sigma2 * np.eye(len(x))  # (15)
    _, logdet = np.linalg.slogdet(C)
    r = x - mu
    return float(-0.5 * (len(x) * LOG_2PI + logdet + r @ np.linalg.solve(C, r)))


def ppca_posterior(x, W, mu, sigma2):
    M = W.T @ W + sigma2 * np.eye(W.shape[1])  # (16)
    mean = np.linalg.solve(M, W.T @ (x - mu))
    cov = sigma2 * np.linalg.inv(M)
    return mean, cov


def elbo_gaussian(x, W, mu, sigma2, m, S):
    D, k = W.shape
    r = x - mu - W @ m
    expected_log_lik = -0.5 * (D * np.log(2 * np.pi * sigma2) + (r @ r + np.trace(W @ S @ W.T)) / sigma2)  # (17)
    expected_log_prior = -0.5 * (k * LOG_2PI + m @ m + np.trace(S))  # (18)
    entropy = 0.5 * (k * (LOG_2PI + 1) + np.linalg.slogdet(S)[1])  # (19)
    return float(expected_log_lik + expected_log_prior + entropy)  # (20)

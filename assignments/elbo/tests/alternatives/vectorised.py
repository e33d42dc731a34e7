# Alternative: vectorised numpy in another arrangement: the bound's derivation splits p(x,z) into
# p(x|z) p(z) and drops KL(q || p(z|x)) >= 0; the identity adds and subtracts log q inside one
# expectation before splitting; the ELBO of a discrete q as E_q[log p(x,z)] + H(q) over its support;
# the KL's log(v2 / v1) as log1p((v2 - v1) / v1); elbo_mc as one sum over all samples divided by S;
# PPCA's evidence by slogdet and solve on the D x D matrix C, the posterior covariance symmetrised.
import numpy as np

LOG_2PI = np.log(2.0 * np.pi)


def elbo_derivation():
    return [
        "log p(x)",
        "= [Bayes' rule with the product rule] E_q[log p(x|z) + log p(z) - log p(z|x)]",
        "= [add and subtract log q] E_q[log p(x|z)] - KL(q(z|x) || p(z)) + KL(q(z|x) || p(z|x))",
        ">= [KL >= 0] E_q[log p(x|z)] - KL(q(z|x) || p(z))",
        "= [the VAE form of (2)] ELBO",
    ]


def identity_derivation():
    return [
        "log p(x)",
        "= [constant under q] E_q[log p(x)]",
        "= [Bayes' rule] E_q[log p(x,z) - log p(z|x)]",
        "= [add and subtract log q] E_q[log p(x,z) - log q(z|x) + log q(z|x) - log p(z|x)]",
        "= [linearity] E_q[log p(x,z) - log q(z|x)] + E_q[log q(z|x) - log p(z|x)]",
        "= [definitions (2) and (5)] ELBO + KL(q(z|x) || p(z|x))",
    ]


def _joint(log_prior, log_lik):
    return np.asarray(log_prior, dtype=np.float64) + np.asarray(log_lik, dtype=np.float64)


def log_evidence_discrete(log_prior, log_lik):
    a = _joint(log_prior, log_lik)
    a_star = np.max(a)
    return float(a_star + np.log(np.sum(np.exp(a - a_star))))


def posterior_discrete(log_prior, log_lik):
    return np.exp(_joint(log_prior, log_lik) - log_evidence_discrete(log_prior, log_lik))


def elbo_discrete(log_prior, log_lik, q):
    q = np.asarray(q, dtype=np.float64)
    a = _joint(log_prior, log_lik)
    support = q > 0
    expected_log_joint = np.sum(q[support] * a[support])
    entropy = -np.sum(q[support] * np.log(q[support]))
    return float(expected_log_joint + entropy)


def kl_diag_gaussians(mu1, var1, mu2, var2):
    mu1, var1, mu2, var2 = (np.asarray(a, dtype=np.float64) for a in (mu1, var1, mu2, var2))
    log_ratio = np.log1p((var2 - var1) / var1)          # log(v2 / v1)
    kl = 0.5 * np.sum(log_ratio + var1 / var2 + (mu1 - mu2) ** 2 / var2 - 1.0, axis=-1)
    return kl.item() if kl.ndim == 0 else kl


def elbo_mc(x, W, mu, sigma2, m, log_s, eps):
    S, k = eps.shape
    D = x.shape[0]
    Z = m[None, :] + np.exp(log_s)[None, :] * eps
    resid = (x - mu)[:, None] - W @ Z.T                # (D, S)
    total = (-0.5 * D * (LOG_2PI + np.log(sigma2)) * S
             - np.sum(resid ** 2) / (2.0 * sigma2)
             - 0.5 * k * LOG_2PI * S - 0.5 * np.sum(Z ** 2)
             + np.sum(0.5 * eps ** 2) + S * np.sum(log_s) + 0.5 * LOG_2PI * S * k)
    return float(total / S)


def elbo_mc_grad(x, W, mu, sigma2, m, log_s, eps):
    S = eps.shape[0]
    s = np.exp(log_s)
    Z = m + s * eps
    WtW = W.T @ W
    G = (W.T @ (x - mu))[None, :] / sigma2 - Z @ WtW.T / sigma2 - Z
    return G.sum(axis=0) / S, s * np.sum(G * eps, axis=0) / S + np.ones_like(m)


def ppca_log_likelihood(x, W, mu, sigma2):
    D = x.shape[0]
    C = W @ W.T + sigma2 * np.eye(D)
    r = x - mu
    _, log_det = np.linalg.slogdet(C)
    return float(-0.5 * (D * LOG_2PI + log_det + r @ np.linalg.solve(C, r)))


def ppca_posterior(x, W, mu, sigma2):
    k = W.shape[1]
    M = W.T @ W + sigma2 * np.eye(k)
    mean = np.linalg.solve(M, W.T @ (x - mu))
    cov = sigma2 * np.linalg.inv(M)
    return mean, 0.5 * (cov + cov.T)


def elbo_gaussian(x, W, mu, sigma2, m, S):
    D, k = W.shape
    r = x - mu - W @ m
    e_log_joint = (-0.5 * D * (LOG_2PI + np.log(sigma2)) - (r @ r + np.sum((W @ S) * W)) / (2 * sigma2)
                   - 0.5 * k * LOG_2PI - 0.5 * (m @ m + np.trace(S)))
    entropy = 0.5 * k * (1.0 + LOG_2PI) + 0.5 * np.linalg.slogdet(S)[1]
    return float(e_log_joint + entropy)


# Written question: log p(x) - ELBO(q) = KL(q(z|x) || p(z|x)) >= 0, zero iff q is the posterior;
# maximising the ELBO fits q to the posterior, which PPCA's Gaussian posterior (16) attains exactly.

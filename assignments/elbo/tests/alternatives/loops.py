# Alternative: loops over latent values, samples and coordinates; log-sum-exp written by hand;
# KL with log v2 - log v1 instead of log(v2 / v1); PPCA's evidence through a Cholesky factor of C
# (log det from its diagonal, triangular solves); derivations that go through KL >= 0 for the bound
# and split the log-ratio into KL + ELBO (KL written first) for the identity, with log(a / b) forms.
import math

import numpy as np


def elbo_derivation():
    return [
        "log p(x)",
        "= [log p(x) does not depend on z] E_q[log p(x)]",
        "= [Bayes' rule] E_q[log p(x,z) - log p(z|x)]",
        "= [add and subtract log q] E_q[log p(x,z) - log q(z|x)] + E_q[log q(z|x) - log p(z|x)]",
        "= [definitions (2) and (5)] ELBO + KL(q(z|x) || p(z|x))",
        ">= [Gibbs' inequality, KL >= 0] ELBO",
    ]


def identity_derivation():
    return [
        "log p(x)",
        "= [expectation of a constant] E_q[log p(x)]",
        "= [p(x) = p(x,z) / p(z|x)] E_q[log(p(x,z) / p(z|x))]",
        "= [multiply and divide by q] E_q[log(q(z|x) / p(z|x))] + E_q[log(p(x,z) / q(z|x))]",
        "= [definitions (5) and (2)] KL(q(z|x) || p(z|x)) + ELBO",
    ]


def log_evidence_discrete(log_prior, log_lik):
    a = [float(log_prior[k]) + float(log_lik[k]) for k in range(len(log_prior))]
    top = max(a)
    return top + math.log(sum(math.exp(v - top) for v in a))


def posterior_discrete(log_prior, log_lik):
    log_px = log_evidence_discrete(log_prior, log_lik)
    return np.array([math.exp(float(log_prior[k]) + float(log_lik[k]) - log_px) for k in range(len(log_prior))])


def elbo_discrete(log_prior, log_lik, q):
    total = 0.0
    for k in range(len(q)):
        if q[k] > 0:
            total += q[k] * (log_prior[k] + log_lik[k] - math.log(q[k]))
    return float(total)


def kl_diag_gaussians(mu1, var1, mu2, var2):
    mu1, var1, mu2, var2 = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (mu1, var1, mu2, var2)))
    d = mu1.shape[-1]
    flat = [a.reshape(-1, d) for a in (mu1, var1, mu2, var2)]
    out = np.zeros(flat[0].shape[0])
    for n in range(out.shape[0]):
        for j in range(d):
            m1, v1, m2, v2 = (a[n, j] for a in flat)
            out[n] += 0.5 * (math.log(v2) - math.log(v1) + (v1 + (m1 - m2) ** 2) / v2 - 1.0)
    if mu1.ndim == 1:
        return float(out[0])
    return out.reshape(mu1.shape[:-1])


def _log_joint_terms(x, W, mu, sigma2, z):
    D, k = W.shape
    r = x - mu - W @ z
    log_lik = -0.5 * D * math.log(2 * math.pi * sigma2) - (r @ r) / (2 * sigma2)
    log_prior = -0.5 * k * math.log(2 * math.pi) - 0.5 * (z @ z)
    return log_lik + log_prior


def elbo_mc(x, W, mu, sigma2, m, log_s, eps):
    s = np.exp(log_s)
    S, k = eps.shape
    total = 0.0
    for i in range(S):
        z = m + s * eps[i]
        log_q = 0.0
        for j in range(k):
            log_q -= 0.5 * eps[i, j] ** 2 + log_s[j] + 0.5 * math.log(2 * math.pi)
        total += _log_joint_terms(x, W, mu, sigma2, z) - log_q
    return float(total / S)


def elbo_mc_grad(x, W, mu, sigma2, m, log_s, eps):
    s = np.exp(log_s)
    S, k = eps.shape
    grad_m = np.zeros(k)
    grad_l = np.zeros(k)
    for i in range(S):
        z = m + s * eps[i]
        g = W.T @ (x - mu - W @ z) / sigma2 - z
        grad_m += g
        grad_l += g * s * eps[i]
    return grad_m / S, grad_l / S + 1.0


def ppca_log_likelihood(x, W, mu, sigma2):
    D = x.shape[0]
    C = W @ W.T + sigma2 * np.eye(D)
    L = np.linalg.cholesky(C)
    # forward substitution L u = x - mu, so (x - mu)^T C^-1 (x - mu) = u^T u
    r = x - mu
    u = np.zeros(D)
    for i in range(D):
        u[i] = (r[i] - L[i, :i] @ u[:i]) / L[i, i]
    log_det = 2.0 * sum(math.log(L[i, i]) for i in range(D))
    return float(-0.5 * (D * math.log(2 * math.pi) + log_det + u @ u))


def ppca_posterior(x, W, mu, sigma2):
    k = W.shape[1]
    M = W.T @ W + sigma2 * np.eye(k)
    mean = np.linalg.solve(M, W.T @ (x - mu))
    cov = sigma2 * np.linalg.solve(M, np.eye(k))
    return mean, cov


def elbo_gaussian(x, W, mu, sigma2, m, S):
    D, k = W.shape
    r = x - mu - W @ m
    trace_wsw = 0.0
    for i in range(D):
        trace_wsw += W[i] @ S @ W[i]
    e_lik = -0.5 * D * math.log(2 * math.pi * sigma2) - (r @ r + trace_wsw) / (2 * sigma2)
    e_prior = -0.5 * k * math.log(2 * math.pi) - 0.5 * (m @ m + np.trace(S))
    sign, log_det = np.linalg.slogdet(S)
    entropy = 0.5 * (k * (1 + math.log(2 * math.pi)) + log_det)
    return float(e_lik + e_prior + entropy)


# Written question: the bound is tight exactly when q(z|x) is the true posterior; the gap is
# KL(q || p(z|x)). Maximising the ELBO over q minimises that KL; in PPCA the posterior is Gaussian,
# so a full Gaussian q reaches it and the ELBO equals log p(x).

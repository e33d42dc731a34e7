"""Public tests: small cases worked out by hand, and the derivation checker run on your steps.

The hidden tests use random shapes and seeds, adversarial inputs (log-likelihoods near -1000,
probabilities that are exactly zero, variances from 1e-8 to 1e6), torch in float64 as an oracle,
and check the derivations on other random instances of the checker's models.
"""

import math

import numpy as np
import pytest

from grader.checks import assert_close, assert_shape, check_gradient

# ------------------------------------------------------------------ derivations


@pytest.mark.question("derivation_bound")
@pytest.mark.points(2)
@pytest.mark.requirement("R1.1")
def test_bound_reasoning(submission, elbo_tools):
    elbo_tools.earn(elbo_tools.grade_derivation(submission.elbo_derivation(), elbo_tools.BOUND), "elbo_derivation()")


@pytest.mark.question("derivation_identity")
@pytest.mark.points(2)
@pytest.mark.requirement("R1.1")
def test_identity_reasoning(submission, elbo_tools):
    elbo_tools.earn(elbo_tools.grade_derivation(submission.identity_derivation(), elbo_tools.IDENTITY),
                    "identity_derivation()")


# ------------------------------------------------------------------ discrete

# p(z) = (1/2, 1/2), p(x|z) = (0.2, 0.6): p(x) = 0.4 and p(z|x) = (1/4, 3/4).
LOG_PRIOR, LOG_LIK = np.log([0.5, 0.5]), np.log([0.2, 0.6])


@pytest.mark.question("discrete")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.1", "R2.2")
def test_discrete_evidence_and_posterior_by_hand(submission):
    assert_close(submission.log_evidence_discrete(LOG_PRIOR, LOG_LIK), math.log(0.4), name="log_evidence_discrete")
    assert_close(submission.posterior_discrete(LOG_PRIOR, LOG_LIK), [0.25, 0.75], name="posterior_discrete")


@pytest.mark.question("discrete")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.3")
def test_discrete_elbo_by_hand(submission):
    # q = (1, 0): ELBO = log p(z=0) + log p(x|z=0) - log 1 = log 0.1 (the value z = 1 adds 0 log 0 = 0)
    assert_close(submission.elbo_discrete(LOG_PRIOR, LOG_LIK, np.array([1.0, 0.0])), math.log(0.1),
                 name="elbo_discrete with q = (1, 0)")
    # q = (1/2, 1/2): ELBO = 1/2 log(0.5 * 0.2 / 0.5) + 1/2 log(0.5 * 0.6 / 0.5) = 1/2 log 0.12
    assert_close(submission.elbo_discrete(LOG_PRIOR, LOG_LIK, np.array([0.5, 0.5])), 0.5 * math.log(0.12),
                 name="elbo_discrete with q = (1/2, 1/2)")
    assert_close(submission.elbo_discrete(LOG_PRIOR, LOG_LIK, np.array([0.25, 0.75])), math.log(0.4),
                 name="elbo_discrete with q = p(z|x) (the bound is tight)")


# ------------------------------------------------------------------ kl_gaussian


@pytest.mark.question("kl_gaussian")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.1")
def test_kl_by_hand(submission):
    # KL(N(0, 1) || N(1, 4)) = 1/2 (log 4 + (1 + 1) / 4 - 1)
    assert_close(submission.kl_diag_gaussians(np.array([0.0]), np.array([1.0]), np.array([1.0]), np.array([4.0])),
                 0.5 * (math.log(4) - 0.5), name="KL(N(0, 1) || N(1, 4))")
    mu, var = np.array([0.3, -1.0, 2.0]), np.array([0.5, 2.0, 1e-3])
    assert_close(submission.kl_diag_gaussians(mu, var, mu, var), 0.0, atol=1e-12, name="KL(p || p)")
    assert_close(submission.kl_diag_gaussians(np.zeros(2), np.ones(2), np.array([1.0, 1.0]), np.ones(2)), 1.0,
                 name="KL(N(0, I) || N((1, 1), I)) = |mu1 - mu2|^2 / 2")


# ------------------------------------------------------------------ reparam


def log_normal(v, mean, var):
    return -0.5 * np.sum(np.log(2 * np.pi * var) + (v - mean) ** 2 / var)


@pytest.mark.question("reparam")
@pytest.mark.points(2)
@pytest.mark.requirement("R4.1")
def test_one_sample_at_the_mean(submission, elbo_tools, rng):
    """With eps = 0 the single sample is z = m, and log q(m|x) = -sum(log_s) - k/2 log(2 pi)."""
    model = elbo_tools.ppca_model(rng, D=4, k=2)
    m, log_s = np.array([0.5, -0.25]), np.array([-0.5, 0.2])
    expected = (log_normal(model.x, model.W @ m + model.mu, model.sigma2) + log_normal(m, 0.0, 1.0)
                + np.sum(log_s) + math.log(2 * math.pi))
    assert_close(submission.elbo_mc(*model.args, m, log_s, np.zeros((1, 2))), expected, name="elbo_mc with eps = 0")


@pytest.mark.question("reparam")
@pytest.mark.points(2)
@pytest.mark.requirement("R4.2")
def test_gradient_matches_finite_differences_of_your_elbo(submission, elbo_tools, rng):
    model = elbo_tools.ppca_model(rng, D=3, k=2)
    m, log_s, eps = rng.normal(size=2), 0.3 * rng.normal(size=2), rng.normal(size=(5, 2))
    grad_m, grad_log_s = submission.elbo_mc_grad(*model.args, m, log_s, eps)
    assert_shape(grad_m, (2,), name="elbo_mc_grad: the gradient for m")
    assert_shape(grad_log_s, (2,), name="elbo_mc_grad: the gradient for log_s")
    check_gradient(lambda v: submission.elbo_mc(*model.args, v, log_s, eps), m, grad_m, name="gradient for m")
    check_gradient(lambda v: submission.elbo_mc(*model.args, m, v, eps), log_s, grad_log_s, name="gradient for log_s")


# ------------------------------------------------------------------ ppca


@pytest.mark.question("ppca")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.1")
def test_ppca_log_likelihood_with_one_latent(submission):
    """D = 2, k = 1: C = w w' + sigma2 I = [[2, 1], [1, 2]], det C = 3, C^-1 = [[2, -1], [-1, 2]] / 3,
    and x - mu = (1, 0), so (x - mu)' C^-1 (x - mu) = 2/3."""
    W, mu, sigma2, x = np.array([[1.0], [1.0]]), np.array([1.0, 0.0]), 1.0, np.array([2.0, 0.0])
    expected = -math.log(2 * math.pi) - 0.5 * math.log(3.0) - 1 / 3
    assert_close(submission.ppca_log_likelihood(x, W, mu, sigma2), expected, name="ppca_log_likelihood")


@pytest.mark.question("ppca")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.3")
def test_elbo_at_the_posterior_is_the_log_likelihood(submission, elbo_tools, rng):
    model = elbo_tools.ppca_model(rng, D=5, k=2)
    mean, cov = submission.ppca_posterior(*model.args)
    assert_shape(mean, (2,), name="ppca_posterior: the mean")
    assert_shape(cov, (2, 2), name="ppca_posterior: the covariance")
    log_px = submission.ppca_log_likelihood(*model.args)
    assert_close(submission.elbo_gaussian(*model.args, mean, cov), log_px, rtol=1e-10, atol=1e-10,
                 name="elbo_gaussian at q = ppca_posterior (should equal ppca_log_likelihood)")
    other = submission.elbo_gaussian(*model.args, mean + 0.5, 2 * cov)
    assert other < log_px, f"elbo_gaussian at another q is {other}, not below log p(x) = {log_px}"

"""Hidden tests: derivations checked on fresh instances, fresh shapes and seeds from `rng`, fixed
adversarial cases, and independent oracles in float64: torch (logsumexp, the diagonal Gaussian KL,
the Monte Carlo ELBO and its autograd gradient), central differences, and for PPCA a Cholesky
factor and the conditioning of the joint Gaussian of (z, x)."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from grader.checks import (as_array, assert_close, assert_finite, assert_inputs_unchanged, assert_shape,
                           check_gradient)

# ------------------------------------------------------------------ derivations

# Correct derivations by other routes than the reference's: the grading must give them full credit too.
ALTERNATIVES = {
    "bound": [
        "log p(x)",
        "= [expectation of a constant] E_q[log p(x)]",
        "= [Bayes' rule, log of a product] E_q[log p(z) + log p(x|z) - log p(z|x)]",
        "= [linearity, definition of KL] E_q[log p(z) + log p(x|z) - log q(z|x)] + KL(q(z|x) || p(z|x))",
        ">= [KL >= 0] E_q[log p(z) + log p(x|z) - log q(z|x)]",
        "= [Bayes' rule, log of a product] E_q[log p(x,z) - log q(z|x)]",
        "= [definition of the ELBO] ELBO",
    ],
    "identity": [
        "log p(x)",
        "= [algebra] log p(x) + E_q[log q(z|x)] - E_q[log q(z|x)]",
        "= [expectation of a constant, linearity] E_q[log p(x) + log q(z|x) - log q(z|x)]",
        "= [Bayes' rule, log of a quotient] E_q[log p(x,z) - log p(z|x) + log q(z|x) - log q(z|x)]",
        "= [linearity] E_q[log q(z|x) - log p(z|x)] + E_q[log p(x,z) - log q(z|x)]",
        "= [definitions of KL and of the ELBO] KL(q(z|x) || p(z|x)) + ELBO",
    ],
}
QUESTIONS = {"bound": ("derivation_bound", "elbo_derivation"), "identity": ("derivation_identity", "identity_derivation")}


def goal_of(which, tools):
    return tools.BOUND if which == "bound" else tools.IDENTITY


def graded(tools, which, steps, rng):
    """The grading of the hidden tests: 60 instances drawn from a seed of their own."""
    return tools.grade_derivation(steps, goal_of(which, tools), seed=int(rng.integers(1, 2**31)), instances=60)


def assert_reasoning(which, submission, reference, tools, rng):
    seed_rng = np.random.default_rng(rng.integers(2**31))
    for name, steps in [("the reference's derivation", getattr(reference, QUESTIONS[which][1])()),
                        ("a derivation by another route", ALTERNATIVES[which])]:
        check = graded(tools, which, steps, np.random.default_rng(seed_rng.integers(2**31)))
        if check.credit != 1.0:  # the grading itself is wrong: not the student's fault
            raise RuntimeError(f"the grading of {which} gives {name} credit {check.credit}: {check.message}")
    function = QUESTIONS[which][1]
    tools.earn(graded(tools, which, getattr(submission, function)(), rng), f"{function}()")


@pytest.mark.question("derivation_bound")
@pytest.mark.points(6)
@pytest.mark.requirement("R1.1")
def test_bound_reasoning_on_fresh_models(submission, reference, elbo_tools, rng):
    assert_reasoning("bound", submission, reference, elbo_tools, rng)


@pytest.mark.question("derivation_identity")
@pytest.mark.points(6)
@pytest.mark.requirement("R1.1")
def test_identity_reasoning_on_fresh_models(submission, reference, elbo_tools, rng):
    assert_reasoning("identity", submission, reference, elbo_tools, rng)


# ------------------------------------------------------------------ discrete


def random_discrete(rng, K=None):
    K = int(rng.integers(2, 12)) if K is None else K
    log_prior = np.log(rng.dirichlet(np.full(K, 0.8)))
    log_lik = rng.normal(-3.0, 2.0, size=K)
    return log_prior, log_lik


def logsumexp(a):
    return float(torch.logsumexp(torch.tensor(a, dtype=torch.float64), 0))


@pytest.mark.question("discrete")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.1", "R0.2", "R2.1", "R2.2", "R2.4")
def test_evidence_and_posterior_random_and_extreme(submission, rng):
    cases = [random_discrete(rng) for _ in range(4)]
    K = int(rng.integers(3, 8))
    cases.append((np.log(np.full(K, 1 / K)), rng.uniform(-1010, -990, size=K)))  # exp underflows to 0
    cases.append((np.log(rng.dirichlet(np.ones(K))), rng.uniform(700, 720, size=K)))  # exp overflows
    for i, (log_prior, log_lik) in enumerate(cases):
        joint = log_prior + log_lik
        value = assert_float(assert_inputs_unchanged(submission.log_evidence_discrete, log_prior, log_lik),
                             "log_evidence_discrete")
        assert_close(value, logsumexp(joint), rtol=1e-10, atol=1e-10, name=f"log_evidence_discrete, case {i}")
        posterior = assert_inputs_unchanged(submission.posterior_discrete, log_prior, log_lik)
        assert_shape(posterior, (len(joint),), name=f"posterior_discrete, case {i}")
        assert_close(posterior, np.exp(joint - logsumexp(joint)), rtol=1e-9, atol=1e-12,
                     name=f"posterior_discrete, case {i}")


def assert_float(value, name):
    """The conventions: a scalar comes back as a float (a numpy float64 is one), not an array."""
    assert isinstance(value, float), f"{name} should return a float, got {type(value).__name__}"
    return value


def exact_elbo(log_prior, log_lik, q):
    keep = q > 0
    return float(np.sum(q[keep] * (log_prior[keep] + log_lik[keep] - np.log(q[keep]))))


@pytest.mark.question("discrete")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.1", "R0.2", "R2.3", "R2.4")
def test_elbo_random_q(submission, rng):
    for i in range(4):
        log_prior, log_lik = random_discrete(rng)
        q = rng.dirichlet(np.full(len(log_prior), 0.7))
        value = assert_float(assert_inputs_unchanged(submission.elbo_discrete, log_prior, log_lik, q), "elbo_discrete")
        assert_close(value, exact_elbo(log_prior, log_lik, q), rtol=1e-10, atol=1e-10, name=f"elbo_discrete, case {i}")
    log_prior, log_lik = np.log(np.full(4, 0.25)), np.array([-1000.0, -1001.0, -999.5, -1003.0])
    q = np.array([0.1, 0.2, 0.3, 0.4])
    assert_close(submission.elbo_discrete(log_prior, log_lik, q), exact_elbo(log_prior, log_lik, q), rtol=1e-12,
                 name="elbo_discrete with log p(x|z) near -1000")


@pytest.mark.question("discrete")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.3")
def test_elbo_q_with_zeros(submission, rng):
    log_prior, log_lik = random_discrete(rng, K=6)
    for q in (np.array([0.0, 0.5, 0.0, 0.25, 0.25, 0.0]), np.eye(6)[int(rng.integers(6))]):
        assert_close(submission.elbo_discrete(log_prior, log_lik, q), exact_elbo(log_prior, log_lik, q), rtol=1e-10,
                     name=f"elbo_discrete with q = {q.tolist()} (0 log 0 = 0)")


@pytest.mark.question("discrete")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.3")
def test_elbo_is_tight_only_at_the_posterior(submission, rng):
    log_prior, log_lik = random_discrete(rng)
    log_px = logsumexp(log_prior + log_lik)
    posterior = np.exp(log_prior + log_lik - log_px)
    assert_close(submission.elbo_discrete(log_prior, log_lik, posterior), log_px, rtol=1e-12, atol=1e-12,
                 name="elbo_discrete at q = p(z|x)")
    for i in range(3):
        q = rng.dirichlet(np.ones(len(posterior)))
        value = submission.elbo_discrete(log_prior, log_lik, q)
        gap = float(np.sum(q * (np.log(q) - np.log(posterior))))
        assert value < log_px, f"elbo_discrete at a q other than the posterior is {value}, not below log p(x) = {log_px}"
        assert_close(log_px - value, gap, rtol=1e-8, atol=1e-12, name=f"log p(x) - ELBO (should be KL(q || p(z|x))), case {i}")


# ------------------------------------------------------------------ kl_gaussian


def torch_kl(mu1, var1, mu2, var2):
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    first, second = Independent(Normal(t(mu1), t(var1).sqrt()), 1), Independent(Normal(t(mu2), t(var2).sqrt()), 1)
    return kl_divergence(first, second).numpy()


def log_uniform(rng, low, high, size):
    return np.exp(rng.uniform(np.log(low), np.log(high), size=size))


@pytest.mark.question("kl_gaussian")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.2", "R3.1")
def test_kl_batches_against_torch(submission, rng):
    n, d = int(rng.integers(2, 7)), int(rng.integers(1, 9))
    mu1, mu2 = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    var1, var2 = log_uniform(rng, 0.1, 10, (n, d)), log_uniform(rng, 0.1, 10, (n, d))
    value = assert_inputs_unchanged(submission.kl_diag_gaussians, mu1, var1, mu2, var2)
    assert_shape(value, (n,), name=f"kl_diag_gaussians on a batch of {n} pairs in {d} dimensions")
    assert_close(value, torch_kl(mu1, var1, mu2, var2), rtol=1e-10, atol=1e-12, name="kl_diag_gaussians (batch)")
    single = assert_float(submission.kl_diag_gaussians(mu1[0], var1[0], mu2[0], var2[0]), "kl_diag_gaussians of one pair")
    assert_close(single, torch_kl(mu1[0], var1[0], mu2[0], var2[0]), rtol=1e-10, name="kl_diag_gaussians (one pair)")


@pytest.mark.question("kl_gaussian")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.1")
def test_kl_extreme_variances(submission, rng):
    d = 5
    cases = {
        "tiny variances": (log_uniform(rng, 1e-8, 1e-6, d), log_uniform(rng, 1e-8, 1e-6, d)),
        "huge variances": (log_uniform(rng, 1e4, 1e6, d), log_uniform(rng, 1e4, 1e6, d)),
        "a narrow q and a wide p": (log_uniform(rng, 1e-8, 1e-6, d), log_uniform(rng, 1e4, 1e6, d)),
    }
    for name, (var1, var2) in cases.items():
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        value = submission.kl_diag_gaussians(mu1, var1, mu2, var2)
        assert_finite(value, name=f"kl_diag_gaussians with {name}")
        assert_close(value, torch_kl(mu1, var1, mu2, var2), rtol=1e-9, name=f"kl_diag_gaussians with {name}")


@pytest.mark.question("kl_gaussian")
@pytest.mark.points(1)
@pytest.mark.requirement("R3.1")
def test_kl_is_not_symmetric(submission, rng):
    mu1, mu2, var1, var2 = rng.normal(size=3), rng.normal(size=3), log_uniform(rng, 0.01, 0.1, 3), log_uniform(rng, 1, 10, 3)
    assert_close(submission.kl_diag_gaussians(mu1, var1, mu2, var2), torch_kl(mu1, var1, mu2, var2), rtol=1e-10,
                 name="KL(narrow || wide)")
    assert_close(submission.kl_diag_gaussians(mu2, var2, mu1, var1), torch_kl(mu2, var2, mu1, var1), rtol=1e-10,
                 name="KL(wide || narrow)")


# ------------------------------------------------------------------ reparam


def torch_elbo_mc(model, m, log_s, eps):
    """(10)-(11) in torch, float64: the oracle for the value and, by autograd, the gradient."""
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)
    z = m + torch.exp(log_s) * t(eps)
    mean = z @ t(model.W).T + t(model.mu)
    log_lik = Independent(Normal(mean, math.sqrt(model.sigma2)), 1).log_prob(t(model.x))
    log_prior = Independent(Normal(torch.zeros_like(z), 1.0), 1).log_prob(z)
    log_q = Independent(Normal(m, torch.exp(log_s)), 1).log_prob(z)
    return (log_lik + log_prior - log_q).mean()


def oracle(model, m, log_s, eps):
    m_t = torch.tensor(m, dtype=torch.float64, requires_grad=True)
    log_s_t = torch.tensor(log_s, dtype=torch.float64, requires_grad=True)
    value = torch_elbo_mc(model, m_t, log_s_t, eps)
    value.backward()
    return float(value), m_t.grad.numpy(), log_s_t.grad.numpy()


def random_q(rng, k, samples=None):
    samples = int(rng.integers(1, 40)) if samples is None else samples
    return rng.normal(size=k), rng.uniform(-1.5, 0.5, size=k), rng.normal(size=(samples, k))


@pytest.mark.question("reparam")
@pytest.mark.points(4)
@pytest.mark.requirement("R0.1", "R4.1")
def test_elbo_mc_against_torch(submission, elbo_tools, rng):
    for i in range(3):
        model = elbo_tools.ppca_model(rng)
        m, log_s, eps = random_q(rng, model.W.shape[1])
        value = assert_float(assert_inputs_unchanged(submission.elbo_mc, *model.args, m, log_s, eps), "elbo_mc")
        assert_close(value, oracle(model, m, log_s, eps)[0], rtol=1e-10, atol=1e-10,
                     name=f"elbo_mc, case {i} (D = {len(model.x)}, k = {len(m)}, {len(eps)} samples)")


@pytest.mark.question("reparam")
@pytest.mark.points(4)
@pytest.mark.requirement("R0.2", "R4.2")
def test_gradient_against_torch_autograd(submission, elbo_tools, rng):
    for i in range(3):
        model = elbo_tools.ppca_model(rng)
        m, log_s, eps = random_q(rng, model.W.shape[1])
        result = assert_inputs_unchanged(submission.elbo_mc_grad, *model.args, m, log_s, eps)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise AssertionError(f"elbo_mc_grad must return a pair (grad_m, grad_log_s), got {type(result).__name__}")
        _, grad_m, grad_log_s = oracle(model, m, log_s, eps)
        assert_close(result[0], grad_m, rtol=1e-9, atol=1e-10, name=f"elbo_mc_grad: grad_m, case {i} (vs autograd)")
        assert_close(result[1], grad_log_s, rtol=1e-9, atol=1e-10, name=f"elbo_mc_grad: grad_log_s, case {i} (vs autograd)")


@pytest.mark.question("reparam")
@pytest.mark.points(2)
@pytest.mark.requirement("R4.2")
def test_gradient_against_central_differences(submission, elbo_tools, rng):
    model = elbo_tools.ppca_model(rng)
    k = model.W.shape[1]
    m, log_s, eps = random_q(rng, k, samples=int(rng.integers(1, 6)))
    grad_m, grad_log_s = submission.elbo_mc_grad(*model.args, m, log_s, eps)
    value = lambda m, log_s: float(torch_elbo_mc(model, torch.tensor(m), torch.tensor(log_s), eps))
    check_gradient(lambda v: value(v, log_s), m, grad_m, name="elbo_mc_grad: grad_m (vs central differences)")
    check_gradient(lambda v: value(m, v), log_s, grad_log_s, name="elbo_mc_grad: grad_log_s (vs central differences)")


# ------------------------------------------------------------------ ppca


def exact_log_likelihood(model):
    """(15) through a Cholesky factor C = L L', a route of its own (numpy, float64)."""
    C = model.W @ model.W.T + model.sigma2 * np.eye(len(model.x))
    L = np.linalg.cholesky(C)
    white = np.linalg.solve(L, model.x - model.mu)
    return float(-0.5 * (len(model.x) * math.log(2 * math.pi) + white @ white) - np.sum(np.log(np.diag(L))))


def exact_posterior(model):
    """Condition the joint Gaussian of (z, x): cov(z, x) = W', cov(x) = C."""
    C = model.W @ model.W.T + model.sigma2 * np.eye(len(model.x))
    gain = np.linalg.solve(C, model.W).T  # W' C^-1
    return gain @ (model.x - model.mu), np.eye(model.W.shape[1]) - gain @ model.W


def gaussian_kl(m1, S1, m2, S2):
    """KL(N(m1, S1) || N(m2, S2)) in closed form."""
    d, S2_inv = m2 - m1, np.linalg.inv(S2)
    return 0.5 * float(np.trace(S2_inv @ S1) + d @ S2_inv @ d - len(m1)
                       + np.linalg.slogdet(S2)[1] - np.linalg.slogdet(S1)[1])


def random_covariance(rng, k, scale=1.0):
    A = rng.normal(size=(k, k))
    return scale * (A @ A.T / k + 0.1 * np.eye(k))


@pytest.mark.question("ppca")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.1", "R5.1")
def test_log_likelihood_against_cholesky(submission, elbo_tools, rng):
    models = [elbo_tools.ppca_model(rng) for _ in range(3)]
    models += [elbo_tools.ppca_model(rng, sigma2=1e-4), elbo_tools.ppca_model(rng, sigma2=50.0)]
    for i, model in enumerate(models):
        value = assert_float(assert_inputs_unchanged(submission.ppca_log_likelihood, *model.args), "ppca_log_likelihood")
        assert_close(value, exact_log_likelihood(model), rtol=1e-9, atol=1e-9,
                     name=f"ppca_log_likelihood, case {i} (D = {len(model.x)}, k = {model.W.shape[1]}, sigma2 = {model.sigma2:.3g})")


@pytest.mark.question("ppca")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.2", "R5.2")
def test_posterior_against_conditioning(submission, elbo_tools, rng):
    for i in range(3):
        model = elbo_tools.ppca_model(rng)
        k = model.W.shape[1]
        result = assert_inputs_unchanged(submission.ppca_posterior, *model.args)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise AssertionError(f"ppca_posterior must return a pair (mean, cov), got {type(result).__name__}")
        mean, cov = exact_posterior(model)
        assert_shape(result[0], (k,), name=f"ppca_posterior: the mean, case {i}")
        assert_shape(result[1], (k, k), name=f"ppca_posterior: the covariance, case {i}")
        assert_close(result[0], mean, rtol=1e-8, atol=1e-10, name=f"ppca_posterior: the mean, case {i}")
        assert_close(result[1], cov, rtol=1e-8, atol=1e-10, name=f"ppca_posterior: the covariance, case {i}")


@pytest.mark.question("ppca")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.1", "R5.3")
def test_elbo_gaussian_random_q(submission, reference, elbo_tools, rng):
    for i in range(3):
        model = elbo_tools.ppca_model(rng)
        k = model.W.shape[1]
        m, S = rng.normal(size=k), random_covariance(rng, k)
        value = assert_float(assert_inputs_unchanged(submission.elbo_gaussian, *model.args, m, S), "elbo_gaussian")
        assert_close(value, reference.elbo_gaussian(*model.args, m, S), rtol=1e-10, atol=1e-10,
                     name=f"elbo_gaussian, case {i}")


@pytest.mark.question("ppca")
@pytest.mark.points(4)
@pytest.mark.requirement("R5.3")
def test_bound_tight_at_the_posterior_and_strict_elsewhere(submission, elbo_tools, rng):
    for i in range(3):
        model = elbo_tools.ppca_model(rng)
        k = model.W.shape[1]
        log_px = exact_log_likelihood(model)
        post_mean, post_cov = exact_posterior(model)
        assert_close(submission.elbo_gaussian(*model.args, post_mean, post_cov), log_px, rtol=1e-10, atol=1e-10,
                     name=f"elbo_gaussian at q = p(z|x), case {i} (should equal log p(x))")
        others = {
            "a shifted mean": (post_mean + 0.05 * rng.normal(size=k), post_cov),
            "a scaled covariance": (post_mean, post_cov * rng.uniform(1.2, 2.0)),
            "a diagonal covariance": (post_mean, np.diag(np.diag(post_cov)) * rng.uniform(0.5, 0.9)),
            "a random q": (rng.normal(size=k), random_covariance(rng, k)),
        }
        for name, (m, S) in others.items():
            value = float(as_array(submission.elbo_gaussian(*model.args, m, S)))
            assert value < log_px, f"elbo_gaussian at q with {name} is {value}, not below log p(x) = {log_px} (case {i})"
            assert_close(log_px - value, gaussian_kl(m, S, post_mean, post_cov), rtol=1e-6, atol=1e-9,
                         name=f"log p(x) - ELBO at q with {name}, case {i} (should be KL(q || p(z|x)))")

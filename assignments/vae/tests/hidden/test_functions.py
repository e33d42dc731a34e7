"""The pieces of the ELBO on fresh random inputs: the KL term against torch.distributions, the
reparameterised sample (values, moments, and whether gradients can reach mu and logvar), and
the negative ELBO against PyTorch's own binary cross-entropy."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from grader.checks import assert_close, assert_inputs_unchanged

kl_question = pytest.mark.question("kl")
reparameterize_question = pytest.mark.question("reparameterize")
elbo_question = pytest.mark.question("negative_elbo")


def gaussian(rng, n=None, d=None):
    """A batch of posterior parameters (float64): mu and logvar of shape (n, d)."""
    n = n or int(rng.integers(2, 40))
    d = d or int(rng.integers(1, 12))
    mu = torch.tensor(rng.normal(0.0, 1.5, (n, d)))
    logvar = torch.tensor(rng.uniform(-5.0, 2.0, (n, d)))
    return mu, logvar


def torch_kl(mu, logvar):
    q = Normal(mu, torch.exp(0.5 * logvar))
    return kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=1).numpy()


def torch_negative_elbo(x, logits, mu, logvar):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    return float((reconstruction + torch.tensor(torch_kl(mu, logvar))).mean())


def batch(rng, n=None, d=None, scale=3.0):
    """Images x in [0, 1] (some pixels exactly 0 or 1), logits, mu and logvar, float64."""
    mu, logvar = gaussian(rng, n, d)
    n = len(mu)
    x = rng.random((n, 64))
    x[rng.random((n, 64)) < 0.3] = 0.0
    x[rng.random((n, 64)) < 0.1] = 1.0
    return torch.tensor(x), torch.tensor(rng.normal(0.0, scale, (n, 64))), mu, logvar


def in_float64(value, name):
    """The conventions: functions return torch tensors computed in the type they are given (float64 here)."""
    assert isinstance(value, torch.Tensor), f"{name} should return a torch tensor, got {type(value).__name__}"
    assert value.dtype == torch.float64, f"{name} was given float64 tensors but returned {value.dtype}"
    return value


# ---------------------------------------------------------------------------------------- KL

@kl_question
@pytest.mark.points(3)
@pytest.mark.requirement("R0.1", "R0.4", "R2.3")
def test_kl_matches_torch_distributions(submission, vae, rng):
    mu, logvar = gaussian(rng)
    got = vae.as_array(in_float64(submission.kl_diag_gaussian(mu, logvar), "kl_diag_gaussian(mu, logvar)"),
                       "kl_diag_gaussian(mu, logvar)")
    assert got.shape == (len(mu),), f"one KL value per row: expected shape ({len(mu)},), got {got.shape}"
    assert_close(got, torch_kl(mu, logvar), rtol=1e-7, atol=1e-9, name="kl_diag_gaussian(mu, logvar)")


@kl_question
@pytest.mark.points(2)
@pytest.mark.requirement("R0.4", "R2.3")
def test_kl_matches_formula_in_float32(submission, vae, rng):
    mu, logvar = gaussian(rng, n=int(rng.integers(50, 200)), d=int(rng.integers(2, 20)))
    got = vae.as_array(submission.kl_diag_gaussian(mu.float(), logvar.float()), "kl_diag_gaussian in float32")
    expected = vae.kl(mu.float().double().numpy(), logvar.float().double().numpy())
    assert_close(got, expected, rtol=1e-4, atol=1e-4, name="kl_diag_gaussian(mu, logvar) in float32")


@kl_question
@pytest.mark.points(2)
@pytest.mark.requirement("R2.3")
def test_kl_is_zero_only_at_the_prior(submission, vae, rng):
    n, d = int(rng.integers(2, 10)), int(rng.integers(1, 8))
    zero = vae.as_array(submission.kl_diag_gaussian(torch.zeros(n, d), torch.zeros(n, d)), "KL of N(0, I) to itself")
    assert_close(zero, np.zeros(n), atol=1e-7, name="KL of N(0, I) to itself")
    mu, logvar = gaussian(rng, n, d)
    got = vae.as_array(submission.kl_diag_gaussian(mu, logvar), "kl_diag_gaussian(mu, logvar)")
    assert (got > 0).all(), "a KL divergence between different Gaussians is positive"


@kl_question
@pytest.mark.points(1)
@pytest.mark.requirement("R0.6")
def test_kl_leaves_its_inputs_alone(submission, rng):
    mu, logvar = gaussian(rng)
    assert_inputs_unchanged(submission.kl_diag_gaussian, mu, logvar)


# ---------------------------------------------------------------------------- reparameterize

@reparameterize_question
@pytest.mark.points(2)
@pytest.mark.requirement("R0.4", "R2.1")
def test_reparameterize_values(submission, vae, rng):
    mu, logvar = gaussian(rng)
    eps = torch.tensor(rng.standard_normal(mu.shape))
    got = vae.as_array(in_float64(submission.reparameterize(mu, logvar, eps), "reparameterize(mu, logvar, eps)"),
                       "reparameterize(mu, logvar, eps)")
    expected = (mu + torch.exp(0.5 * logvar) * eps).numpy()
    assert_close(got, expected, rtol=1e-7, atol=1e-9, name="reparameterize(mu, logvar, eps)")


@reparameterize_question
@pytest.mark.points(2)
@pytest.mark.requirement("R2.1")
def test_reparameterized_samples_have_the_posterior_moments(submission, vae, rng):
    d = int(rng.integers(2, 6))
    mu = rng.normal(0.0, 2.0, d)
    logvar = rng.uniform(-3.0, 2.0, d)
    n = 20000
    eps = torch.tensor(rng.standard_normal((n, d)))
    z = vae.as_array(submission.reparameterize(torch.tensor(np.tile(mu, (n, 1))), torch.tensor(np.tile(logvar, (n, 1))), eps),
                     "reparameterize(mu, logvar, eps)")
    sigma = np.exp(logvar / 2)
    error = np.abs(z.mean(axis=0) - mu) / (sigma / np.sqrt(n))
    assert (error < 5).all(), "the samples' mean should be mu (off by more than 5 standard errors)"
    ratio = z.var(axis=0) / np.exp(logvar)
    assert (np.abs(ratio - 1) < 5 * np.sqrt(2 / n)).all(), (
        "the samples' variance should be exp(logvar); got these ratios to it: " + ", ".join(f"{r:.3g}" for r in ratio))


@reparameterize_question
@pytest.mark.points(4)
@pytest.mark.requirement("R2.2")
def test_gradients_can_reach_mu_and_logvar(submission, vae, rng):
    # The graph cannot cross the sandbox, but a tensor's requires_grad flag does: a result that
    # does not require grad when mu (or logvar) does was cut off from it, so no gradient reaches the encoder.
    mu, logvar = gaussian(rng)
    eps = torch.tensor(rng.standard_normal(mu.shape))
    for name, m, v in (("mu", mu.clone().requires_grad_(), logvar), ("logvar", mu, logvar.clone().requires_grad_())):
        z = submission.reparameterize(m, v, eps)
        assert isinstance(z, torch.Tensor), f"reparameterize should return a tensor, got {type(z).__name__}"
        assert z.requires_grad, (f"reparameterize(mu, logvar, eps) does not require grad when only {name} does: "
                                 f"no gradient can flow back to {name} (was something detached, or computed in numpy?)")
        assert_close(vae.as_array(z, "z"), (mu + torch.exp(0.5 * logvar) * eps).numpy(), rtol=1e-7, atol=1e-9,
                     name=f"reparameterize with {name} requiring grad")


@reparameterize_question
@pytest.mark.points(2)
@pytest.mark.requirement("R0.6")
def test_reparameterize_leaves_its_inputs_alone(submission, rng):
    mu, logvar = gaussian(rng)
    assert_inputs_unchanged(submission.reparameterize, mu, logvar, torch.tensor(rng.standard_normal(mu.shape)))


# ----------------------------------------------------------------------------- negative ELBO

@elbo_question
@pytest.mark.points(4)
@pytest.mark.requirement("R0.3", "R0.4", "R2.5")
def test_negative_elbo_matches_torch(submission, vae, rng):
    x, logits, mu, logvar = batch(rng)
    value = in_float64(submission.negative_elbo(x, logits, mu, logvar), "negative_elbo(x, logits, mu, logvar)")
    assert value.dim() == 0, f"negative_elbo should return a 0-d tensor (L.backward() needs one), got shape {tuple(value.shape)}"
    got = vae.as_float(value, "negative_elbo(x, logits, mu, logvar)")
    assert_close(got, torch_negative_elbo(x, logits, mu, logvar), rtol=1e-7, name="negative_elbo(x, logits, mu, logvar)")


@elbo_question
@pytest.mark.points(3)
@pytest.mark.requirement("R2.4")
def test_negative_elbo_with_large_logits(submission, vae, rng):
    x, logits, mu, logvar = batch(rng, scale=200.0)  # float32 sigmoids of these round to 0 or 1
    x, logits, mu, logvar = x.float(), logits.float(), mu.float(), logvar.float()
    got = vae.as_float(submission.negative_elbo(x, logits, mu, logvar), "negative_elbo with logits around 200")
    assert np.isfinite(got), "negative_elbo is not finite for large logits: compute the BCE from the logits"
    expected = torch_negative_elbo(x.double(), logits.double(), mu.double(), logvar.double())
    assert_close(got, expected, rtol=1e-4, name="negative_elbo with logits around 200")


@elbo_question
@pytest.mark.points(3)
@pytest.mark.requirement("R0.3", "R2.6")
def test_negative_elbo_is_a_mean_over_the_batch(submission, vae, rng):
    x, logits, mu, logvar = batch(rng)
    one = vae.as_float(submission.negative_elbo(x, logits, mu, logvar), "negative_elbo of a batch")
    twice = vae.as_float(submission.negative_elbo(*(torch.cat([t, t]) for t in (x, logits, mu, logvar))),
                         "negative_elbo of the batch stacked twice")
    assert_close(twice, one, rtol=1e-7, name="negative_elbo of a batch stacked on itself (a mean does not change)")
    first = vae.as_float(submission.negative_elbo(x[:1], logits[:1], mu[:1], logvar[:1]), "negative_elbo of one image")
    assert_close(first, torch_negative_elbo(x[:1], logits[:1], mu[:1], logvar[:1]), rtol=1e-7,
                 name="negative_elbo of one image (the sum over its 64 pixels plus its KL)")


@elbo_question
@pytest.mark.points(2)
@pytest.mark.requirement("R0.6")
def test_negative_elbo_leaves_its_inputs_alone(submission, rng):
    assert_inputs_unchanged(submission.negative_elbo, *batch(rng))

"""Public tests: small cases you can check by hand, and a short training run. The hidden tests
use random inputs, compare with torch.distributions, check gradients can flow, and train for
the full number of epochs, judging the model on held-out digits."""

import math

import numpy as np
import pytest
import torch

from grader.checks import assert_close

EPOCHS = 3


@pytest.fixture(scope="module")
def short_run(submission, vae):
    x_train, _ = vae.digits()
    return submission.train(x_train, 0, epochs=EPOCHS, batch_size=64)


@pytest.mark.question("kl")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.3")
def test_kl_by_hand(submission, vae):
    mu = torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [0.0, 0.0], [math.log(2.0), 0.0]])
    # row 0 is the prior itself; row 1: (1 + 4) / 2; row 2: (2 - 1 - log 2) / 2
    expected = [0.0, 2.5, (1 - math.log(2.0)) / 2]
    got = vae.as_array(submission.kl_diag_gaussian(mu, logvar), "kl_diag_gaussian(mu, logvar)")
    assert got.shape == (3,), f"one KL value per row: expected shape (3,), got {got.shape}"
    assert_close(got, expected, rtol=1e-5, atol=1e-6, name="kl_diag_gaussian(mu, logvar)")


@pytest.mark.question("reparameterize")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.1")
def test_reparameterize_by_hand(submission, vae):
    mu = torch.tensor([[1.0, -1.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])  # sigma = 1 and 2
    eps = torch.tensor([[0.5, 0.5]])
    got = vae.as_array(submission.reparameterize(mu, logvar, eps), "reparameterize(mu, logvar, eps)")
    assert_close(got, [[1.5, 0.0]], rtol=1e-5, atol=1e-6, name="reparameterize(mu, logvar, eps)")


@pytest.mark.question("negative_elbo")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.5")
def test_negative_elbo_at_zero_logits(submission, vae):
    # Logits 0 mean p = 1/2 for every pixel: each image costs 64 log 2 whatever x is, and the
    # KL term is 0 for q = N(0, I).
    x = torch.rand(5, 64, generator=torch.Generator().manual_seed(0))
    logits, mu, logvar = torch.zeros(5, 64), torch.zeros(5, 3), torch.zeros(5, 3)
    got = vae.as_float(submission.negative_elbo(x, logits, mu, logvar), "negative_elbo(x, logits, mu, logvar)")
    assert_close(got, 64 * math.log(2.0), rtol=1e-5, name="negative_elbo at zero logits and q = N(0, I)")


@pytest.mark.question("model")
@pytest.mark.points(2)
@pytest.mark.requirement("R4.1")
def test_model_shapes(submission, vae, short_run):
    model, _ = short_run
    _, x_test = vae.digits()
    mu, _ = vae.encode(model, x_test[:10])
    vae.decode(model, np.zeros((4, mu.shape[1])))
    samples = vae.as_array(model.sample(6, 0), "model.sample(6, 0)")
    assert samples.shape == (6, 64), f"model.sample(6, 0) should have shape (6, 64), got {samples.shape}"
    assert samples.min() >= 0 and samples.max() <= 1, "model.sample should return probabilities in [0, 1]"


@pytest.mark.question("training")
@pytest.mark.points(3)
@pytest.mark.requirement("R5.1")
def test_short_training_run(vae, short_run):
    bounds = vae.bounds_of(short_run[1], EPOCHS)
    assert all(b < 0 for b in bounds), "the ELBO of these images is negative: return the bound, not the loss"
    assert bounds[-1] > bounds[0], f"the lower bound should rise over {EPOCHS} epochs, got {bounds.round(2).tolist()}"

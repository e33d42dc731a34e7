"""The trained model, judged on held-out digits by figures computed here from what it returns:
its encoder's means and log-variances and its decoder's probabilities."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from grader.checks import assert_close

model_question = pytest.mark.question("model")
training_question = pytest.mark.question("training")

SEED = 2024
EPOCHS, BATCH_SIZE = 40, 64  # the handout's defaults, passed as arguments: the tests never rely on a default
# Measured with the reference (seeds 0, 1, 2 and 2024): held-out negative ELBO 24.46 to 24.66 nats per
# image; the per-pixel-mean baseline (a decoder that ignores z, KL 0) scores 27.08. A threshold halfway.
THRESHOLD = 25.9
MIN_KL = 1.0          # nats per image on the held-out digits; the reference has about 3.1, a collapsed model 0.0
MIN_SPREAD = 0.05     # mean over pixels of the std across images: the reference's about 0.15, a collapsed model's 0.01
BOUND_TOLERANCE = 1.0  # nats: the last epoch's reported bound against the ELBO measured here on the training
#                        images (the reference: within 0.06; sigma = exp(logvar): 2.7 off; other scalings far more)
EPOCH_TOLERANCE = 1.0  # nats: an epoch's bound at lr = 0 against the images' mean ELBO (the reference: within 0.3;
#                        the last batch's value instead: 2.4 to 5.5 off, half the gap between the two kinds of image)


@pytest.fixture(scope="module")
def run(submission, vae):
    x_train, _ = vae.digits()
    model, bounds = submission.train(x_train, SEED, epochs=EPOCHS, batch_size=BATCH_SIZE)
    return model, bounds


def image_grid(images, rows, title):
    """One figure showing the (k, 64) images as a grid of 8x8 tiles with `rows` rows."""
    columns = int(np.ceil(len(images) / rows))
    tiles = np.ones((rows * columns, 8, 8))
    tiles[: len(images)] = np.clip(images, 0, 1).reshape(-1, 8, 8)
    grid = np.pad(tiles, ((0, 0), (1, 1), (1, 1)), constant_values=0.5).reshape(rows, columns, 10, 10)
    figure = Figure(figsize=(columns * 0.5, rows * 0.5 + 0.4))
    axes = figure.add_subplot()
    axes.imshow(grid.transpose(0, 2, 1, 3).reshape(rows * 10, columns * 10), cmap="gray_r", vmin=0, vmax=1)
    axes.set_axis_off()
    axes.set_title(title)
    return figure


# -------------------------------------------------------------------------------------- model

@model_question
@pytest.mark.points(2)
@pytest.mark.requirement("R0.5")
def test_encode_is_deterministic(vae, run, rng):
    model, _ = run
    _, x_test = vae.digits()
    x = x_test[rng.choice(len(x_test), size=int(rng.integers(5, 50)), replace=False)]
    mu, logvar = vae.encode(model, x)
    mu_again, logvar_again = vae.encode(model, x)
    assert_close(mu_again, mu, rtol=1e-6, atol=1e-6, name="mu of the same images encoded twice")
    assert_close(logvar_again, logvar, rtol=1e-6, atol=1e-6, name="logvar of the same images encoded twice")


@model_question
@pytest.mark.points(2)
@pytest.mark.requirement("R0.5")
def test_encode_treats_images_independently(vae, run, rng):
    model, _ = run
    _, x_test = vae.digits()
    x = x_test[:40]
    order = rng.permutation(len(x))
    mu, logvar = vae.encode(model, x)
    mu_shuffled, logvar_shuffled = vae.encode(model, x[order])
    assert_close(mu_shuffled, mu[order], rtol=1e-5, atol=1e-5, name="mu of the images in another order")
    assert_close(logvar_shuffled, logvar[order], rtol=1e-5, atol=1e-5, name="logvar of the images in another order")


@model_question
@pytest.mark.points(2)
@pytest.mark.requirement("R0.2")
def test_decode_gives_probabilities(vae, run, rng):
    model, _ = run
    _, x_test = vae.digits()
    d = vae.encode(model, x_test[:2])[0].shape[1]
    z = rng.normal(0.0, 3.0, (int(rng.integers(2, 30)), d))  # far from the prior too
    p = vae.decode(model, z)
    p_again = vae.decode(model, z)
    assert_close(p_again, p, rtol=1e-6, atol=1e-7, name="decode of the same z twice")


@model_question
@pytest.mark.points(1)
@pytest.mark.requirement("R4.3", "R4.4")
def test_sample_shape_range_and_seed(vae, run, rng):
    model, _ = run
    n, seed = int(rng.integers(3, 40)), int(rng.integers(2**31))
    first = vae.as_array(model.sample(n, seed), f"model.sample({n}, seed)")
    assert first.shape == (n, 64), f"model.sample({n}, seed) should have shape ({n}, 64), got {first.shape}"
    assert first.min() >= 0 and first.max() <= 1, "model.sample should return probabilities in [0, 1]"
    assert np.mean((first > 0) & (first < 1)) > 0.5, (
        "model.sample returned binary pixels: it should return the decoder's probabilities decode(z), not draws")
    again = vae.as_array(model.sample(n, seed), f"model.sample({n}, seed) again")
    assert_close(again, first, rtol=0, atol=1e-7, name="model.sample with the same seed twice")
    other = vae.as_array(model.sample(n, seed + 1), f"model.sample({n}, seed + 1)")
    assert not np.allclose(other, first), "model.sample gave the same images for two different seeds"


@model_question
@pytest.mark.points(1)
@pytest.mark.requirement("R4.2")
def test_sample_draws_with_a_generator_of_its_own(submission, vae, run, rng):
    """(9): sampling neither resets nor advances torch's global random state, which a new model's initial weights
    come from. A sample that seeds the global state (torch.manual_seed(seed)) makes two models built each after a
    sample with the same seed identical."""
    model, _ = run
    _, x_test = vae.digits()
    seed, codes = int(rng.integers(2**31)), []
    for _ in range(2):
        model.sample(5, seed)
        codes.append(vae.encode(submission.VAE(), x_test[:8], name="VAE().encode(x)")[0])
    assert not np.array_equal(codes[0], codes[1]), (
        "two fresh VAE() built each after model.sample(n, seed) with the same seed are the same model: sample resets "
        "torch's global random state; draw z with a torch.Generator of its own (9)")


@model_question
@pytest.mark.points(2)
@pytest.mark.requirement("R4.1")
def test_architecture_of_section_4(vae, run, rng):
    """8 latent dimensions, and a ReLU after each hidden layer's linear map: with the ReLU before it instead,
    the encoder is affine on images (pixels are >= 0) and the decoder on codes >= 0, so that
    f(a) + f(b) = f(a + b) + f(0) would hold there."""
    model, _ = run
    _, x_test = vae.digits()
    mu, _ = vae.encode(model, x_test[:4])
    assert mu.shape[1] == 8, f"the code z should have 8 dimensions (section 4), got {mu.shape[1]}"
    a, b = x_test[rng.choice(len(x_test), size=2 * 20, replace=False)].reshape(2, 20, 64)
    mus = [vae.encode(model, x)[0] for x in (a, b, a + b, 0 * a)]
    assert np.abs(mus[0] + mus[1] - mus[2] - mus[3]).max() > 1e-2, (
        "the encoder's mu is an affine function of the image: the hidden layer needs its ReLU after the linear map")
    z_a, z_b = np.abs(rng.normal(size=(2, 20, 8)))
    logits = [vae.as_array(model.decode_logits(torch.tensor(z, dtype=torch.float32)), "model.decode_logits(z)")
              for z in (z_a, z_b, z_a + z_b, 0 * z_a)]
    assert np.abs(logits[0] + logits[1] - logits[2] - logits[3]).max() > 1e-2, (
        "the decoder's logits are an affine function of z >= 0: the hidden layer needs its ReLU after the linear map")


# ----------------------------------------------------------------------------------- training

@training_question
@pytest.mark.points(4)
@pytest.mark.requirement("R5.1")
def test_lower_bound_rises(vae, run, attach):
    bounds = vae.bounds_of(run[1], EPOCHS)
    figure = Figure(figsize=(5, 3))
    axes = figure.add_subplot()
    axes.plot(np.arange(1, EPOCHS + 1), bounds, marker=".")
    axes.set_xlabel("epoch")
    axes.set_ylabel("ELBO per image (nats)")
    attach("The lower bound per epoch, as train returned it", figure)
    assert (bounds < 0).all(), "the ELBO of these images is negative: return the bound, not the loss"
    assert bounds[-5:].mean() > bounds[:5].mean() + 2.0, "the lower bound should rise over training"
    assert bounds[-1] > bounds[0], "the lower bound of the last epoch should be above that of the first"


@training_question
@pytest.mark.points(3)
@pytest.mark.requirement("R0.7", "R5.5")
def test_reported_bound_is_the_elbo(vae, run):
    model, bounds = run
    bounds = vae.bounds_of(bounds, EPOCHS)
    x_train, _ = vae.digits()
    reconstruction, kl = vae.negative_elbo_terms(model, x_train, seed=SEED)
    measured = -float((reconstruction + kl).mean())
    assert abs(bounds[-1] - measured) < BOUND_TOLERANCE, (
        f"the last epoch's bound, {bounds[-1]:.2f}, should be close to the ELBO of the trained model on the training "
        f"images, {measured:.2f} nats per image (reconstruction summed over pixels, plus KL, averaged over images)")


def images_far_apart(submission, vae, seed):
    """64 images, half with the pixels on where the seed's initial decoder (at z = 0) gives them a positive logit,
    half the opposite: under that model their reconstruction terms differ by several nats."""
    initial, _ = submission.train(vae.digits()[0][:8], seed, epochs=1, batch_size=8, lr=0.0)
    on = vae.as_array(initial.decode_logits(torch.zeros(1, 8)), "model.decode_logits(z)")[0] > 0
    return torch.tensor(np.repeat(np.stack([on, ~on]), 32, axis=0), dtype=torch.float32)


@training_question
@pytest.mark.points(2)
@pytest.mark.requirement("R5.2")
def test_bound_averages_the_epoch(submission, vae, rng):
    """(8): the bound of an epoch is the average over all its batches. With lr = 0 the model stays as built, so
    each epoch's bound estimates the mean ELBO of the images under it; batches of one image, from two kinds whose
    bounds differ by several nats, tell the average from the last batch's value."""
    seed = int(rng.integers(2**31))
    x = images_far_apart(submission, vae, seed)
    model, bounds = submission.train(x, seed, epochs=3, batch_size=1, lr=0.0)
    bounds = vae.bounds_of(bounds, 3)
    reconstruction, kl = vae.negative_elbo_terms(model, x, seed=seed, draws=32)
    per_image = -(reconstruction + kl)
    assert np.abs(bounds - per_image.mean()).max() < EPOCH_TOLERANCE, (
        f"with lr = 0 and batches of one image, the bounds are {np.round(bounds, 2).tolist()}, but the average ELBO "
        f"of the epoch's images is {per_image.mean():.2f} (from {per_image.min():.2f} to {per_image.max():.2f} per "
        "image): bounds[e] should average -L over every batch of the epoch, weighted by its size (8)")


def kinks(model, vae, a, b, points=401):
    """Where mu(x) bends along the segment from image a to image b: the ReLU units of the encoder's hidden layer
    switching on or off (the second differences of mu on a grid, above float32 rounding)."""
    t = np.linspace(0.0, 1.0, points)[:, None]
    line = torch.tensor(a.numpy() * (1 - t) + b.numpy() * t, dtype=torch.float32)
    mu = vae.encode(model, line, name="model.encode(x) along a segment")[0]
    bend = np.abs(mu[2:] - 2 * mu[1:-1] + mu[:-2]).max(axis=1)
    return set(np.flatnonzero(bend > 1e-5 * np.abs(mu).max()).tolist())  # rounding: below 5e-7 max|mu|


@training_question
@pytest.mark.points(1)
@pytest.mark.requirement("R1.1")
def test_training_reaches_every_layer_of_the_encoder(submission, vae, run, rng):
    """Training updates the encoder and the decoder together. The hidden layer of the encoder is trained: the
    places where mu bends along segments between digits (its ReLUs switching) move away from those of the model
    train starts from (lr = 0 keeps it); and forward's mu and logvar carry a gradient (neither head cut off)."""
    model, _ = run
    x_train, x_test = vae.digits()
    initial, _ = submission.train(x_train[:64], SEED, epochs=1, batch_size=64, lr=0.0)
    shared, total = 0, 0
    for i, j in rng.choice(len(x_test), size=(4, 2), replace=False):
        before, after = kinks(initial, vae, x_test[i], x_test[j]), kinks(model, vae, x_test[i], x_test[j])
        shared, total = shared + len(before & after), total + len(before | after)
    assert total > 0 and shared <= 0.5 * total, (
        f"the encoder's hidden layer did not change in training: {shared} of the {total} places where mu bends along "
        "segments between digits are where they were in the model train started from (is its output detached?)")
    x = x_test[:5]
    out = model.forward(x, torch.zeros(5, vae.encode(model, x)[0].shape[1]))
    assert isinstance(out, (tuple, list)) and len(out) == 3, "forward(x, eps) should return (logits, mu, logvar)"
    for name, value in zip(("logits", "mu", "logvar"), out):
        assert isinstance(value, torch.Tensor) and value.requires_grad, (
            f"the {name} that forward(x, eps) returns carries no gradient: the loss cannot train what computes it")


@training_question
@pytest.mark.points(7)
@pytest.mark.requirement("R5.3")
def test_heldout_negative_elbo(vae, run, attach):
    model, _ = run
    x_train, x_test = vae.digits()
    reconstruction, kl = vae.negative_elbo_terms(model, x_test, seed=SEED + 1)
    value = float((reconstruction + kl).mean())
    baseline = float(vae.bce(x_test.double().numpy(), x_train.double().numpy().mean(axis=0, keepdims=True)).mean())
    mu, _ = vae.encode(model, x_test[:12])
    attach("Held-out digits (top) and their reconstructions decode(mu) (bottom)",
           image_grid(np.concatenate([x_test[:12].numpy(), vae.decode(model, mu)]), 2, "held-out digits"))
    assert value < THRESHOLD, (
        f"the held-out negative ELBO is {value:.2f} nats per image (reconstruction {reconstruction.mean():.2f} + KL "
        f"{kl.mean():.2f}); it should be below {THRESHOLD}. A model that ignores its input scores {baseline:.2f}.")


@training_question
@pytest.mark.points(6)
@pytest.mark.requirement("R5.4")
def test_no_posterior_collapse(vae, run):
    model, _ = run
    _, x_test = vae.digits()
    mu, logvar = vae.encode(model, x_test)
    kl = vae.kl(mu, logvar).mean()
    assert kl > MIN_KL, (f"the mean KL term on held-out digits is {kl:.3f} nats: q(z|x) is (almost) the prior for "
                         "every image, so z carries no information about x (posterior collapse)")
    spread = vae.decode(model, mu).std(axis=0).mean()
    assert spread > MIN_SPREAD, "the reconstructions of different digits are (almost) all the same image"


@training_question
@pytest.mark.points(2)
@pytest.mark.requirement("R5.6")
def test_samples_vary(vae, run, attach):
    model, _ = run
    samples = vae.as_array(model.sample(64, SEED), "model.sample(64, seed)")
    assert samples.shape == (64, 64), f"model.sample(64, seed) should have shape (64, 64), got {samples.shape}"
    attach("64 samples from the prior, decoded (probabilities)", image_grid(np.clip(samples, 0, 1), 8, "samples"))
    assert samples.std(axis=0).mean() > MIN_SPREAD, "the samples are (almost) all the same image"


@training_question
@pytest.mark.points(4)
@pytest.mark.requirement("R5.7")
def test_training_is_reproducible(submission, vae, rng):
    x_train, x_test = vae.digits()
    x = x_train[:256]
    seed = int(rng.integers(2**31))
    first, _ = submission.train(x, seed, epochs=2, batch_size=BATCH_SIZE)
    again, _ = submission.train(x, seed, epochs=2, batch_size=BATCH_SIZE)
    other, _ = submission.train(x, seed + 1, epochs=2, batch_size=BATCH_SIZE)
    mu = vae.encode(first, x_test[:20])[0]
    assert_close(vae.encode(again, x_test[:20])[0], mu, rtol=1e-5, atol=1e-6, name="mu after training twice with one seed")
    assert not np.allclose(vae.encode(other, x_test[:20])[0], mu), "two seeds gave the same model"

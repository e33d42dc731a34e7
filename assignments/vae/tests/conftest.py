"""Helpers shared by the public and hidden tests of vae.

The data (scikit-learn's bundled 8x8 digits, pixels divided by 16, a fixed stratified
80/20 split, both from grader.datasets: scikit-learn itself is not imported) is loaded here, in the trusted process, and passed to the submission as
float32 tensors. Every quality figure is computed here too, in float64, from what the
model returns (means, log-variances, decoder probabilities), never from a number the
submission reports about itself.
"""

from functools import lru_cache
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from grader.datasets import digits as load_digits, stratified_split

N_PIXELS = 64
CLIP = 1e-6  # probabilities are clipped to [CLIP, 1 - CLIP] before taking logs (float32 sigmoids reach 0 and 1)


@lru_cache(maxsize=1)
def _split():
    pixels, labels = load_digits()
    x_train, x_test, _, _ = stratified_split((pixels / 16.0).astype(np.float32), labels, 0.2, np.random.default_rng(0))
    return x_train, x_test


def digits():
    """(x_train, x_test): float32 tensors of shape (1438, 64) and (359, 64), values in [0, 1]."""
    x_train, x_test = _split()
    return torch.from_numpy(x_train.copy()), torch.from_numpy(x_test.copy())


def as_array(value, name):
    """A returned tensor (or array) as a float64 numpy array; fails clearly on anything else."""
    if isinstance(value, torch.Tensor):
        return value.detach().double().numpy()
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        return value.astype(np.float64)
    raise AssertionError(f"{name} should be a tensor, got {type(value).__name__}")


def as_float(value, name):
    """A returned scalar (a 0-d or one-element tensor, or a number) as a Python float."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    array = as_array(value, name)
    assert array.size == 1, f"{name} should be a scalar, got an array of shape {array.shape}"
    return float(array.reshape(()))


def bounds_of(value, epochs):
    """The lower bounds `train` returned, one per epoch, as a float64 array."""
    if isinstance(value, (list, tuple)):
        assert all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in value), (
            "train should return the bounds as a list of floats")
        array = np.asarray(value, dtype=np.float64)
    else:
        array = as_array(value, "the bounds train returned")
    assert array.shape == (epochs,), f"train should return one bound per epoch ({epochs}), got shape {array.shape}"
    assert np.isfinite(array).all(), "the bounds train returned should be finite numbers"
    return array


def bce(x, p):
    """Per-image Bernoulli negative log-likelihood, summed over pixels: equation (6) from probabilities."""
    p = np.clip(p, CLIP, 1 - CLIP)
    return -(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=1)


def kl(mu, logvar):
    """Per-image KL(N(mu, diag(exp(logvar))) || N(0, I)): equation (5)."""
    return 0.5 * (mu**2 + np.exp(logvar) - 1 - logvar).sum(axis=1)


def encode(model, x, name="model.encode(x)"):
    """mu and logvar of q(z|x) as float64 arrays, checked for shape."""
    out = model.encode(x)
    assert isinstance(out, (tuple, list)) and len(out) == 2, f"{name} should return (mu, logvar)"
    mu, logvar = as_array(out[0], f"{name}[0] (mu)"), as_array(out[1], f"{name}[1] (logvar)")
    assert mu.ndim == 2 and mu.shape[0] == len(x), f"mu should have shape (N, d) with N = {len(x)}, got {mu.shape}"
    assert logvar.shape == mu.shape, f"logvar should have the shape of mu {mu.shape}, got {logvar.shape}"
    assert np.isfinite(mu).all() and np.isfinite(logvar).all(), f"{name} returned values that are not finite"
    return mu, logvar


def decode(model, z, name="model.decode(z)"):
    """Decoder probabilities as a float64 array, checked for shape and range."""
    p = as_array(model.decode(torch.tensor(z, dtype=torch.float32)), name)
    assert p.shape == (len(z), N_PIXELS), f"{name} should have shape ({len(z)}, {N_PIXELS}), got {p.shape}"
    assert np.isfinite(p).all(), f"{name} returned values that are not finite"
    assert p.min() >= 0 and p.max() <= 1, (
        f"{name} should return probabilities in [0, 1], got values in [{p.min():.3g}, {p.max():.3g}]")
    return p


def negative_elbo_terms(model, x, seed, draws=4):
    """Per-image reconstruction term (averaged over `draws` samples z = mu + sigma * eps, eps from
    `seed`) and KL term of equation (7), computed here from the model's encoder and decoder."""
    mu, logvar = encode(model, x)
    rng = np.random.default_rng(seed)
    x64 = x.double().numpy()
    reconstruction = np.mean([bce(x64, decode(model, mu + np.exp(logvar / 2) * rng.standard_normal(mu.shape)))
                              for _ in range(draws)], axis=0)
    return reconstruction, kl(mu, logvar)


@pytest.fixture(scope="session")
def vae():
    """The helpers above, for tests: `vae.digits()`, `vae.negative_elbo_terms(model, x, seed)`, ..."""
    return SimpleNamespace(digits=digits, as_array=as_array, as_float=as_float, bounds_of=bounds_of, bce=bce, kl=kl, encode=encode,
                           decode=decode, negative_elbo_terms=negative_elbo_terms, N_PIXELS=N_PIXELS)

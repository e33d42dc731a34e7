# %% [markdown]
# # A variational autoencoder on 8x8 digits
#
# Fill in every function below; `handout.md` has the equations (numbered as in the
# docstrings) and the conventions the tests follow:
#
# - a batch is stored as rows: `x` is `(N, 64)` with pixels in [0, 1], `mu`, `logvar`
#   and `z` are `(N, d)`;
# - the encoder returns the log-variance `logvar = log sigma^2`;
# - the decoder's network gives logits; `decode` returns their sigmoid, the probabilities;
# - the negative ELBO sums over the pixels and latent dimensions of an image and
#   averages over the images of the batch.
#
# Run the public tests with `grader check vae vae.ipynb`.

# %%
import torch
import torch.nn.functional as F
from torch import nn

N_PIXELS, N_HIDDEN, N_LATENT = 64, 128, 8
EPOCHS, BATCH_SIZE, LR = 40, 64, 2e-3

# %% [markdown]
# ## 1. The pieces of the objective
#
# Each takes and returns torch tensors, in the dtype it is given, and must not modify its
# arguments.

# %%
def kl_diag_gaussian(mu, logvar):
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) for every row, eq. (5): a tensor of shape (N,)."""
    raise NotImplementedError


def reparameterize(mu, logvar, eps):
    """z = mu + sigma * eps with sigma = exp(logvar / 2), eqs. (3) and (4); gradients must reach mu and logvar."""
    raise NotImplementedError


def negative_elbo(x, logits, mu, logvar):
    """Eqs. (6) and (7): BCE from the logits summed over pixels, plus the KL, averaged over the batch; a 0-d tensor."""
    raise NotImplementedError

# %% [markdown]
# ## 2. The model
#
# One hidden layer of `n_hidden` ReLU units in the encoder, two linear heads for `mu` and
# `logvar`, and one hidden layer of `n_hidden` ReLU units in the decoder, eqs. (1) and (2).

# %%
class VAE(nn.Module):
    def __init__(self, n_pixels=N_PIXELS, n_hidden=N_HIDDEN, n_latent=N_LATENT):
        super().__init__()
        self.n_latent = n_latent
        raise NotImplementedError  # build the layers

    def encode(self, x):
        """(mu, logvar) of q(z|x), both (N, n_latent), eq. (1)."""
        raise NotImplementedError

    def decode_logits(self, z):
        """The decoder's logits a, (N, n_pixels), eq. (2)."""
        raise NotImplementedError

    def decode(self, z):
        """The decoder's probabilities sigmoid(a), (N, n_pixels), eq. (2)."""
        raise NotImplementedError

    def forward(self, x, eps):
        """(logits, mu, logvar), with z = reparameterize(mu, logvar, eps)."""
        raise NotImplementedError

    def sample(self, n, seed):
        """decode(z) for n codes z ~ N(0, I) drawn from torch.Generator().manual_seed(seed), eq. (9)."""
        raise NotImplementedError

# %% [markdown]
# ## 3. Training

# %%
def train(x, seed, epochs=EPOCHS, batch_size=BATCH_SIZE, lr=LR):
    """Adam on the negative ELBO (7) in shuffled batches; returns (model, bounds), bounds[e] of eq. (8).

    Call torch.manual_seed(seed) before building the model.
    """
    raise NotImplementedError

# %% [markdown]
# ## Try it
#
# Run this cell yourself once the functions work. The grader does not run it: its first
# line skips it in a notebook, and the `__name__` test skips it in a `.py` module.
# (Instructors: to try MNIST instead, load a local copy here, resize it to 8x8 and scale it
# to [0, 1]; the grading never uses it.)

# %%
# grader: skip
if __name__ == "__main__":
    import matplotlib.pyplot as plt
    import numpy as np
    from grader.datasets import digits, stratified_split

    pixels, labels = digits()
    x_train, x_test, _, _ = stratified_split((pixels / 16.0).astype("float32"), labels, 0.2, np.random.default_rng(0))
    x_train, x_test = torch.from_numpy(x_train), torch.from_numpy(x_test)
    model, bounds = train(x_train, seed=0)
    with torch.no_grad():
        mu, logvar = model.encode(x_test)
        eps = torch.randn_like(mu)
        print("held-out negative ELBO:", negative_elbo(x_test, model(x_test, eps)[0], mu, logvar).item())
        samples = model.sample(16, seed=0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    left.plot(range(1, len(bounds) + 1), bounds)
    left.set_xlabel("epoch")
    left.set_ylabel("ELBO per image (nats)")
    right.imshow(samples.reshape(4, 4, 8, 8).permute(0, 2, 1, 3).reshape(32, 32), cmap="gray_r")
    right.set_axis_off()
    plt.show()

# %% [markdown]
# ## Written question (graded by a TA)
#
# 1. Why can't we backpropagate through z drawn with torch.normal(mu, sigma), and how does
#    eq. (4) fix that? What are dz/dmu and dz/dlogvar?
# 2. What does the KL term do during training? What would the model become without it, and
#    what is posterior collapse? How would you recognise it in this assignment?
# 3. Plot your bounds and the held-out ELBO after training and describe the curve.
#
# Write your answer below the line `written:` (keep that line: it marks your answer for the TA).
#
# written:
# *Your answer here.*

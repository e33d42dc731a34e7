# %% [markdown]
# # A variational autoencoder on 8x8 digits: reference solution
#
# Equation numbers refer to `assignments/vae/handout.md`. Conventions: a batch is stored as
# rows (`x` is `(N, 64)` float32 in [0, 1]); the encoder gives the mean `mu` and the
# log-variance `logvar` of q(z|x), both `(N, d)`; the decoder gives Bernoulli logits `a`
# (and `decode` their sigmoid, the probabilities); the loss is the negative ELBO per image,
# summed over pixels and latent dimensions, averaged over the batch.

# %%
import torch
import torch.nn.functional as F
from torch import nn

N_PIXELS, N_HIDDEN, N_LATENT = 64, 128, 8  # the architecture of section 4
EPOCHS, BATCH_SIZE, LR = 40, 64, 2e-3      # the training of section 5

# %% [markdown]
# ## The pieces of the ELBO

# %%
def kl_diag_gaussian(mu, logvar):
    return 0.5 * torch.sum(mu**2 + torch.exp(logvar) - 1 - logvar, dim=-1)  # (5)


def reparameterize(mu, logvar, eps):
    sigma = torch.exp(0.5 * logvar)  # (3) sigma = exp(logvar / 2)
    return mu + sigma * eps  # (4)


def negative_elbo(x, logits, mu, logvar):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)  # (6)
    return torch.mean(reconstruction + kl_diag_gaussian(mu, logvar))  # (7)

# %% [markdown]
# ## The model

# %%
class VAE(nn.Module):
    def __init__(self, n_pixels=N_PIXELS, n_hidden=N_HIDDEN, n_latent=N_LATENT):
        super().__init__()
        self.n_latent = n_latent
        self.encoder = nn.Sequential(nn.Linear(n_pixels, n_hidden), nn.ReLU())
        self.to_mu = nn.Linear(n_hidden, n_latent)
        self.to_logvar = nn.Linear(n_hidden, n_latent)
        self.decoder = nn.Sequential(nn.Linear(n_latent, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_pixels))

    def encode(self, x):
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)  # (1)

    def decode_logits(self, z):
        return self.decoder(z)  # (2) the logits a

    def decode(self, z):
        return torch.sigmoid(self.decode_logits(z))  # (2) the probabilities p = sigmoid(a)

    def forward(self, x, eps):
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, eps)
        return self.decode_logits(z), mu, logvar

    @torch.no_grad()
    def sample(self, n, seed):
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.n_latent, generator=generator)  # (9) z ~ N(0, I)
        return self.decode(z)

# %% [markdown]
# ## Training with Adam

# %%
def train(x, seed, epochs=EPOCHS, batch_size=BATCH_SIZE, lr=LR):
    torch.manual_seed(seed)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    bounds = []
    for _ in range(epochs):
        order = torch.randperm(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            x_batch = x[order[start:start + batch_size]]
            eps = torch.randn(len(x_batch), model.n_latent)
            loss = negative_elbo(x_batch, *model(x_batch, eps))  # (7)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x_batch)
        bounds.append(-total / len(x))  # (8) the ELBO per image, averaged over the epoch
    return model, bounds

# %% [markdown]
# ## Written question: what a full answer says
#
# 1. `torch.normal(mu, sigma)` returns a number drawn by the generator; autograd treats
#    it as a constant (its gradient with respect to mu and sigma is zero), so the
#    reconstruction term cannot teach the encoder anything. With z = mu + sigma * eps and
#    eps drawn independently of the parameters, z is a differentiable function of them:
#    dz/dmu = 1 and dz/dlogvar = sigma * eps / 2 (elementwise). The expectation over eps
#    remains, and one sample of eps gives an unbiased estimate of the gradient.
# 2. The KL term pulls every q(z|x) towards the prior N(0, I), so that the codes the
#    decoder is trained on cover the region that sampling from the prior draws from.
#    Without it the encoder can shrink sigma towards 0 and spread the means out: a plain
#    autoencoder whose samples from the prior decode to poor images. Posterior collapse is
#    the opposite failure: q(z|x) equals the prior for every x (KL near 0), the decoder
#    ignores z and outputs the mean image. Here it shows as a held-out KL near 0,
#    reconstructions that all look alike, and a negative ELBO near the 27.2 of the
#    per-pixel-mean baseline.
# 3. The bound rises fast in the first epochs (from about -36 to -26 nats per image),
#    then levels off near -24.5; the held-out value (about -24.7) is close to the training
#    value, so the small model does not overfit at this size.

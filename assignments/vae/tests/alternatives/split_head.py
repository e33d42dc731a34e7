# Alternative: the encoder has ONE linear head of 2d outputs split into mu and logvar (the same
# function as two heads); the KL written with expm1 (mu^2 + expm1(logvar) - logvar); the
# reconstruction with F.softplus(a) - x a; sigma as sqrt(exp(logvar)); the epoch's bound as the
# sum of |B| L_B over batches divided by N at the end; a one-line model built from nn.Sequential.
import torch
import torch.nn.functional as F
from torch import nn


def kl_diag_gaussian(mu, logvar):
    return 0.5 * (mu.pow(2) + torch.expm1(logvar) - logvar).sum(dim=1)


def reparameterize(mu, logvar, eps):
    return mu + torch.sqrt(torch.exp(logvar)) * eps


def negative_elbo(x, logits, mu, logvar):
    recon = (F.softplus(logits) - x * logits).sum(dim=1)
    return (recon + kl_diag_gaussian(mu, logvar)).mean()


class VAE(nn.Module):
    def __init__(self, n_pixels=64, n_hidden=128, n_latent=8):
        super().__init__()
        self.n_latent = n_latent
        self.encoder = nn.Sequential(nn.Linear(n_pixels, n_hidden), nn.ReLU(), nn.Linear(n_hidden, 2 * n_latent))
        self.decoder = nn.Sequential(nn.Linear(n_latent, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_pixels))

    def encode(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z):
        return self.decoder(z)

    def decode(self, z):
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x, eps):
        mu, logvar = self.encode(x)
        return self.decode_logits(reparameterize(mu, logvar, eps)), mu, logvar

    def sample(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.n_latent, generator=g)
        with torch.no_grad():
            return self.decode(z)


def train(x, seed, epochs=40, batch_size=64, lr=2e-3):
    torch.manual_seed(seed)
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    bounds = []
    for _ in range(epochs):
        total = 0.0
        order = torch.randperm(n)
        for start in range(0, n, batch_size):
            xb = x[order[start:start + batch_size]]
            eps = torch.randn(xb.shape[0], model.n_latent)
            loss = negative_elbo(xb, *model(xb, eps))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]
        bounds.append(-total / n)
    return model, bounds


# Written question: z drawn by torch.normal has no gradient path to mu and sigma; with
# z = mu + sigma * eps, dz/dmu = 1 and dz/dlogvar = sigma * eps / 2. The KL pulls q(z|x) to the
# prior so that prior samples decode well; without it the model is a plain autoencoder. Posterior
# collapse: KL ~ 0, the decoder ignores z; seen as a held-out KL near zero and identical samples.

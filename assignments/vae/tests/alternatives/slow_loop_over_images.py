# Alternative: correct, but the negative ELBO loops over the images of the batch in Python (each
# image's reconstruction with torch.logaddexp(0, a) - x a and its KL computed on its own, then
# averaged): by design this loses the speed question, and nothing else. The layers are applied with
# F.linear on nn.Linear weights; the training loop indexes batches by slicing a permuted copy.
import torch
import torch.nn.functional as F
from torch import nn


def kl_diag_gaussian(mu, logvar):
    return 0.5 * torch.sum(mu * mu + torch.exp(logvar) - 1.0 - logvar, dim=-1)


def reparameterize(mu, logvar, eps):
    return torch.addcmul(mu, torch.exp(0.5 * logvar), eps)


def negative_elbo(x, logits, mu, logvar):
    terms = []
    for n in range(x.shape[0]):
        a = logits[n]
        recon = torch.sum(torch.logaddexp(torch.zeros_like(a), a) - x[n] * a)
        kl = 0.5 * torch.sum(mu[n] ** 2 + torch.exp(logvar[n]) - 1 - logvar[n])
        terms.append(recon + kl)
    return torch.stack(terms).mean()


class VAE(nn.Module):
    def __init__(self, n_pixels=64, n_hidden=128, n_latent=8):
        super().__init__()
        self.n_latent = n_latent
        self.enc = nn.Linear(n_pixels, n_hidden)
        self.mu_head = nn.Linear(n_hidden, n_latent)
        self.logvar_head = nn.Linear(n_hidden, n_latent)
        self.dec_hidden = nn.Linear(n_latent, n_hidden)
        self.dec_out = nn.Linear(n_hidden, n_pixels)

    def encode(self, x):
        h = torch.relu(F.linear(x, self.enc.weight, self.enc.bias))
        return (F.linear(h, self.mu_head.weight, self.mu_head.bias),
                F.linear(h, self.logvar_head.weight, self.logvar_head.bias))

    def decode_logits(self, z):
        h = torch.relu(F.linear(z, self.dec_hidden.weight, self.dec_hidden.bias))
        return F.linear(h, self.dec_out.weight, self.dec_out.bias)

    def decode(self, z):
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x, eps):
        mu, logvar = self.encode(x)
        return self.decode_logits(reparameterize(mu, logvar, eps)), mu, logvar

    def sample(self, n, seed):
        gen = torch.Generator()
        gen.manual_seed(seed)
        with torch.no_grad():
            return self.decode(torch.randn(n, self.n_latent, generator=gen))


def train(x, seed, epochs=40, batch_size=64, lr=2e-3):
    torch.manual_seed(seed)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    N = len(x)
    bounds = []
    for _ in range(epochs):
        shuffled = x[torch.randperm(N)]
        epoch_sum = 0.0
        for i in range(0, N, batch_size):
            batch = shuffled[i:i + batch_size]
            loss = negative_elbo(batch, *model(batch, torch.randn(batch.shape[0], model.n_latent)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_sum += batch.shape[0] * loss.item()
        bounds.append(-epoch_sum / N)
    return model, bounds


# Written question: see the handout; the reparameterised z = mu + sigma eps carries gradients,
# the KL keeps q near the prior, and collapse shows as a held-out KL near 0.

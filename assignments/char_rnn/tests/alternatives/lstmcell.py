# Alternative: the model steps an nn.LSTMCell through time in a Python loop (inputs looked up as
# columns of W_ih instead of one-hot products) and maps its parameters to the handout's names in
# weights(); forward_logits writes the gates (4)-(6) by hand; the cross-entropy with a hand-written
# log-sum-exp and gather; sampling through torch.multinomial on probabilities made by hand; the
# clipping (8) by hand; other hyper-parameters (H = 80, tau = 25, B = 16, 500 steps, lr 5e-3).
import torch
from torch import nn

HIDDEN_SIZE = 80
CHUNK_LENGTH = 25
BATCH_SIZE = 16
STEPS = 500
LR = 5e-3
MAX_NORM = 1.0


def _as_long(indices, device=None):
    return torch.as_tensor(indices, device=device).long()


def one_hot(indices, vocab_size):
    idx = _as_long(indices)
    out = torch.zeros(idx.shape + (vocab_size,))
    out.scatter_(-1, idx.unsqueeze(-1), 1.0)
    return out


def cross_entropy(logits, targets):
    z = torch.as_tensor(logits).reshape(-1, torch.as_tensor(logits).shape[-1])
    y = _as_long(targets).reshape(-1)
    m = z.max(dim=1, keepdim=True).values
    log_norm = m.squeeze(1) + torch.log(torch.exp(z - m).sum(dim=1))
    picked = z.gather(1, y.unsqueeze(1)).squeeze(1)
    return (log_norm - picked).mean()


def _generator(rng_or_seed):
    if isinstance(rng_or_seed, torch.Generator):
        return rng_or_seed
    return torch.Generator().manual_seed(int(rng_or_seed))


def sample_from_logits(logits, temperature, rng_or_seed):
    z = torch.as_tensor(logits)
    flat = z.reshape(-1, z.shape[-1])
    if temperature == 0:
        return flat.argmax(dim=1).reshape(z.shape[:-1])
    scaled = flat.double() / temperature
    scaled = scaled - scaled.max(dim=1, keepdim=True).values
    probs = torch.exp(scaled)
    probs = probs / probs.sum(dim=1, keepdim=True)
    draws = torch.multinomial(probs, 1, generator=_generator(rng_or_seed))
    return draws.reshape(z.shape[:-1])


class CharRNN(nn.Module):
    def __init__(self, vocab_size, hidden_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.cell = nn.LSTMCell(vocab_size, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def _zero_state(self, batch):
        h = torch.zeros(batch, self.hidden_size)
        return h, h.clone()

    def _step(self, idx, state):
        h, c = self.cell(one_hot(idx, self.vocab_size), state)
        return self.head(h), (h, c)

    def forward(self, x, state=None):
        x = _as_long(x)
        if state is None:
            state = self._zero_state(x.shape[1])
        outputs = []
        for t in range(x.shape[0]):
            z, state = self._step(x[t], state)
            outputs.append(z)
        return torch.stack(outputs), state

    def logits(self, indices):
        with torch.no_grad():
            z, _ = self.forward(_as_long(indices).reshape(-1, 1))
        return z[:, 0, :]

    def sample(self, n, temperature, seed, start):
        gen = torch.Generator().manual_seed(int(seed))
        drawn = []
        with torch.no_grad():
            state = self._zero_state(1)
            z = None
            for k in _as_long(start).reshape(-1).tolist():
                z, state = self._step(torch.tensor([k]), state)
            for _ in range(n):
                nxt = int(sample_from_logits(z[0], temperature, gen))
                drawn.append(nxt)
                z, state = self._step(torch.tensor([nxt]), state)
        return drawn

    def weights(self):
        return {
            "lstm.weight_ih_l0": self.cell.weight_ih,
            "lstm.weight_hh_l0": self.cell.weight_hh,
            "lstm.bias_ih_l0": self.cell.bias_ih,
            "lstm.bias_hh_l0": self.cell.bias_hh,
            "head.weight": self.head.weight,
            "head.bias": self.head.bias,
        }


def forward_logits(weights, x):
    W_ih, W_hh = weights["lstm.weight_ih_l0"], weights["lstm.weight_hh_l0"]
    b = weights["lstm.bias_ih_l0"] + weights["lstm.bias_hh_l0"]
    W_hy, b_y = weights["head.weight"], weights["head.bias"]
    x = _as_long(x, device=W_ih.device)
    T, B = x.shape
    H = W_hh.shape[1]
    inputs = W_ih.t()[x] + b                      # column x_t of W_ih, for every t at once: (T, B, 4H)
    h = torch.zeros(B, H, dtype=W_ih.dtype, device=W_ih.device)
    c = torch.zeros_like(h)
    hs = []
    for t in range(T):
        a = inputs[t] + h @ W_hh.t()
        i, f, g, o = a.split(H, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs) @ W_hy.t() + b_y


def _clip(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = torch.sqrt(sum((g * g).sum() for g in grads))
    scale = min(1.0, max_norm / (float(norm) + 1e-12))
    for g in grads:
        g.mul_(scale)


def train(text_indices, vocab_size, seed, steps=STEPS, lr=LR, max_norm=MAX_NORM, chunk_length=CHUNK_LENGTH,
          batch_size=BATCH_SIZE):
    torch.manual_seed(seed)
    model = CharRNN(vocab_size, HIDDEN_SIZE)
    if steps == 0:
        return model
    text = _as_long(text_indices).reshape(-1)
    length = text.shape[0] // batch_size
    streams = text[: length * batch_size].reshape(batch_size, length).t()   # (length, B), column b = stream b
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    params = list(model.parameters())
    position, state = 0, None
    for _ in range(steps):
        if position + chunk_length + 1 > length:
            position, state = 0, None
        chunk = streams[position: position + chunk_length + 1]
        if state is not None:
            state = tuple(s.detach() for s in state)
        logits, state = model(chunk[:-1], state)
        loss = cross_entropy(logits, chunk[1:])
        optimizer.zero_grad()
        loss.backward()
        _clip(params, max_norm)
        optimizer.step()
        position += chunk_length
    return model


# Why detach: without it, backward() of the second chunk walks into the first chunk's graph, whose
# buffers the first backward freed, and raises; with retain_graph=True it runs, but every step
# back-propagates through the whole past (cost and memory grow with the step count). Detaching
# gives up gradients across chunk boundaries; the forward pass still carries the state, so the
# model can use context longer than tau that it learned to keep within chunks.

# Alternative: sampling by the Gumbel-max trick (argmax of z / tau plus Gumbel noise drawn from the
# generator) instead of torch.multinomial; the cross-entropy from a hand-written log-softmax; the
# model keeps one-hot input through nn.LSTM but forward_logits loads the weights into a fresh model
# of their dtype and device (load_state_dict); weights() a detached copy of the state_dict; the
# streams walked with a fixed-size window and a state reset; H = 96, tau = 40, B = 32, 350 steps, lr 8e-3.
import torch
from torch import nn

HIDDEN_SIZE = 96
CHUNK_LENGTH = 40
BATCH_SIZE = 32
STEPS = 350
LR = 8e-3
MAX_NORM = 1.0


def one_hot(indices, vocab_size):
    idx = torch.as_tensor(indices, dtype=torch.long)
    return (idx.unsqueeze(-1) == torch.arange(vocab_size)).to(torch.float32)


def _log_softmax(z):
    shifted = z - z.max(dim=-1, keepdim=True).values
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()


def cross_entropy(logits, targets):
    z = torch.as_tensor(logits)
    y = torch.as_tensor(targets, dtype=torch.long)
    nll = -torch.gather(_log_softmax(z), -1, y.unsqueeze(-1))
    return nll.sum() / y.numel()


def sample_from_logits(logits, temperature, rng_or_seed):
    z = torch.as_tensor(logits).to(torch.float64)
    if temperature == 0:
        return torch.argmax(z, dim=-1)
    gen = rng_or_seed if isinstance(rng_or_seed, torch.Generator) else torch.Generator().manual_seed(int(rng_or_seed))
    u = torch.rand(z.shape, generator=gen, dtype=torch.float64).clamp_min(1e-300)
    gumbel = -torch.log(-torch.log(u))
    return torch.argmax(z / temperature + gumbel, dim=-1)


class CharRNN(nn.Module):
    def __init__(self, vocab_size, hidden_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(input_size=vocab_size, hidden_size=hidden_size, num_layers=1)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        x = torch.as_tensor(x, dtype=torch.long)
        inputs = one_hot(x, self.vocab_size).to(self.head.weight.dtype)
        if state is None:
            zeros = torch.zeros(1, x.shape[1], self.hidden_size, dtype=inputs.dtype)
            state = (zeros, zeros)
        h, (h_n, c_n) = self.lstm(inputs, state)
        return self.head(h), (h_n, c_n)

    def logits(self, indices):
        x = torch.as_tensor(indices, dtype=torch.long).reshape(-1, 1)
        with torch.no_grad():
            return self(x)[0][:, 0]

    def sample(self, n, temperature, seed, start):
        gen = torch.Generator()
        gen.manual_seed(seed)
        state = None
        with torch.no_grad():
            for k in list(torch.as_tensor(start).reshape(-1).tolist()):
                z, state = self(torch.tensor([[k]]), state)
            new = []
            while len(new) < n:
                k = int(sample_from_logits(z[0, 0], temperature, gen))
                new.append(k)
                z, state = self(torch.tensor([[k]]), state)
        return new

    def weights(self):
        return {name: t.detach().clone() for name, t in self.state_dict().items()}


def forward_logits(weights, x):
    w = weights["lstm.weight_ih_l0"]
    model = CharRNN(w.shape[1], w.shape[0] // 4).to(device=w.device, dtype=w.dtype)
    model.load_state_dict(weights)
    with torch.no_grad():
        x = torch.as_tensor(x, dtype=torch.long, device=w.device)
        h, _ = model.lstm(torch.nn.functional.one_hot(x, w.shape[1]).to(w.dtype))
        return model.head(h)


def train(text_indices, vocab_size, seed, steps=STEPS, lr=LR, max_norm=MAX_NORM, chunk_length=CHUNK_LENGTH,
          batch_size=BATCH_SIZE):
    torch.manual_seed(seed)
    model = CharRNN(vocab_size, HIDDEN_SIZE)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    text = torch.as_tensor(text_indices, dtype=torch.long)
    L = len(text) // batch_size
    streams = [text[b * L:(b + 1) * L] for b in range(batch_size)]
    data = torch.stack(streams, dim=1)
    start, state = 0, None
    for _ in range(steps):
        window = data[start: start + chunk_length + 1]
        if window.shape[0] < chunk_length + 1:
            start, state = 0, None
            window = data[: chunk_length + 1]
        if state is not None:
            state = tuple(s.detach() for s in state)
        logits, state = model(window[:-1], state)
        loss = cross_entropy(logits, window[1:])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=max_norm)
        opt.step()
        start += chunk_length
    return model


# Why detach? Not detaching makes the next backward() run into the freed graph of the previous chunk
# (an error); keeping the graphs makes each step's cost and memory grow with everything read so far.
# Detaching drops the gradient across chunk boundaries only; the state still flows forward.

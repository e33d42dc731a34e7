# %% [markdown]
# # A correct but slow solution: forward_logits loops over the sequences of the batch
#
# Every function follows the handout (`assignments/char_rnn/handout.md`); the comments cite
# its equation numbers. Sequences are time-major: a batch of character indices is a
# `(T, B)` integer tensor and its logits are `(T, B, V)`. Row t of the logits predicts
# character t + 1.

# %%
import torch
from torch import nn

HIDDEN_SIZE = 64     # H, units of the LSTM
CHUNK_LENGTH = 32    # tau, steps of truncated BPTT
BATCH_SIZE = 32      # B, streams read in parallel
STEPS = 300          # optimizer steps, one chunk each
LR = 1e-2            # Adam's learning rate (torch's default betas and eps)
MAX_NORM = 1.0       # gradient clipping threshold, equation (8)


# %% [markdown]
# ## Part 1: one-hot inputs and the cross-entropy, equations (1) and (2)

# %%
def one_hot(indices, vocab_size):
    x = torch.as_tensor(indices, dtype=torch.long)
    return (x[..., None] == torch.arange(vocab_size, device=x.device)).float()  # (1)


def cross_entropy(logits, targets):
    z = torch.as_tensor(logits)
    y = torch.as_tensor(targets, dtype=torch.long)
    log_p = z - torch.logsumexp(z, dim=-1, keepdim=True)  # log softmax, stable
    return -log_p.gather(-1, y[..., None]).mean()  # (2), nats per character


# %% [markdown]
# ## Part 2: sampling at a temperature, equation (3)

# %%
def sample_from_logits(logits, temperature, rng_or_seed):
    z = torch.as_tensor(logits, dtype=torch.float64)
    if temperature == 0:
        return z.argmax(dim=-1)  # the limit of (3) as the temperature goes to 0
    g = rng_or_seed if isinstance(rng_or_seed, torch.Generator) else torch.Generator().manual_seed(int(rng_or_seed))
    p = torch.softmax(z / temperature, dim=-1)  # (3)
    return torch.multinomial(p.reshape(-1, z.shape[-1]), 1, generator=g).reshape(z.shape[:-1])


# %% [markdown]
# ## Part 3: the model, equations (4) to (6)

# %%
class CharRNN(nn.Module):
    def __init__(self, vocab_size, hidden_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.lstm = nn.LSTM(vocab_size, hidden_size)  # (4), (5) on one-hot inputs
        self.head = nn.Linear(hidden_size, vocab_size)  # (6)

    def forward(self, x, state=None):
        """x (T, B) indices -> logits (T, B, V) and the final state (h_T, c_T)."""
        w = self.head.weight
        h, state = self.lstm(one_hot(torch.as_tensor(x, device=w.device), self.vocab_size).to(w.dtype), state)
        return self.head(h), state

    @torch.no_grad()
    def logits(self, indices):
        z, _ = self(torch.as_tensor(indices)[:, None])
        return z[:, 0]

    @torch.no_grad()
    def sample(self, n, temperature, seed, start):
        g = torch.Generator().manual_seed(seed)
        z, state = self(torch.as_tensor(start)[:, None])
        out = []
        for _ in range(n):
            x_t = sample_from_logits(z[-1, 0], temperature, g)
            out.append(int(x_t))
            z, state = self(x_t.reshape(1, 1), state)  # carry the state: one step per character
        return out

    def weights(self):
        return {name: w.detach().clone() for name, w in self.state_dict().items()}


def forward_logits(weights, x):
    """Logits (T, B, V) for the (T, B) indices x under the weights of `CharRNN.weights()`."""
    W_ih = weights["lstm.weight_ih_l0"]
    model = CharRNN(W_ih.shape[1], W_ih.shape[0] // 4).to(W_ih.device, W_ih.dtype)
    model.load_state_dict(weights)
    with torch.no_grad():
        x = torch.as_tensor(x)
        return torch.cat([model(x[:, b:b + 1])[0] for b in range(x.shape[1])], dim=1)  # one sequence at a time


# %% [markdown]
# ## Part 4: training, equations (7) and (8)
#
# The text is cut into B streams read side by side; each step takes the next chunk of tau
# characters from every stream, carries the state over from the previous chunk (detached,
# so that back-propagation stops at the chunk boundary), and takes one Adam step on the
# teacher-forced loss (7) with the gradient clipped by its global norm (8).

# %%
def train(text_indices, vocab_size, seed, steps=STEPS, hidden_size=HIDDEN_SIZE, chunk_length=CHUNK_LENGTH,
          batch_size=BATCH_SIZE, lr=LR, max_norm=MAX_NORM):
    torch.manual_seed(seed)
    data = torch.as_tensor(text_indices, dtype=torch.long)
    model = CharRNN(vocab_size, hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    stream_length = (len(data) - 1) // batch_size
    streams = data[: batch_size * stream_length + 1]
    starts = torch.arange(batch_size) * stream_length  # stream b reads data[starts[b] + i]
    state, i = None, 0
    for _ in range(steps):
        if i + chunk_length > stream_length:  # a pass over the text is done: start again, fresh state
            state, i = None, 0
        rows = starts[None, :] + i + torch.arange(chunk_length)[:, None]  # (tau, B)
        inputs, targets = streams[rows], streams[rows + 1]  # teacher forcing: predict the next character
        if state is not None:
            state = tuple(s.detach() for s in state)  # truncated BPTT: no gradient into the last chunk
        logits, state = model(inputs, state)
        loss = cross_entropy(logits, targets)  # (7)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # (8)
        optimizer.step()
        i += chunk_length
    return model


# %% [markdown]
# ## Part 5: why detach?
#
# (The TA-graded answer; see the handout's rubric.)

# %% [markdown]
# ## Try it at home
#
# Train on a text file of your own and print samples at three temperatures. The grader
# does not run this cell.

# %%
# grader: skip
if __name__ == "__main__":
    text = open("input.txt").read()  # any text file
    alphabet = sorted(set(text))
    model = train([alphabet.index(ch) for ch in text], len(alphabet), seed=0)
    for temperature in (0.25, 0.75, 1.5):
        sample = model.sample(300, temperature, seed=0, start=[alphabet.index(text[0])])
        print(f"T = {temperature}:", "".join(alphabet[k] for k in sample))

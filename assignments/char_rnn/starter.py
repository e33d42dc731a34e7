# %% [markdown]
# # A character-level LSTM language model
#
# Fill in every function below; `handout.md` has the equations, numbered, and the
# conventions they follow. In short:
#
# - a text is a sequence of character indices in {0, ..., V - 1};
# - sequences are time-major: a batch is a `(T, B)` integer tensor, its logits `(T, B, V)`,
#   and row t of the logits predicts character t + 1 from characters 1 to t;
# - losses are in nats per character (a mean, natural logarithms);
# - functions receive numpy arrays, lists or tensors, and return torch tensors.
#
# You may use all of torch, torch.nn.LSTM included. You may add helper functions; only the
# names below are graded. Keep top-level code to definitions: the grader runs every cell
# when it loads your notebook (the last cell, marked `grader: skip`, it does not run).

# %%
import torch
from torch import nn

# Your hyper-parameters, in one place. train(text, V, seed) with these defaults must reach
# the handout's target within 120 s on one CPU core.
HIDDEN_SIZE = 64
CHUNK_LENGTH = 32
BATCH_SIZE = 32
STEPS = 300
LR = 1e-2
MAX_NORM = 1.0

# %% [markdown]
# ## Part 1: one-hot inputs and the cross-entropy, equations (1) and (2)


# %%
def one_hot(indices, vocab_size):
    """Float tensor of shape indices.shape + (vocab_size,), equation (1)."""
    raise NotImplementedError


def cross_entropy(logits, targets):
    """Mean cross-entropy in nats, equation (2): logits (..., V), targets (...) integer."""
    raise NotImplementedError


# %% [markdown]
# ## Part 2: sampling at a temperature, equation (3)


# %%
def sample_from_logits(logits, temperature, rng_or_seed):
    """One index per row of logits (..., V), drawn from softmax(logits / temperature).

    Returns a long tensor of shape logits.shape[:-1]. temperature == 0 means the argmax.
    rng_or_seed: an int seed or a torch.Generator.
    """
    raise NotImplementedError


# %% [markdown]
# ## Part 3: the model, equations (4) to (6)


# %%
class CharRNN(nn.Module):
    def __init__(self, vocab_size, hidden_size):
        super().__init__()
        self.vocab_size = vocab_size
        # Name the layers `lstm` (a torch.nn.LSTM on one-hot inputs) and `head` (a
        # torch.nn.Linear), so that weights() has the names of the handout's table.
        raise NotImplementedError

    def forward(self, x, state=None):
        """x: (T, B) indices. Returns the logits (T, B, V) and the final state."""
        raise NotImplementedError

    def logits(self, indices):
        """Logits (T, V) for one sequence of T indices, from the zero state."""
        raise NotImplementedError

    def sample(self, n, temperature, seed, start):
        """n new indices (a list of ints) following the indices in `start`."""
        raise NotImplementedError

    def weights(self):
        """The weights as a dict of tensors named as in the handout."""
        raise NotImplementedError


def forward_logits(weights, x):
    """Logits (T, B, V) for the (T, B) indices x under `weights` (a dict as weights() returns)."""
    raise NotImplementedError


# %% [markdown]
# ## Part 4: training, equations (7) and (8)


# %%
def train(text_indices, vocab_size, seed, steps=STEPS, lr=LR, max_norm=MAX_NORM, chunk_length=CHUNK_LENGTH,
          batch_size=BATCH_SIZE):
    """Train a CharRNN on the text by teacher forcing and truncated BPTT; return the model.

    steps: Adam steps, one chunk each; lr: Adam's learning rate; max_norm: the clipping
    threshold; chunk_length: tau; batch_size: B, the streams read side by side.
    train(..., steps=0) returns the freshly initialised model.
    """
    raise NotImplementedError


# %% [markdown]
# ## Part 5: why detach? (answer in words, graded by a TA)
#
# Answer the question of Part 5 of the handout.
#
# Write your answer below the line `detach:` (keep that line: it marks your answer for the TA).
#
# detach:
# *Your answer here.*

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

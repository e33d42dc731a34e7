"""Fixtures shared by the public and hidden tests of char_rnn.

Everything here runs in the trusted process and holds nothing secret.

- `markov_source(rng)` draws an order-2 Markov source over the 8 letters "abcdefgh": the
  next letter depends on the two before it. Its entropy rate (the best loss any model can
  reach, in nats per character) is exact, computed from the stationary distribution of the
  chain on pairs of letters.
- `oracle_logits(weights, x)` runs the handout's model (equations (4) to (6)) with
  torch.nn.LSTM in float64 on the weights the handout names.
- `goodness_of_fit(probs, choices)` is a chi-square test that each choice was drawn from
  its row of `probs` (rows may differ from draw to draw).
- `trained`: the submission's model, trained once per grading; the public and hidden training
  tests judge the same one. Its source is drawn from the hidden tests' seed where they run,
  which this file does not hold.
"""

import bisect
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from grader.checks import as_array

ALPHABET = "abcdefgh"
V = len(ALPHABET)
FALSE_ALARM = 1e-3  # the chance that one goodness-of-fit check fails a correct sampler


# ------------------------------------------------------------------------------ the source

@dataclass
class MarkovSource:
    """P[a, b, c] = P(x_{t+1} = c | x_{t-1} = a, x_t = b)."""

    P: np.ndarray

    @property
    def pairs(self) -> np.ndarray:
        """The stationary distribution of the pair (x_{t-1}, x_t), (V, V)."""
        n = len(self.P)
        M = np.zeros((n * n, n * n))  # the chain on pairs: (a, b) -> (b, c) with probability P[a, b, c]
        for a in range(n):
            for b in range(n):
                M[a * n + b, b * n:(b + 1) * n] = self.P[a, b]
        values, vectors = np.linalg.eig(M.T)
        pi = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
        return (pi / pi.sum()).reshape(n, n)

    @property
    def entropy_rate(self) -> float:
        """H = sum_{a,b} pi(a, b) H(P[a, b, :]), nats per character."""
        return float(np.sum(self.pairs * entropy(self.P)))

    @property
    def unigram_entropy(self) -> float:
        """The loss of the best model that ignores the context: H of the letter frequencies."""
        return float(entropy(self.pairs.sum(axis=0)))

    @property
    def bigram_entropy(self) -> float:
        """The loss of the best model that sees one letter of context: H(x_{t+1} | x_t)."""
        joint = np.einsum("ab,abc->bc", self.pairs, self.P)  # (x_t, x_{t+1})
        return float(np.sum(joint.sum(axis=1) * entropy(joint / joint.sum(axis=1, keepdims=True))))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n letters (int64 indices), the first pair drawn from the stationary distribution."""
        first = int(rng.choice(V * V, p=self.pairs.ravel()))
        x = np.empty(n, dtype=np.int64)
        x[0], x[1] = divmod(first, V)
        cdf = np.cumsum(self.P, axis=-1).tolist()
        a, b = int(x[0]), int(x[1])
        for t, u in enumerate(rng.random(n - 2).tolist(), start=2):
            a, b = b, min(bisect.bisect_right(cdf[a][b], u), V - 1)
            x[t] = b
        return x

    def loss(self, x) -> float:
        """The source's own loss on x, nats per character, over the characters from the third on."""
        x = np.asarray(x)
        return float(-np.mean(np.log(self.P[x[:-2], x[1:-1], x[2:]])))


def entropy(p, axis=-1):
    p = np.asarray(p, dtype=np.float64)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=axis)


def markov_source(rng: np.random.Generator, alpha: float = 0.25, floor: float = 0.05) -> MarkovSource:
    """Each context's next-letter distribution is Dirichlet(alpha) (peaked), mixed with a
    `floor` share of the uniform one so that every pair of letters keeps occurring."""
    P = (1.0 - floor) * rng.dirichlet(np.full(V, alpha), size=(V, V)) + floor / V
    return MarkovSource(P / P.sum(axis=-1, keepdims=True))


def model_loss(logits, x) -> float:
    """Per-character cross-entropy (nats) of logits (T, V) for x (T,): row t predicts x[t + 1],
    scored from the third character on, as `MarkovSource.loss` is."""
    z = torch.as_tensor(as_array(logits, "logits"), dtype=torch.float64)
    targets = torch.as_tensor(np.asarray(x))[2:]
    return float(torch.nn.functional.cross_entropy(z[1:-1], targets))


# ------------------------------------------------------------------------------- the model

def weight_shapes(hidden: int, vocab: int = V) -> dict:
    """The names and shapes of the handout's weights (those of CharRNN.weights())."""
    return {
        "lstm.weight_ih_l0": (4 * hidden, vocab),
        "lstm.weight_hh_l0": (4 * hidden, hidden),
        "lstm.bias_ih_l0": (4 * hidden,),
        "lstm.bias_hh_l0": (4 * hidden,),
        "head.weight": (vocab, hidden),
        "head.bias": (vocab,),
    }


def random_weights(rng: np.random.Generator, hidden: int, vocab: int = V, scale: float = 0.5,
                   dtype=torch.float32) -> dict:
    return {name: torch.as_tensor(rng.normal(0.0, scale, shape), dtype=dtype)
            for name, shape in weight_shapes(hidden, vocab).items()}


def oracle_logits(weights: dict, x) -> np.ndarray:
    """Equations (4) to (6) in float64: one-hot inputs, torch.nn.LSTM, a linear read-out.
    x: (T, B) indices; returns (T, B, V)."""
    w = {name: torch.as_tensor(as_array(value, name), dtype=torch.float64) for name, value in weights.items()}
    four_h, vocab = w["lstm.weight_ih_l0"].shape
    lstm = torch.nn.LSTM(vocab, four_h // 4, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(lstm, name).copy_(w["lstm." + name])
        inputs = torch.nn.functional.one_hot(torch.as_tensor(np.asarray(x)), vocab).to(torch.float64)
        h, _ = lstm(inputs)
        return (h @ w["head.weight"].T + w["head.bias"]).numpy()


# ------------------------------------------------------------------------ goodness of fit

def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X ~ chi-square with `dof` degrees of freedom (the regularised upper incomplete
    gamma function; torch has it, so scipy is not imported for it)."""
    a, x = torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(statistic / 2, dtype=torch.float64)
    return float(torch.special.gammaincc(a, x))


def goodness_of_fit(probs, choices, min_expected: float = 20.0) -> tuple[float, str]:
    """p-value of the hypothesis that choices[n] was drawn from probs[n] (rows may differ).

    The categories are the rank of the choice within its row (0: the most likely letter);
    ranks are merged from the tail until every category expects at least `min_expected`
    draws. The observed counts O minus the expected E = sum_n q_n have covariance
    C = sum_n (diag(q_n) - q_n q_n^T) when draws are independent given their rows (and
    also when each row depends on the draws before it), so (O - E)^T C^+ (O - E) is
    approximately chi-square with K - 1 degrees of freedom.
    """
    p = np.asarray(probs, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    choices = np.asarray(choices).astype(np.int64)
    order = np.argsort(-p, axis=1, kind="stable")
    q = np.take_along_axis(p, order, axis=1)
    rank = np.argmax(order == choices[:, None], axis=1)
    expected = q.sum(axis=0)
    K = len(expected)
    while K > 1 and expected[K - 1:].sum() < min_expected:  # merge the tail into category K - 1
        K -= 1
    while K > 2 and expected[K - 2] < min_expected:
        K -= 1
    Q = np.concatenate([q[:, :K - 1], q[:, K - 1:].sum(axis=1, keepdims=True)], axis=1)
    O = np.bincount(np.minimum(rank, K - 1), minlength=K).astype(np.float64)
    E = Q.sum(axis=0)
    C = np.diag(E) - Q.T @ Q
    d = (O - E)[:-1]
    summary = ", ".join(f"rank {k}{'+' if k == K - 1 and K < p.shape[1] else ''}: {O[k]:.0f} drawn, {E[k]:.1f} expected"
                        for k in range(K))
    if K == 1:  # every draw was all but certain: nothing to test
        return 1.0, summary
    return chi2_sf(float(d @ np.linalg.solve(C[:-1, :-1], d)), K - 1), summary


def assert_global_state_untouched(submission, draw, what: str) -> None:
    """`draw()` (a sampler called twice with one seed) must draw with a generator of its own: two models built
    each after it differ (a sampler that reseeds torch's global state, where their weights come from, makes
    them equal)."""
    built = []
    for _ in range(2):
        draw()
        built.append({name: as_array(w, name) for name, w in submission.CharRNN(V, 4).weights().items()})
    assert any(not np.array_equal(built[0][name], built[1][name]) for name in built[0]), (
        f"two models built each after {what} with the same seed have the same weights: it resets torch's global "
        "random state; draw with a torch.Generator of its own")


def softmax(z, temperature=1.0):
    z = np.asarray(z, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------------------- figures

def text_figure(lines: dict, title: str):
    """A matplotlib Figure (Agg) showing one line of text per label."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 0.5 + 0.9 * len(lines)))
    fig.text(0.01, 0.97, title, va="top", ha="left", fontsize=11, weight="bold")
    for i, (label, text) in enumerate(lines.items()):
        y = 0.9 - (i + 0.5) * 0.85 / len(lines)
        fig.text(0.01, y, label, va="center", ha="left", fontsize=10)
        fig.text(0.16, y, text, va="center", ha="left", fontsize=10, family="monospace")
    return fig


# ------------------------------------------------------------------------------ training

PUBLIC_TRAINING_SEED = 20240607


@pytest.fixture(scope="session")
def trained(request, submission):
    """The model trained once per grading, with the submission's defaults, on 200,000 characters of a source
    drawn from the hidden tests' seed where they run in this grading (a source the submission cannot know),
    else from a public one; it stays in the sandbox behind a handle."""
    hidden = {item.module.TRAINING_SEED for item in request.session.items if hasattr(item.module, "TRAINING_SEED")}
    rng = np.random.default_rng(hidden.pop() if hidden else PUBLIC_TRAINING_SEED)
    source = markov_source(rng)
    text = source.sample(200_000, rng)
    return SimpleNamespace(source=source, model=submission.train(text, V, seed=int(rng.integers(2**31))))


@pytest.fixture(scope="session")
def lm():
    """The helpers above, for tests (test files cannot import each other)."""
    return SimpleNamespace(
        ALPHABET=ALPHABET, V=V, FALSE_ALARM=FALSE_ALARM, markov_source=markov_source, model_loss=model_loss,
        weight_shapes=weight_shapes, random_weights=random_weights, oracle_logits=oracle_logits,
        goodness_of_fit=goodness_of_fit, softmax=softmax, text_figure=text_figure,
        assert_global_state_untouched=assert_global_state_untouched)

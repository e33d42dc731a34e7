"""Fixtures shared by the public and hidden tests of lstm_bptt.

`cases` makes random sizes, inputs and parameter dicts laid out as the handout says
(time-major, batch rows, float64). `oracle` computes the same quantities with PyTorch in
float64 (its autograd, torch.nn.LSTM), independently of any numpy solution.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

LSTM_GATES = "figo"
TORCH_LSTM_ORDER = "ifgo"  # how torch.nn.LSTM stacks the gate blocks (handout, Part 3)
GRU_GATES = "zrn"


# ------------------------------------------------------------------------------ cases

def sizes(rng, T=(3, 7), B=(1, 4), n=(2, 5), d=(2, 6), k=(2, 6)):
    """Random sequence length, batch, input, state and class sizes (half-open ranges)."""
    return {name: int(rng.integers(*bounds)) for name, bounds in (("T", T), ("B", B), ("n", n), ("d", d), ("k", k))}


def sequence(rng, T, B, n, d, scale=1.0):
    """Inputs x (T, B, n) and an initial state (B, d)."""
    return rng.normal(0.0, scale, (T, B, n)), rng.normal(0.0, 0.5, (B, d))


def rnn_params(rng, n, d, k, scale=0.5):
    shapes = {"U": (d, n), "W": (d, d), "b": (d,), "V": (k, d), "c": (k,)}
    return {name: rng.normal(0.0, scale, shape) for name, shape in shapes.items()}


def gated_params(rng, gates, n, d, scale=0.5, biases=None, recurrent_scale=None):
    """U_<gate> (d, n), W_<gate> (d, d), b_<gate> (d,) for each gate; `biases` maps a
    gate to a constant added to its bias (a large forget bias, a closed update gate);
    `recurrent_scale`, when given, is the scale of the W_<gate> instead of `scale`."""
    biases = biases or {}
    params = {}
    for gate in gates:
        params["U_" + gate] = rng.normal(0.0, scale, (d, n))
        params["W_" + gate] = rng.normal(0.0, recurrent_scale or scale, (d, d))
        params["b_" + gate] = rng.normal(0.0, scale, d) + biases.get(gate, 0.0)
    return params


def lstm_params(rng, n, d, scale=0.5, biases=None, recurrent_scale=None):
    return gated_params(rng, LSTM_GATES, n, d, scale, biases, recurrent_scale)


def gru_params(rng, n, d, scale=0.5, biases=None):
    return gated_params(rng, GRU_GATES, n, d, scale, biases)


def targets(rng, T, B, k):
    return rng.integers(0, k, (T, B))


def with_entry(params, name, value):
    """A copy of `params` with one array replaced (for finite differences)."""
    return {**params, name: value}


@pytest.fixture
def cases():
    return SimpleNamespace(sizes=sizes, sequence=sequence, rnn_params=rnn_params, lstm_params=lstm_params,
                           gru_params=gru_params, targets=targets, with_entry=with_entry)


# ----------------------------------------------------------------------------- oracle

def torch_rnn(x, s0, targets, params, truncate=None):
    """States, probabilities, loss (5) and PyTorch's gradients of it. With `truncate`, the
    state is detached at the start of every window of that many steps (handout, (11))."""
    p = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    s_t, states, probs, loss = torch.from_numpy(s0), [], [], 0.0
    for t, x_t in enumerate(torch.from_numpy(x)):
        if truncate is not None and t % truncate == 0:
            s_t = s_t.detach()
        s_t = torch.tanh(x_t @ p["U"].T + s_t @ p["W"].T + p["b"])
        log_y_t = torch.log_softmax(s_t @ p["V"].T + p["c"], dim=-1)
        loss = loss - log_y_t.gather(-1, torch.from_numpy(targets[t])[:, None]).sum()
        states.append(s_t.detach())
        probs.append(log_y_t.detach().exp())
    loss.backward()
    return SimpleNamespace(s=torch.stack(states).numpy(), y=torch.stack(probs).numpy(), loss=loss.item(),
                           grads={name: value.grad.numpy() for name, value in p.items()})


def torch_lstm(x, h0, c0, params, dh, bias_share=None):
    """torch.nn.LSTM run one step at a time on our parameters: every h_t and c_t, and the
    gradients of sum_t <dh_t, h_t> unstacked into our keys. `bias_share` is the part of
    the bias put in bias_hh_l0 (PyTorch adds its two biases); none by default."""
    d, n = params["U_f"].shape
    share = torch.zeros(4 * d, dtype=torch.float64) if bias_share is None else torch.from_numpy(bias_share)
    lstm = torch.nn.LSTM(n, d, dtype=torch.float64)
    stack = lambda prefix: torch.from_numpy(np.concatenate([params[prefix + g] for g in TORCH_LSTM_ORDER]))
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(stack("U_"))
        lstm.weight_hh_l0.copy_(stack("W_"))
        lstm.bias_ih_l0.copy_(stack("b_") - share)
        lstm.bias_hh_l0.copy_(share)
    h0_t = torch.tensor(h0[None], requires_grad=True)
    c0_t = torch.tensor(c0[None], requires_grad=True)
    state, hs, cs = (h0_t, c0_t), [], []
    for x_t in torch.from_numpy(x):
        _, state = lstm(x_t[None], state)
        hs.append(state[0][0])
        cs.append(state[1][0])
    h = torch.stack(hs)
    loss = (h * torch.from_numpy(dh)).sum()
    loss.backward()
    grads = {"h0": h0_t.grad[0].numpy(), "c0": c0_t.grad[0].numpy()}
    for prefix, tensor in (("U_", lstm.weight_ih_l0), ("W_", lstm.weight_hh_l0), ("b_", lstm.bias_ih_l0)):
        for gate, block in zip(TORCH_LSTM_ORDER, tensor.grad.chunk(4)):
            grads[prefix + gate] = block.numpy()
    return SimpleNamespace(h=h.detach().numpy(), c=torch.stack(cs).detach().numpy(), loss=loss.item(), grads=grads)


def rnn_step(x, params):
    """step(t, s_{t-1}) = s_t, equations (1) and (2), in torch."""
    U, W, b = (torch.from_numpy(params[k]) for k in ("U", "W", "b"))
    return lambda t, s: torch.tanh(torch.from_numpy(x[t - 1]) @ U.T + s @ W.T + b)


def lstm_step(x, params):
    """step(t, (h_{t-1}, c_{t-1})) = (h_t, c_t), equations (12) to (17), in torch; the
    state is h and c side by side, (B, 2d)."""
    p = {name: torch.from_numpy(value) for name, value in params.items()}
    d = p["W_f"].shape[0]

    def step(t, state):
        x_t, h, c = torch.from_numpy(x[t - 1]), state[:, :d], state[:, d:]
        a = lambda gate: x_t @ p["U_" + gate].T + h @ p["W_" + gate].T + p["b_" + gate]
        c = torch.sigmoid(a("f")) * c + torch.sigmoid(a("i")) * torch.tanh(a("g"))
        return torch.cat([torch.sigmoid(a("o")) * torch.tanh(c), c], dim=1)

    return step


def jacobians(step, state_0, T):
    """d state_T / d state_k for k = 0..T by torch.autograd, as a (T + 1, B, m, m) tensor.
    The Jacobian of a batch is block diagonal: block b belongs to sequence b."""
    states = [state_0]
    for t in range(1, T + 1):
        states.append(step(t, states[-1]))
    result = []
    for k, state_k in enumerate(states):

        def final_state(state, k=k):
            for t in range(k + 1, T + 1):
                state = step(t, state)
            return state

        full = jacobian(final_state, state_k)  # (B, m, B, m)
        result.append(torch.diagonal(full, dim1=0, dim2=2).permute(2, 0, 1))  # (B, m, m)
    return torch.stack(result)


def spectral_norms(J):
    return torch.linalg.matrix_norm(J, ord=2).numpy()


def rnn_jacobian_norms(x, s0, params):
    return spectral_norms(jacobians(rnn_step(x, params), torch.from_numpy(s0), len(x)))


def lstm_jacobian_norms(x, h0, c0, params):
    d = h0.shape[1]
    J = jacobians(lstm_step(x, params), torch.from_numpy(np.concatenate([h0, c0], axis=1)), len(x))
    return {"h": spectral_norms(J[..., :d, :d]), "c": spectral_norms(J[..., d:, d:])}


@pytest.fixture
def oracle():
    return SimpleNamespace(rnn=torch_rnn, lstm=torch_lstm, rnn_jacobian_norms=rnn_jacobian_norms,
                           lstm_jacobian_norms=lstm_jacobian_norms)

"""Forward and backward passes, checked against PyTorch in float64 on random networks.

Backward tests hand the submission a cache computed by the reference's forward pass, so a
bug in the student's forward pass costs points in `forward` only."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.checks import assert_close, assert_inputs_unchanged, assert_shape, numerical_gradient

TORCH = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def random_problem(rng, depth, output, batch=None):
    """A network with `depth` layers of random widths, a batch X (of `batch` rows, or a random
    number), and labels or targets y."""
    sizes = [int(n) for n in rng.integers(2, 9, size=depth + 1)]
    params = {
        "W": [rng.normal(size=(m, n)) / np.sqrt(n) for n, m in zip(sizes[:-1], sizes[1:])],
        "b": [0.5 * rng.normal(size=m) for m in sizes[1:]],
    }
    N = batch or int(rng.integers(2, 9))
    X = rng.normal(size=(N, sizes[0]))
    y = rng.integers(0, sizes[-1], size=N) if output == "softmax" else rng.normal(size=(N, sizes[-1]))
    return X, y, params


def torch_network(X, y, params, activation, output):
    """Equations (9)-(15) in torch: the loss, the leaves W_k and b_k, and the lists a and h."""
    W = [torch.tensor(w, requires_grad=True) for w in params["W"]]
    b = [torch.tensor(v, requires_grad=True) for v in params["b"]]
    a, h = [], [torch.tensor(X)]
    for k in range(len(W)):
        a.append(h[-1] @ W[k].T + b[k])
        h.append(TORCH[activation](a[-1]) if k < len(W) - 1 else a[-1])
    if output == "softmax":
        loss = F.cross_entropy(a[-1], torch.tensor(y))
        h[-1] = torch.softmax(a[-1], dim=1)
    else:
        loss = ((h[-1] - torch.tensor(y)) ** 2).sum() / len(X)
    return loss, W, b, a, h


def assert_matches_autograd(submission, reference, X, y, params, activation, output):
    loss, W, b, _, _ = torch_network(X, y, params, activation, output)
    loss.backward()
    cache = reference.forward(X, params, activation, output)
    grads = assert_inputs_unchanged(submission.backward, cache, y, params, activation, output)
    assert len(grads["W"]) == len(W) and len(grads["b"]) == len(b), f"expected gradients for {len(W)} layers"
    for k in range(len(W), 0, -1):
        for key, leaf in (("W", W[k - 1]), ("b", b[k - 1])):
            name = f"grads[{key!r}][{k - 1}] ({key}_{k})"
            assert_shape(grads[key][k - 1], leaf.shape, name=name)
            assert_close(grads[key][k - 1], leaf.grad.numpy(), rtol=1e-7, atol=1e-10, name=name)


def assert_forward_matches_torch(submission, X, y, params, activation, output):
    _, _, _, a, h = torch_network(X, y, params, activation, output)
    cache = assert_inputs_unchanged(submission.forward, X, params, activation, output)
    assert len(cache["a"]) == len(a) and len(cache["h"]) == len(h), (
        f"a network with {len(a)} layers has {len(a)} pre-activations and {len(h)} activations"
    )
    for k in range(len(a) + 1):
        if k:
            name = f"cache['a'][{k - 1}] (a_{k})"
            assert_shape(cache["a"][k - 1], tuple(a[k - 1].shape), name=name)
            assert_close(cache["a"][k - 1], a[k - 1].detach().numpy(), rtol=1e-9, atol=1e-12, name=name)
        assert_shape(cache["h"][k], tuple(h[k].shape), name=f"cache['h'][{k}] (h_{k})")
        assert_close(cache["h"][k], h[k].detach().numpy(), rtol=1e-9, atol=1e-12, name=f"cache['h'][{k}] (h_{k})")


@pytest.mark.question("forward")
@pytest.mark.points(1)
@pytest.mark.parametrize(
    "activation, output", [("sigmoid", "softmax"), ("tanh", "linear"), ("relu", "softmax"), ("relu", "linear")]
)
@pytest.mark.requirement("R0.2", "R0.7", "R3.1", "R3.2")
def test_forward_matches_torch(submission, rng, activation, output):
    X, y, params = random_problem(rng, int(rng.integers(2, 5)), output)
    assert_forward_matches_torch(submission, X, y, params, activation, output)


@pytest.mark.question("forward")
@pytest.mark.points(1)
@pytest.mark.parametrize("output", ["softmax", "linear"])
@pytest.mark.requirement("R0.8")
def test_forward_one_example(submission, rng, output):
    X, y, params = random_problem(rng, 3, output, batch=1)
    assert_forward_matches_torch(submission, X, y, params, "tanh", output)


@pytest.mark.question("forward")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.1")
def test_forward_without_hidden_layer(submission, rng):
    X, y, params = random_problem(rng, 1, "softmax")
    cache = submission.forward(X, params, "tanh", "softmax")
    a_1 = X @ params["W"][0].T + params["b"][0]
    assert_close(cache["a"][0], a_1, rtol=1e-9, name="a_1")
    assert_close(cache["h"][1], torch.softmax(torch.tensor(a_1), dim=1).numpy(), rtol=1e-9, name="h_1 = softmax(a_1)")


@pytest.mark.question("backward_softmax")
@pytest.mark.points(2)
@pytest.mark.parametrize("activation", TORCH)
@pytest.mark.requirement("R0.3", "R0.4", "R0.7", "R4.1", "R4.3")
def test_backward_softmax_matches_autograd(submission, reference, rng, activation):
    X, y, params = random_problem(rng, int(rng.integers(2, 5)), "softmax")
    assert_matches_autograd(submission, reference, X, y, params, activation, "softmax")


@pytest.mark.question("backward_softmax")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.8")
def test_backward_softmax_one_example(submission, reference, rng):
    X, y, params = random_problem(rng, 3, "softmax", batch=1)
    assert_matches_autograd(submission, reference, X, y, params, "sigmoid", "softmax")


@pytest.mark.question("backward_softmax")
@pytest.mark.points(3)
@pytest.mark.requirement("R4.1")
def test_backward_softmax_numerical(submission, reference, rng):
    X, y, params = random_problem(rng, 3, "softmax")
    grads = submission.backward(reference.forward(X, params, "tanh", "softmax"), y, params, "tanh", "softmax")
    for key in ("W", "b"):
        for k in range(1, 4):

            def loss(value):
                changed = {name: list(values) for name, values in params.items()}
                changed[key][k - 1] = value
                return torch_network(X, y, changed, "tanh", "softmax")[0].item()

            # An absolute floor, not check_gradient's relative error: some entries are ~1e-7.
            numeric = numerical_gradient(loss, params[key][k - 1])
            name = f"grads[{key!r}][{k - 1}] vs central differences"
            assert_close(grads[key][k - 1], numeric, rtol=1e-5, atol=1e-8, name=name)


@pytest.mark.question("backward_linear")
@pytest.mark.points(1)
@pytest.mark.parametrize("activation", TORCH)
@pytest.mark.requirement("R4.2", "R4.3")
def test_backward_linear_matches_autograd(submission, reference, rng, activation):
    X, y, params = random_problem(rng, int(rng.integers(2, 5)), "linear")
    assert_matches_autograd(submission, reference, X, y, params, activation, "linear")


@pytest.mark.question("backward_linear")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.8")
def test_backward_linear_one_example(submission, reference, rng):
    X, y, params = random_problem(rng, 3, "linear", batch=1)
    assert_matches_autograd(submission, reference, X, y, params, "relu", "linear")


@pytest.mark.question("backward_linear")
@pytest.mark.points(1)
@pytest.mark.requirement("R4.2")
def test_backward_linear_regression(submission, reference, rng):
    X, y, params = random_problem(rng, 1, "linear")
    residual = X @ params["W"][0].T + params["b"][0] - y
    grads = submission.backward(reference.forward(X, params, "relu", "linear"), y, params, "relu", "linear")
    assert_close(grads["W"][0], 2 * residual.T @ X / len(X), rtol=1e-9, atol=1e-12, name="grads['W'][0]")
    assert_close(grads["b"][0], 2 * residual.mean(axis=0), rtol=1e-9, atol=1e-12, name="grads['b'][0]")

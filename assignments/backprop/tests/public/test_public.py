"""Public tests: small fixed cases you can check by hand. The hidden tests use random
shapes, depths and seeds, compare with PyTorch's autograd, and probe numerical stability."""

import numpy as np
import pytest

from grader.checks import assert_close, assert_distribution, assert_shape, check_gradient
from grader.datasets import digits, stratified_split

A = np.array([-2.0, -0.5, 0.5, 2.0])


def logistic(a):
    return 1 / (1 + np.exp(-a))


def loss_of(X, y, params, g, output):
    """The network's loss computed straight from equations (9)-(15), for numerical gradients."""
    h = X
    for k, (W, b) in enumerate(zip(params["W"], params["b"]), start=1):
        h = h @ W.T + b if k == len(params["W"]) else g(h @ W.T + b)
    if output == "linear":
        return np.sum((h - y) ** 2) / len(X)
    z = h - h.max(axis=1, keepdims=True)
    return -np.mean(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1)))


def cache_of(X, params, g, output):
    a, h = [], [X]
    for k, (W, b) in enumerate(zip(params["W"], params["b"]), start=1):
        a.append(h[-1] @ W.T + b)
        h.append(g(a[-1]) if k < len(params["W"]) else a[-1])
    if output == "softmax":
        h[-1] = np.exp(a[-1]) / np.exp(a[-1]).sum(axis=1, keepdims=True)
    return {"a": a, "h": h}


def small_network(seed):
    rng = np.random.default_rng(seed)
    sizes = [3, 4, 2]
    return {
        "W": [rng.normal(size=(m, n)) for n, m in zip(sizes[:-1], sizes[1:])],
        "b": [rng.normal(size=m) for m in sizes[1:]],
    }


def check_all_gradients(submission, X, y, params, activation, g, output):
    grads = submission.backward(cache_of(X, params, g, output), y, params, activation, output)
    for key in ("W", "b"):
        for k, theta in enumerate(params[key], start=1):

            def loss(value):
                changed = {name: list(values) for name, values in params.items()}
                changed[key][k - 1] = value
                return loss_of(X, y, changed, g, output)

            check_gradient(loss, theta, grads[key][k - 1], name=f"grads[{key!r}][{k - 1}] (layer {k})")


@pytest.mark.question("activations")
@pytest.mark.points(1)
@pytest.mark.requirement("R1.2")
def test_activation_values(submission):
    assert_close(submission.sigmoid(A), logistic(A), name="sigmoid")
    assert_close(submission.tanh(A), np.tanh(A), name="tanh")
    assert_close(submission.relu(A), [0.0, 0.0, 0.5, 2.0], name="relu")


@pytest.mark.question("activations")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.5")
def test_activation_derivatives_match_finite_differences(submission):
    eps = 1e-6
    for name, g in [("sigmoid", logistic), ("tanh", np.tanh), ("relu", lambda a: np.maximum(a, 0))]:
        expected = (g(A + eps) - g(A - eps)) / (2 * eps)
        assert_close(getattr(submission, f"{name}_grad")(A), expected, rtol=1e-6, atol=1e-8, name=f"{name}_grad")


@pytest.mark.question("softmax")
@pytest.mark.points(3)
@pytest.mark.requirement("R2.1")
def test_softmax_small(submission):
    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    p = submission.softmax(a)
    assert_distribution(p, axis=-1, name="softmax(a)")
    assert_close(p, np.exp(a) / np.exp(a).sum(axis=1, keepdims=True), name="softmax(a)")


@pytest.mark.question("losses")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.3")
def test_cross_entropy_small(submission):
    a = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    expected = -(np.log(np.exp(2) / (np.exp(2) + np.exp(1) + 1)) + np.log(1 / 3)) / 2
    assert_close(submission.cross_entropy(a, y), expected, name="cross_entropy")


@pytest.mark.question("losses")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.5")
def test_squared_error_small(submission):
    y_hat = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]])
    y = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert_close(submission.squared_error(y_hat, y), (4 + 2 + 10) / 3, name="squared_error")


@pytest.mark.question("forward")
@pytest.mark.points(4)
@pytest.mark.requirement("R3.1", "R3.2")
def test_forward_by_hand(submission):
    X = np.array([[1.0, 2.0], [0.0, 1.0]])
    params = {
        "W": [np.array([[1.0, 0.0], [0.0, -1.0], [1.0, 1.0]]), np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]])],
        "b": [np.array([0.0, 1.0, -3.0]), np.array([0.0, -1.0])],
    }
    cache = submission.forward(X, params, "relu", "softmax")
    assert len(cache["a"]) == 2 and len(cache["h"]) == 3, "expected 2 pre-activations and 3 activations"
    assert_close(cache["h"][0], X, name="h_0")
    assert_close(cache["a"][0], [[1.0, -1.0, 0.0], [0.0, 0.0, -2.0]], name="a_1")
    assert_close(cache["h"][1], [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], name="h_1")
    assert_close(cache["a"][1], [[1.0, 1.0], [0.0, -1.0]], name="a_2")
    assert_close(cache["h"][2], [[0.5, 0.5], [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))]], name="h_2")


@pytest.mark.question("backward_softmax")
@pytest.mark.points(4)
@pytest.mark.requirement("R4.1")
def test_backward_softmax_small(submission):
    X = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5], [-1.5, 0.5, 0.0]])
    check_all_gradients(submission, X, np.array([1, 0, 1]), small_network(0), "tanh", np.tanh, "softmax")


@pytest.mark.question("backward_linear")
@pytest.mark.points(3)
@pytest.mark.requirement("R4.2")
def test_backward_linear_small(submission):
    X = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
    y = np.array([[1.0, -1.0], [0.5, 2.0]])
    check_all_gradients(submission, X, y, small_network(1), "sigmoid", logistic, "linear")


@pytest.mark.question("sigmoid_neuron")
@pytest.mark.points(3)
@pytest.mark.requirement("R5.1")
def test_sigmoid_neuron_one_step(submission):
    x = np.array([1.0, -1.0, 2.0])
    y = np.array([1.0, 0.0, 1.0])
    result = submission.sigmoid_neuron_gd(x, y, 0.0, 0.0, 2.0, 1)
    # At w = b = 0 every f_i is 1/2, so r_i = (2/3)(1/2 - y_i)(1/4) = -1/12, 1/12, -1/12.
    assert_close(result["w"], -2.0 * (-1 / 12 - 1 / 12 - 2 / 12), name="w after one step")
    assert_close(result["b"], -2.0 * (-1 / 12), name="b after one step")
    assert len(result["losses"]) == 2, f"losses must hold steps + 1 = 2 values, got {len(result['losses'])}"
    assert_close(result["losses"][0], 0.25, name="losses[0]")


@pytest.mark.question("training")
@pytest.mark.points(1)
@pytest.mark.requirement("R6.1")
def test_init_params_shapes(submission):
    params = submission.init_params([5, 4, 3], 0)
    for k, (n_in, n_out) in enumerate([(5, 4), (4, 3)]):
        assert_shape(params["W"][k], (n_out, n_in), name=f"W_{k + 1}")
        assert_close(params["b"][k], np.zeros(n_out), name=f"b_{k + 1}")


def accuracy(X, y, params, g):
    h = X
    for W, b in zip(params["W"][:-1], params["b"][:-1]):
        h = g(h @ W.T + b)
    return float(np.mean((h @ params["W"][-1].T + params["b"][-1]).argmax(axis=1) == y))


@pytest.mark.question("training")
@pytest.mark.points(1)
@pytest.mark.requirement("R6.3")
def test_xor(submission):
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    params = submission.train(X, y, [2, 8, 2], "tanh", 1.0, 1000, 0)
    assert accuracy(X, y, params, np.tanh) == 1.0, "the trained network must classify all four XOR inputs"


@pytest.mark.question("training")
@pytest.mark.points(1)
@pytest.mark.requirement("R6.4")
def test_digits(submission):
    """scikit-learn's digits (as load_digits gives them), a quarter of each digit's images held out."""
    pixels, labels = digits()
    X_train, X_test, y_train, y_test = stratified_split(pixels / 16.0, labels, 0.25, np.random.default_rng(0))
    params = submission.train(X_train, y_train, [64, 32, 10], "relu", 0.5, 300, 0)
    score = accuracy(X_test, y_test, params, lambda a: np.maximum(a, 0))
    assert score >= 0.93, f"test accuracy {score:.3f} is below 0.93"

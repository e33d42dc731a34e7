import numpy as np
import pytest
import torch

from grader.checks import assert_all_close, assert_close, assert_inputs_unchanged, assert_shape
from grader.datasets import digits, stratified_split

neuron_question = pytest.mark.question("sigmoid_neuron")
training_question = pytest.mark.question("training")

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


def neuron_problem(rng):
    N = int(rng.integers(3, 30))
    x, y = 2 * rng.normal(size=N), rng.random(size=N)
    return x, y, float(rng.normal()), float(rng.normal()), float(rng.uniform(0.5, 3.0))


def torch_gd(x, y, w, b, lr, steps):
    """Gradient descent on the loss (22), with the gradient from autograd."""
    w = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    x, y = torch.tensor(x), torch.tensor(y)
    losses = []
    for t in range(steps + 1):
        loss = ((y - torch.sigmoid(w * x + b)) ** 2).mean()
        losses.append(loss.item())
        if t < steps:
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
                b -= lr * b.grad
            w.grad, b.grad = None, None
    return w.item(), b.item(), losses


def assert_neuron_matches_torch(submission, rng, steps):
    x, y, w, b, lr = neuron_problem(rng)
    result = submission.sigmoid_neuron_gd(x, y, w, b, lr, steps)
    w_t, b_t, losses = torch_gd(x, y, w, b, lr, steps)
    got = len(result["losses"])
    assert got == steps + 1, f"losses must hold steps + 1 = {steps + 1} values, got {got}"
    assert_close(result["losses"], losses, rtol=1e-8, atol=1e-12, name="losses")
    assert_close(result["w"], w_t, rtol=1e-8, atol=1e-12, name=f"w after {steps} steps")
    assert_close(result["b"], b_t, rtol=1e-8, atol=1e-12, name=f"b after {steps} steps")


@neuron_question
@pytest.mark.points(1)
@pytest.mark.requirement("R5.1")
def test_neuron_zero_steps(submission, rng):
    assert_neuron_matches_torch(submission, rng, 0)


@neuron_question
@pytest.mark.points(2)
@pytest.mark.requirement("R5.1")
def test_neuron_one_step(submission, rng):
    assert_neuron_matches_torch(submission, rng, 1)


@neuron_question
@pytest.mark.points(3)
@pytest.mark.requirement("R5.1")
def test_neuron_many_steps(submission, rng):
    assert_neuron_matches_torch(submission, rng, int(rng.integers(20, 60)))


@training_question
@pytest.mark.points(1)
@pytest.mark.requirement("R6.1")
def test_init_params_shapes(submission, rng):
    sizes = [int(n) for n in rng.integers(1, 10, size=rng.integers(2, 6))]
    params = submission.init_params(sizes, int(rng.integers(2**31)))
    L = len(sizes) - 1
    assert len(params["W"]) == len(params["b"]) == L, f"layer_sizes {sizes} describe {L} layers"
    for k in range(1, L + 1):
        assert_shape(params["W"][k - 1], (sizes[k], sizes[k - 1]), name=f"W_{k}")
        assert_close(params["b"][k - 1], np.zeros(sizes[k]), name=f"b_{k}")


@training_question
@pytest.mark.points(1)
@pytest.mark.requirement("R6.1")
def test_init_params_scale(submission, rng):
    n_in = int(rng.integers(200, 400))
    W = np.asarray(submission.init_params([n_in, 300], int(rng.integers(2**31)))["W"][0])
    assert abs(W.mean()) * np.sqrt(n_in) < 0.05, f"weights should have mean 0, got {W.mean():.4g}"
    want = 1 / np.sqrt(n_in)
    assert abs(W.std() / want - 1) < 0.02, f"weights should have std 1/sqrt({n_in}) = {want:.4g}, got {W.std():.4g}"


@training_question
@pytest.mark.points(1)
@pytest.mark.requirement("R0.9", "R6.5")
def test_seeds(submission, rng):
    seed = int(rng.integers(2**31))
    first = submission.train(XOR_X, XOR_Y, [2, 8, 2], "tanh", 1.0, 20, seed)
    again = submission.train(XOR_X, XOR_Y, [2, 8, 2], "tanh", 1.0, 20, seed)
    other = submission.train(XOR_X, XOR_Y, [2, 8, 2], "tanh", 1.0, 20, seed + 1)
    for k in range(2):
        assert_close(again["W"][k], first["W"][k], rtol=0, atol=0, name=f"W_{k + 1} trained twice with seed {seed}")
    assert not np.allclose(other["W"][0], first["W"][0]), "seeds 1 apart gave the same W_1"


@training_question
@pytest.mark.points(2)
@pytest.mark.requirement("R0.7", "R6.2")
def test_train_is_gradient_descent(submission, reference, rng):
    """The mechanism, not only the outcome: every parameter (biases too) moves by (26) at each epoch,
    starting from the student's own init_params(layer_sizes, seed)."""
    sizes = [3, int(rng.integers(3, 7)), 4]
    X, y = rng.normal(size=(9, 3)), rng.integers(0, 4, size=9)
    lr, seed = float(rng.uniform(0.2, 1.0)), int(rng.integers(2**31))
    expected = submission.init_params(sizes, seed)
    for _ in range(2):
        grads = reference.backward(reference.forward(X, expected, "sigmoid", "softmax"), y, expected, "sigmoid", "softmax")
        expected = {key: [p - lr * d for p, d in zip(expected[key], grads[key])] for key in ("W", "b")}
    got = assert_inputs_unchanged(submission.train, X, y, sizes, "sigmoid", lr, 2, seed)
    assert_all_close({key: got[key] for key in ("W", "b")}, expected, rtol=1e-9, atol=1e-12,
                     name="params after 2 epochs of (26) from init_params(layer_sizes, seed)")


def accuracy(reference, X, y, params, activation):
    return float(np.mean(np.argmax(reference.forward(X, params, activation, "softmax")["h"][-1], axis=1) == y))


@training_question
@pytest.mark.points(2)
@pytest.mark.requirement("R6.3")
def test_xor_any_seed(submission, reference, rng):
    for seed in rng.integers(2**31, size=3):
        params = submission.train(XOR_X, XOR_Y, [2, 8, 2], "tanh", 1.0, 1000, int(seed))
        score = accuracy(reference, XOR_X, XOR_Y, params, "tanh")
        assert score == 1.0, f"with seed {seed}, only {score:.0%} of the XOR inputs are classified correctly"


@training_question
@pytest.mark.points(3)
@pytest.mark.requirement("R6.4")
def test_digits_random_split(submission, reference, rng):
    pixels, labels = digits()
    X_train, X_test, y_train, y_test = stratified_split(pixels / 16.0, labels, 0.25, rng)
    width = int(rng.integers(32, 65))
    params = submission.train(X_train, y_train, [64, width, 10], "relu", 0.5, 300, int(rng.integers(2**31)))
    score = accuracy(reference, X_test, y_test, params, "relu")
    assert score >= 0.93, f"test accuracy {score:.3f} with a hidden layer of {width} units is below 0.93"

import numpy as np
import pytest
import torch

from grader.checks import assert_close, assert_dtype, assert_finite, assert_shape

pytestmark = pytest.mark.question("activations")

TORCH = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def random_input(rng):
    shape = tuple(int(n) for n in rng.integers(1, 7, size=rng.integers(1, 4)))
    return 3 * rng.normal(size=shape)


@pytest.mark.points(1)
@pytest.mark.parametrize("name", TORCH)
@pytest.mark.requirement("R1.2")
def test_values_match_torch(submission, rng, name):
    a = random_input(rng)
    assert_close(getattr(submission, name)(a), TORCH[name](torch.tensor(a)).numpy(), rtol=1e-10, atol=1e-12, name=name)


@pytest.mark.points(1)
@pytest.mark.parametrize("name", TORCH)
@pytest.mark.requirement("R0.5")
def test_derivatives_match_autograd(submission, rng, name):
    a = random_input(rng)
    leaf = torch.tensor(a, requires_grad=True)
    TORCH[name](leaf).sum().backward()  # each output depends on its own input only
    assert_close(getattr(submission, f"{name}_grad")(a), leaf.grad.numpy(), rtol=1e-10, atol=1e-12, name=f"{name}_grad")


@pytest.mark.points(1)
@pytest.mark.requirement("R0.5")
def test_relu_at_zero(submission, rng):
    a = rng.normal(size=(4, 5))
    a[rng.random(size=a.shape) < 0.5] = 0.0
    assert_close(submission.relu(a), np.maximum(a, 0), name="relu")
    assert_close(submission.relu_grad(a), (a > 0).astype(float), name="relu_grad (relu'(0) is 0)")


# The derivatives lie in [0, 1/4] and [0, 1]: any formula evaluated in float64 is within a few units
# of 2**-53 of the true value in absolute terms, so that is the tolerance. The true derivative is
# used (e^-|a| / (1 + e^-|a|)^2, and 4 e^-2|a| / (1 + e^-2|a|)^2 for tanh): the handout's
# sigma (1 - sigma) rounds it to 0, a more accurate form such as 1/cosh^2 keeps a tiny 1e-123.
DERIVATIVE_ATOL = 1e-15


def true_sigmoid_grad(a):
    e = np.exp(-np.abs(a))
    return e / (1 + e) ** 2


def true_tanh_grad(a):
    e = np.exp(-2 * np.abs(a))
    return 4 * e / (1 + e) ** 2


@pytest.mark.points(2)
@pytest.mark.requirement("R1.1")
def test_extreme_inputs(submission, rng):
    a = np.concatenate([[-1000.0, -750.0, -283.0, 283.0, 750.0, 1000.0], rng.uniform(-900, 900, size=6)])
    for name, got, want, atol in [
        ("sigmoid", submission.sigmoid(a), torch.sigmoid(torch.tensor(a)).numpy(), 1e-300),
        ("sigmoid_grad", submission.sigmoid_grad(a), true_sigmoid_grad(a), DERIVATIVE_ATOL),
        ("tanh", submission.tanh(a), np.tanh(a), 1e-300),
        ("tanh_grad", submission.tanh_grad(a), true_tanh_grad(a), DERIVATIVE_ATOL),
    ]:
        assert_finite(got, name=f"{name} at large |a|")
        assert_close(got, want, rtol=1e-10, atol=atol, name=f"{name} at large |a|")
        if name.endswith("_grad"):
            assert (np.asarray(got) >= 0).all(), f"{name} at large |a|: a derivative of an increasing function is >= 0"


@pytest.mark.points(1)
@pytest.mark.requirement("R0.1", "R1.2")
def test_shapes_and_dtypes(submission, rng):
    a = random_input(rng)
    for name in [*TORCH, *(f"{n}_grad" for n in TORCH)]:
        out = getattr(submission, name)(a)
        assert_shape(out, a.shape, name=name)
        assert_dtype(out, "float64", name=name)

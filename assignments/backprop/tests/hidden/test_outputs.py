import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.checks import assert_close, assert_distribution, assert_finite, assert_inputs_unchanged, assert_shape

softmax_question = pytest.mark.question("softmax")
losses_question = pytest.mark.question("losses")


def logits(rng, scale=3.0):
    n, k = (int(v) for v in rng.integers(1, 9, size=2))
    return scale * rng.normal(size=(n, k + 1))


def labels(rng, a):
    return rng.integers(0, a.shape[1], size=a.shape[0])


def torch_softmax(a):
    return torch.softmax(torch.tensor(a), dim=-1).numpy()


# Fixed adversarial logits beside the random ones: rows far apart, so that a shift by the global
# maximum (instead of each row's) underflows a whole row to 0/0, whatever the seed draws.
ROWS_FAR_APART = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1003.0], [0.5, -0.5, 2.0]])


@softmax_question
@pytest.mark.points(1)
@pytest.mark.requirement("R2.1")
def test_softmax_matches_torch(submission, rng):
    a = logits(rng)
    p = submission.softmax(a)
    assert_distribution(p, axis=-1, name="softmax(a)")
    assert_close(p, torch_softmax(a), rtol=1e-10, atol=1e-14, name="softmax(a)")


@softmax_question
@pytest.mark.points(1)
@pytest.mark.requirement("R2.1")
def test_softmax_vector(submission, rng):
    a = rng.normal(size=int(rng.integers(2, 10)))
    assert_close(submission.softmax(a), torch_softmax(a), rtol=1e-10, name="softmax of a 1-D array")


@softmax_question
@pytest.mark.points(1)
@pytest.mark.requirement("R2.2")
def test_softmax_large_logits(submission, rng):
    a = logits(rng, scale=1000.0)
    a[0, :2] = [1000.0, 999.0]
    p = submission.softmax(a)
    assert_finite(p, name="softmax of logits around 1000")
    assert_close(p, torch_softmax(a), rtol=1e-10, atol=1e-300, name="softmax of logits around 1000")


@softmax_question
@pytest.mark.points(2)
@pytest.mark.requirement("R2.2")
def test_softmax_rows_far_apart(submission):
    p = submission.softmax(ROWS_FAR_APART)
    assert_finite(p, name="softmax of rows far apart (each row is shifted by its own maximum)")
    assert_close(p, torch_softmax(ROWS_FAR_APART), rtol=1e-10, atol=1e-300, name="softmax of rows far apart")


@softmax_question
@pytest.mark.points(1)
@pytest.mark.requirement("R0.7", "R0.8")
def test_softmax_one_row_and_inputs_unchanged(submission, rng):
    a = logits(rng)[:1]
    p = assert_inputs_unchanged(submission.softmax, a)
    assert_shape(p, a.shape, name="softmax of a (1, k) batch")
    assert_close(p, torch_softmax(a), rtol=1e-10, atol=1e-14, name="softmax of a (1, k) batch")


@softmax_question
@pytest.mark.points(1)
@pytest.mark.requirement("R2.2")
def test_softmax_shift_invariance(submission, rng):
    a = logits(rng)
    shift = rng.uniform(-800, 800, size=(a.shape[0], 1))
    p = submission.softmax(a + shift)
    assert_finite(p, name="softmax(a + c)")
    assert_close(p, torch_softmax(a), rtol=1e-8, atol=1e-14, name="softmax(a + c) vs softmax(a)")


@losses_question
@pytest.mark.points(1)
@pytest.mark.requirement("R0.4", "R2.3")
def test_cross_entropy_matches_torch(submission, rng):
    a = logits(rng)
    y = labels(rng, a)
    expected = F.cross_entropy(torch.tensor(a), torch.tensor(y)).item()
    assert_close(submission.cross_entropy(a, y), expected, rtol=1e-10, name="cross_entropy")


@losses_question
@pytest.mark.points(1)
@pytest.mark.requirement("R2.4")
def test_cross_entropy_large_logits(submission, rng):
    a = logits(rng, scale=1000.0)
    y = labels(rng, a)
    y[0] = int(np.argmin(a[0]))  # a confidently wrong prediction: softmax rounds its probability to 0
    loss = submission.cross_entropy(a, y)
    assert_finite(loss, name="cross_entropy of logits around 1000")
    expected = F.cross_entropy(torch.tensor(a), torch.tensor(y)).item()
    assert_close(loss, expected, rtol=1e-10, name="cross_entropy of logits around 1000")


@losses_question
@pytest.mark.points(1)
@pytest.mark.requirement("R0.6", "R2.4")
def test_cross_entropy_rows_far_apart(submission):
    y = np.array([2, 0, 1])
    loss = assert_inputs_unchanged(submission.cross_entropy, ROWS_FAR_APART, y)
    assert isinstance(loss, float), f"cross_entropy must return a Python float, got {type(loss).__name__}"
    expected = F.cross_entropy(torch.tensor(ROWS_FAR_APART), torch.tensor(y)).item()
    assert_close(loss, expected, rtol=1e-10, name="cross_entropy of rows far apart")


@losses_question
@pytest.mark.points(1)
@pytest.mark.requirement("R0.6", "R0.8")
def test_losses_of_one_example(submission, rng):
    a = logits(rng)[:1]
    y = labels(rng, a)
    expected = F.cross_entropy(torch.tensor(a), torch.tensor(y)).item()
    assert_close(submission.cross_entropy(a, y), expected, rtol=1e-10, name="cross_entropy of one example")
    target = rng.normal(size=a.shape)
    loss = assert_inputs_unchanged(submission.squared_error, a, target)
    assert isinstance(loss, float), f"squared_error must return a Python float, got {type(loss).__name__}"
    assert_close(loss, float(np.sum((a - target) ** 2)), rtol=1e-10, name="squared_error of one example")


@losses_question
@pytest.mark.points(1)
@pytest.mark.requirement("R2.3")
def test_cross_entropy_uniform_logits(submission, rng):
    a = logits(rng)
    a[:] = rng.uniform(-1000, 1000)
    loss = submission.cross_entropy(a, labels(rng, a))
    assert_close(loss, np.log(a.shape[1]), rtol=1e-10, name="cross_entropy of equal logits")


@losses_question
@pytest.mark.points(1)
@pytest.mark.requirement("R2.5")
def test_squared_error_matches_torch(submission, rng):
    y_hat = logits(rng)
    y = rng.normal(size=y_hat.shape)
    expected = F.mse_loss(torch.tensor(y_hat), torch.tensor(y), reduction="sum").item() / len(y)
    assert_close(submission.squared_error(y_hat, y), expected, rtol=1e-10, name="squared_error")

"""Public tests for Parts 1 to 3: one-hot codes, the cross-entropy, sampling at a
temperature, and the model's forward pass."""

import numpy as np
import pytest
import torch

from grader.checks import assert_close, assert_shape


@pytest.mark.question("encoding")
@pytest.mark.points(2)
@pytest.mark.requirement("R1.1", "R0.1")
def test_one_hot_matches_torch(submission, rng, lm):
    indices = rng.integers(0, lm.V, (5, 3))
    codes = submission.one_hot(indices, lm.V)
    assert_shape(codes, (5, 3, lm.V), name="one_hot(indices, 8)")
    expected = torch.nn.functional.one_hot(torch.as_tensor(indices), lm.V).float()
    assert_close(codes, expected, rtol=0, atol=0, name="one_hot(indices, 8)")


@pytest.mark.question("encoding")
@pytest.mark.points(2)
@pytest.mark.requirement("R1.2")
def test_cross_entropy_matches_torch(submission, rng, lm):
    logits = torch.as_tensor(rng.normal(0.0, 2.0, (20, lm.V)))
    targets = torch.as_tensor(rng.integers(0, lm.V, 20))
    loss = submission.cross_entropy(logits, targets)
    expected = torch.nn.functional.cross_entropy(logits, targets)
    assert_close(loss, expected, rtol=1e-6, name="cross_entropy(logits, targets)")


@pytest.mark.question("sampling")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.2")
def test_sampling_at_temperature_zero_takes_the_argmax(submission, rng, lm):
    logits = torch.as_tensor(rng.normal(0.0, 1.0, (50, lm.V)))
    choices = submission.sample_from_logits(logits, 0.0, 0)
    assert_shape(choices, (50,), name="sample_from_logits(logits, 0, seed)")
    assert_close(choices, logits.argmax(dim=-1), rtol=0, atol=0, name="choices at temperature 0")


@pytest.mark.question("sampling")
@pytest.mark.points(3)
@pytest.mark.requirement("R2.1")
def test_sampling_at_temperature_one_follows_the_softmax(submission, rng, lm):
    row = rng.normal(0.0, 1.5, lm.V)
    logits = torch.as_tensor(np.tile(row, (4000, 1)))
    choices = submission.sample_from_logits(logits, 1.0, 1234)
    assert_shape(choices, (4000,), name="choices")
    p_value, counts = lm.goodness_of_fit(lm.softmax(logits.numpy()), np.asarray(choices))
    assert p_value >= lm.FALSE_ALARM, f"the choices do not follow softmax(logits) (p = {p_value:.2g}; {counts})"


@pytest.mark.question("model")
@pytest.mark.points(3)
@pytest.mark.requirement("R3.5", "R0.2")
def test_forward_logits_matches_torch_lstm(submission, rng, lm):
    weights = lm.random_weights(rng, hidden=16)
    x = rng.integers(0, lm.V, (12, 3))
    logits = submission.forward_logits(weights, x)
    assert_shape(logits, (12, 3, lm.V), name="forward_logits(weights, x)")
    assert_close(logits, lm.oracle_logits(weights, x), rtol=1e-4, atol=1e-5, name="logits")


@pytest.mark.question("model")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.4")
def test_model_weights_and_logits(submission, rng, lm):
    model = submission.CharRNN(lm.V, 16)
    weights = model.weights()
    assert isinstance(weights, dict), "CharRNN.weights() must return a dict of tensors"
    expected_shapes = lm.weight_shapes(16)
    assert sorted(weights) == sorted(expected_shapes), f"weights() keys: expected {sorted(expected_shapes)}, got {sorted(weights)}"
    for name, shape in expected_shapes.items():
        assert_shape(weights[name], shape, name=f"weights()[{name!r}]")
    x = rng.integers(0, lm.V, 30)
    logits = model.logits(x)
    assert_shape(logits, (30, lm.V), name="model.logits(x)")
    assert_close(logits, lm.oracle_logits(weights, x[:, None])[:, 0], rtol=1e-4, atol=1e-5, name="model.logits(x)")

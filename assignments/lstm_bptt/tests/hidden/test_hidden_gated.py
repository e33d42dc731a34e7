"""Hidden tests for Parts 3 to 5, on other sizes, and against torch.nn.LSTM in float64."""

import numpy as np
import pytest

from grader.checks import assert_close, assert_inputs_unchanged


def lstm_case(rng, cases, biases=None, **size_bounds):
    size = cases.sizes(rng, **size_bounds)
    x, h0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
    c0 = rng.normal(0.0, 0.5, h0.shape)
    params = cases.lstm_params(rng, size["n"], size["d"], biases=biases)
    dh = rng.normal(0.0, 1.0, (size["T"], size["B"], size["d"]))
    return x, h0, c0, params, dh


def assert_lstm_grads_close(grads, expected, label):
    for name, value in expected.items():
        assert_close(grads[name], value, rtol=1e-6, atol=1e-9, name=f"dL/d{name} ({label})")


@pytest.mark.question("lstm_forward")
@pytest.mark.points(4)
@pytest.mark.requirement("R0.3", "R0.5", "R3.1")
def test_lstm_forward_matches_torch_lstm_with_both_biases(submission, rng, cases, oracle):
    x, h0, c0, params, dh = lstm_case(rng, cases, T=(1, 12), B=(1, 5), d=(1, 7))
    bias_share = rng.normal(0.0, 0.5, 4 * h0.shape[1])
    expected = oracle.lstm(x, h0, c0, params, dh, bias_share)
    h, c = assert_inputs_unchanged(submission.lstm_forward, x, h0, c0, params)
    assert_close(h, expected.h, rtol=1e-7, atol=1e-10, name="h")
    assert_close(c, expected.c, rtol=1e-7, atol=1e-10, name="c")


@pytest.mark.question("lstm_forward")
@pytest.mark.points(4)
@pytest.mark.requirement("R3.1")
def test_lstm_forward_matches_reference(submission, reference, rng, cases):
    for bounds in ({"T": (1, 2), "B": (1, 2), "d": (1, 2)}, {"T": (8, 16), "B": (3, 7), "n": (5, 9)}):
        x, h0, c0, params, _ = lstm_case(rng, cases, biases={"f": 1.0}, **bounds)
        h, c = submission.lstm_forward(x, h0, c0, params)
        h_ref, c_ref = reference.lstm_forward(x, h0, c0, params)
        label = f"T={len(x)}, B={len(h0)}, d={h0.shape[1]}"
        assert_close(h, h_ref, rtol=1e-7, atol=1e-10, name=f"h ({label})")
        assert_close(c, c_ref, rtol=1e-7, atol=1e-10, name=f"c ({label})")


@pytest.mark.question("lstm_backward")
@pytest.mark.points(8)
@pytest.mark.requirement("R0.5", "R4.1")
def test_lstm_backward_matches_torch_lstm(submission, rng, cases, oracle):
    for bounds in ({"T": (1, 2), "B": (1, 2), "d": (1, 2)}, {"T": (1, 9), "B": (1, 5)}):  # the boundary, then random
        x, h0, c0, params, dh = lstm_case(rng, cases, **bounds)
        grads = assert_inputs_unchanged(submission.lstm_backward, x, h0, c0, params, dh)
        label = f"T={len(x)}, B={len(h0)}, d={h0.shape[1]}"
        assert_lstm_grads_close(grads, oracle.lstm(x, h0, c0, params, dh).grads, label)


@pytest.mark.question("lstm_backward")
@pytest.mark.points(5)
@pytest.mark.requirement("R4.1")
def test_lstm_backward_from_the_last_step_only(submission, rng, cases, oracle):
    """A many-to-one loss: only h_T is scored, so every gradient has to flow back in time."""
    x, h0, c0, params, dh = lstm_case(rng, cases, biases={"f": 2.0}, T=(15, 26), B=(1, 3))
    dh[:-1] = 0.0
    grads = submission.lstm_backward(x, h0, c0, params, dh)
    assert_lstm_grads_close(grads, oracle.lstm(x, h0, c0, params, dh).grads, f"loss on h_T only, T={len(x)}")


@pytest.mark.question("gru_forward")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.5", "R5.1")
def test_gru_forward_matches_reference(submission, reference, rng, cases):
    for bounds in ({"T": (1, 2), "B": (1, 2), "d": (1, 2)}, {"T": (1, 12), "B": (1, 5)}):  # the boundary, then random
        size = cases.sizes(rng, **bounds)
        x, h0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
        params = cases.gru_params(rng, size["n"], size["d"], scale=0.8)
        h = assert_inputs_unchanged(submission.gru_forward, x, h0, params)
        label = f"T={len(x)}, B={len(h0)}, d={h0.shape[1]}"
        assert_close(h, reference.gru_forward(x, h0, params), rtol=1e-7, atol=1e-10, name=f"h ({label})")


@pytest.mark.question("gru_forward")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.1")
def test_gru_with_a_closed_update_gate_keeps_its_state(submission, rng, cases):
    size = cases.sizes(rng)
    x, h0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
    params = cases.gru_params(rng, size["n"], size["d"], biases={"z": -60.0})
    h = submission.gru_forward(x, h0, params)
    expected = np.broadcast_to(h0, (size["T"], size["B"], size["d"]))
    assert_close(h, expected, rtol=1e-12, atol=1e-12, name="h with z_t = 0")

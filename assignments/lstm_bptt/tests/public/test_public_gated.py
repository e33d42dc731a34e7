"""Public tests for Parts 3 to 5: the LSTM forward and backward passes, and the GRU."""

import numpy as np
import pytest
import torch

from grader.checks import assert_close, assert_shape, check_gradient


def lstm_case(rng, cases):
    size = cases.sizes(rng)
    x, h0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
    c0 = rng.normal(0.0, 0.5, h0.shape)
    dh = rng.normal(0.0, 1.0, (size["T"], size["B"], size["d"]))
    return size, x, h0, c0, cases.lstm_params(rng, size["n"], size["d"]), dh


@pytest.mark.question("lstm_forward")
@pytest.mark.points(4)
@pytest.mark.requirement("R0.1", "R3.1")
def test_lstm_forward_matches_torch_lstm(submission, rng, cases, oracle):
    """torch.nn.LSTM stacks its gate blocks in the order i, f, g, o (handout, Part 3)."""
    size, x, h0, c0, params, dh = lstm_case(rng, cases)
    h, c = submission.lstm_forward(x, h0, c0, params)
    assert_shape(h, (size["T"], size["B"], size["d"]), name="h")
    assert_shape(c, (size["T"], size["B"], size["d"]), name="c")
    expected = oracle.lstm(x, h0, c0, params, dh)
    assert_close(h, expected.h, rtol=1e-7, atol=1e-10, name="h")
    assert_close(c, expected.c, rtol=1e-7, atol=1e-10, name="c")


@pytest.mark.question("lstm_backward")
@pytest.mark.points(5)
@pytest.mark.requirement("R4.1")
def test_lstm_backward_matches_finite_differences(submission, rng, cases, oracle):
    _, x, h0, c0, params, dh = lstm_case(rng, cases)
    grads = submission.lstm_backward(x, h0, c0, params, dh)
    loss = lambda params_=params, h0_=h0, c0_=c0: oracle.lstm(x, h0_, c0_, params_, dh).loss
    for name in ("U_f", "W_i", "b_g", "W_o"):
        f = lambda v, name=name: loss(params_=cases.with_entry(params, name, v))
        check_gradient(f, params[name], grads[name], max_entries=3, rng=rng, name=f"dL/d{name}")
    check_gradient(lambda v: loss(h0_=v), h0, grads["h0"], max_entries=3, rng=rng, name="dL/dh0")
    check_gradient(lambda v: loss(c0_=v), c0, grads["c0"], max_entries=3, rng=rng, name="dL/dc0")


@pytest.mark.question("gru_forward")
@pytest.mark.points(3)
@pytest.mark.requirement("R5.1")
def test_gru_forward_matches_torch_gru_with_the_reset_gate_open(submission, rng, cases):
    """With r_t = 1 the two GRU forms differ only in z_t versus 1 - z_t (handout, Part 5):
    torch.nn.GRU with the update gate's weights negated is our GRU."""
    size = cases.sizes(rng, T=(2, 10))
    x, h0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
    params = cases.gru_params(rng, size["n"], size["d"], biases={"r": 60.0})
    sign = {"r": 1.0, "z": -1.0, "n": 1.0}  # torch.nn.GRU stacks r, z, n
    stack = lambda prefix: torch.from_numpy(np.concatenate([sign[g] * params[prefix + g] for g in "rzn"]))
    gru = torch.nn.GRU(size["n"], size["d"], dtype=torch.float64)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(stack("U_"))
        gru.weight_hh_l0.copy_(stack("W_"))
        gru.bias_ih_l0.copy_(stack("b_"))
        gru.bias_hh_l0.zero_()
        expected, _ = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    h = submission.gru_forward(x, h0, params)
    assert_shape(h, (size["T"], size["B"], size["d"]), name="h")
    assert_close(h, expected.numpy(), rtol=1e-7, atol=1e-10, name="h")

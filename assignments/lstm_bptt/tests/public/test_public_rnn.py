"""Public tests for Parts 1 and 2: the RNN forward pass, its loss, and BPTT."""

import pytest

from grader.checks import assert_close, assert_distribution, assert_shape, check_gradient


def rnn_case(rng, cases):
    size = cases.sizes(rng)
    x, s0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
    params = cases.rnn_params(rng, size["n"], size["d"], size["k"])
    return size, x, s0, cases.targets(rng, size["T"], size["B"], size["k"]), params


@pytest.mark.question("rnn_forward")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.2", "R1.2")
def test_rnn_forward_shapes_and_distributions(submission, rng, cases):
    size, x, s0, _, params = rnn_case(rng, cases)
    s, y = submission.rnn_forward(x, s0, params)
    assert_shape(s, (size["T"], size["B"], size["d"]), name="s")
    assert_shape(y, (size["T"], size["B"], size["k"]), name="y")
    assert_distribution(y, axis=-1, name="y")


@pytest.mark.question("rnn_forward")
@pytest.mark.points(3)
@pytest.mark.requirement("R1.2", "R1.3")
def test_rnn_forward_and_loss_match_torch(submission, rng, cases, oracle):
    _, x, s0, targets, params = rnn_case(rng, cases)
    expected = oracle.rnn(x, s0, targets, params)
    s, y = submission.rnn_forward(x, s0, params)
    assert_close(s, expected.s, rtol=1e-7, atol=1e-10, name="s")
    assert_close(y, expected.y, rtol=1e-7, atol=1e-10, name="y")
    assert_close(submission.rnn_loss(x, s0, targets, params), expected.loss, rtol=1e-8, name="loss")


@pytest.mark.question("rnn_bptt")
@pytest.mark.points(5)
@pytest.mark.requirement("R2.1")
def test_rnn_bptt_matches_finite_differences(submission, rng, cases, oracle):
    _, x, s0, targets, params = rnn_case(rng, cases)
    grads = submission.rnn_bptt(x, s0, targets, params)
    for name, value in params.items():
        loss = lambda v, name=name: oracle.rnn(x, s0, targets, cases.with_entry(params, name, v)).loss
        check_gradient(loss, value, grads[name], max_entries=4, rng=rng, name=f"dL/d{name}")


@pytest.mark.question("rnn_truncated")
@pytest.mark.points(3)
@pytest.mark.requirement("R2.2")
def test_rnn_truncated_bptt_matches_torch_with_detached_windows(submission, rng, cases, oracle):
    _, x, s0, targets, params = rnn_case(rng, cases)
    grads = submission.rnn_bptt(x, s0, targets, params, truncate=2)
    expected = oracle.rnn(x, s0, targets, params, truncate=2).grads
    for name in params:
        assert_close(grads[name], expected[name], rtol=1e-6, atol=1e-9, name=f"dL/d{name} (truncate=2)")

"""Hidden tests for Parts 1 and 2, on other sizes, and against PyTorch autograd in float64."""

import numpy as np
import pytest

from grader.checks import assert_close, assert_distribution, assert_finite, assert_inputs_unchanged


ONE_STEP_ONE_SEQUENCE = {"T": (1, 2), "B": (1, 2)}


def rnn_case(rng, cases, **size_bounds):
    size = cases.sizes(rng, **size_bounds)
    x, s0 = cases.sequence(rng, size["T"], size["B"], size["n"], size["d"])
    params = cases.rnn_params(rng, size["n"], size["d"], size["k"])
    return x, s0, cases.targets(rng, size["T"], size["B"], size["k"]), params


def assert_grads_close(grads, expected, names, label):
    for name in names:
        assert_close(grads[name], expected[name], rtol=1e-6, atol=1e-9, name=f"dL/d{name} ({label})")


@pytest.mark.question("rnn_forward")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.5", "R1.2", "R1.3")
def test_rnn_forward_and_loss_match_reference(submission, reference, rng, cases):
    for bounds in ({"T": (1, 2), "B": (1, 2)}, {"T": (6, 13), "B": (3, 7), "k": (5, 11)}):
        x, s0, targets, params = rnn_case(rng, cases, **bounds)
        s, y = assert_inputs_unchanged(submission.rnn_forward, x, s0, params)
        s_ref, y_ref = reference.rnn_forward(x, s0, params)
        label = f"T={len(x)}, B={len(s0)}"
        assert_close(s, s_ref, rtol=1e-7, atol=1e-10, name=f"s ({label})")
        assert_close(y, y_ref, rtol=1e-7, atol=1e-10, name=f"y ({label})")
        loss = assert_inputs_unchanged(submission.rnn_loss, x, s0, targets, params)
        assert isinstance(loss, float), f"rnn_loss must return a float, got {type(loss).__name__} ({label})"
        assert_close(loss, reference.rnn_loss(x, s0, targets, params), rtol=1e-8, name=f"loss ({label})")


@pytest.mark.question("rnn_forward")
@pytest.mark.points(2)
@pytest.mark.requirement("R1.1")
def test_rnn_forward_is_stable_for_large_logits(submission, rng, cases, oracle):
    """Logits around a thousand: exp overflows unless the maximum is subtracted first. Then examples whose
    logits lie 1200 apart: a shift by the batch's maximum rather than each row's own underflows to 0/0."""
    x, s0, targets, params = rnn_case(rng, cases)
    params["c"] = params["c"] + 1000.0
    apart = rnn_case(rng, cases, B=(2, 5))
    x_apart, params_apart = apart[0], apart[3]
    x_apart[:, :, 0] = np.where(np.arange(x_apart.shape[1]) % 2 == 0, 1.0, -1.0)  # each example's sign
    params_apart["U"][0] = 0.0
    params_apart["U"][0, 0], params_apart["W"][0], params_apart["b"][0] = 100.0, 0.0, 0.0  # s_t[:, 0] = ±1
    params_apart["V"][:, 0] = 600.0  # logits about +600 for even examples, -600 for odd ones
    for (x, s0, targets, params), label in (((x, s0, targets, params), "logits around 1000"),
                                            ((x_apart, apart[1], apart[2], params_apart), "rows 1200 apart")):
        expected = oracle.rnn(x, s0, targets, params)
        _, y = submission.rnn_forward(x, s0, params)
        assert_distribution(y, axis=-1, name=f"y ({label})")
        assert_close(y, expected.y, rtol=1e-7, atol=1e-10, name=f"y ({label})")
        loss = submission.rnn_loss(x, s0, targets, params)
        assert_finite(loss, name=f"loss ({label})")
        assert_close(loss, expected.loss, rtol=1e-8, name=f"loss ({label})")


@pytest.mark.question("rnn_bptt")
@pytest.mark.points(5)
@pytest.mark.requirement("R0.4", "R0.5", "R2.1")
def test_rnn_bptt_matches_torch(submission, rng, cases, oracle):
    for bounds in (ONE_STEP_ONE_SEQUENCE, {"T": (1, 9), "B": (1, 5)}):  # the boundary, then a random size
        x, s0, targets, params = rnn_case(rng, cases, **bounds)
        grads = assert_inputs_unchanged(submission.rnn_bptt, x, s0, targets, params)
        label = f"full BPTT, T={len(x)}, B={len(s0)}"
        assert_grads_close(grads, oracle.rnn(x, s0, targets, params).grads, params, label)


@pytest.mark.question("rnn_bptt")
@pytest.mark.points(4)
@pytest.mark.requirement("R2.1")
def test_rnn_bptt_matches_torch_on_a_long_sequence(submission, rng, cases, oracle):
    x, s0, targets, params = rnn_case(rng, cases, T=(25, 41), B=(1, 3), d=(4, 8))
    params["W"] = params["W"] * 2.0  # a strong recurrence, so that far steps still matter
    grads = submission.rnn_bptt(x, s0, targets, params)
    assert_grads_close(grads, oracle.rnn(x, s0, targets, params).grads, params, f"full BPTT, T={len(x)}")


@pytest.mark.question("rnn_truncated")
@pytest.mark.points(4)
@pytest.mark.requirement("R2.2")
def test_rnn_truncated_bptt_matches_torch_with_detached_windows(submission, rng, cases, oracle):
    x, s0, targets, params = rnn_case(rng, cases, T=(5, 13))
    params["W"] = params["W"] * 2.0
    for tau in sorted({1, int(rng.integers(3, len(x)))}):
        grads = submission.rnn_bptt(x, s0, targets, params, truncate=tau)
        expected = oracle.rnn(x, s0, targets, params, truncate=tau).grads
        assert_grads_close(grads, expected, params, f"truncate={tau}, T={len(x)}")


@pytest.mark.question("rnn_truncated")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.2")
def test_rnn_truncation_at_least_T_is_full_bptt(submission, reference, rng, cases):
    x, s0, targets, params = rnn_case(rng, cases)
    for tau in (len(x), len(x) + int(rng.integers(1, 3))):  # exactly T, and beyond
        grads = submission.rnn_bptt(x, s0, targets, params, truncate=tau)
        assert_grads_close(grads, reference.rnn_bptt(x, s0, targets, params), params, f"truncate={tau} >= T={len(x)}")


@pytest.mark.question("rnn_truncated")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.2")
def test_rnn_truncation_leaves_the_output_layer_alone(submission, reference, rng, cases):
    """V and c reach the loss at each step directly, so truncation cannot change their gradients."""
    x, s0, targets, params = rnn_case(rng, cases, T=(4, 9))
    grads = submission.rnn_bptt(x, s0, targets, params, truncate=int(rng.integers(1, 4)))
    assert_grads_close(grads, reference.rnn_bptt(x, s0, targets, params), ("V", "c"), "truncated vs full")

"""Public tests: small cases you can check by hand. The hidden tests use fresh random data."""

import numpy as np
import pytest

from grader.checks import assert_close, assert_shape

TWO_INPUTS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])  # truth-table order (3)
AND = np.array([0, 0, 0, 1])


def fires(X, w):
    """Equation (2) on the rows of X: 1 where w . x~ >= 0."""
    w = np.asarray(w, dtype=float)
    return (w[0] + np.asarray(X, dtype=float) @ w[1:] >= 0).astype(int)


# ---------------------------------------------------------------- Task 1

MP_CASES = [  # inhibitory, theta, expected outputs on TWO_INPUTS
    ([False, False], 2, [0, 0, 0, 1]),  # AND
    ([False, False], 1, [0, 1, 1, 1]),  # OR
    ([True, True], 0, [1, 0, 0, 0]),  # NOR
    ([False, True], 1, [0, 1, 0, 0]),  # x1 AND NOT x2
    ([False, False], 0, [1, 1, 1, 1]),  # always on
]


@pytest.mark.question("mp_neuron")
@pytest.mark.points(3)
@pytest.mark.requirement("R1.1")
def test_mp_neuron_two_inputs(submission):
    for inhibitory, theta, expected in MP_CASES:
        out = submission.mp_neuron(TWO_INPUTS, np.array(inhibitory), theta)
        assert_close(out, np.array(expected), name=f"mp_neuron output (inhibitory={inhibitory}, theta={theta})")


# ---------------------------------------------------------------- Task 2


@pytest.mark.question("separability")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.2", "R2.1")
def test_boolean_inputs_two(submission):
    assert_close(submission.boolean_inputs(2), TWO_INPUTS, name="boolean_inputs(2)")


@pytest.mark.question("separability")
@pytest.mark.points(4)
@pytest.mark.requirement("R2.2")
def test_sixteen_functions_of_two_inputs(submission):
    for code in range(16):
        table = (code >> np.arange(4)) & 1
        w = submission.threshold_unit(table)
        if table.tolist() in ([0, 1, 1, 0], [1, 0, 0, 1]):
            assert w is None, f"{table.tolist()} (XOR or XNOR) is not linearly separable, got weights {w}"
        else:
            assert w is not None, f"{table.tolist()} is linearly separable, got None"
            assert_shape(w, (3,), name=f"weights for {table.tolist()}")
            assert_close(fires(TWO_INPUTS, w), table, name=f"(2) with your weights for {table.tolist()}")


# ---------------------------------------------------------------- Task 3


@pytest.mark.question("perceptron")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.1")
def test_perceptron_ties_fire(submission):
    w0 = np.array([-2.0, 1.0, 1.0])  # w0 . (1, 1, 1) = 0: on the boundary
    run = submission.perceptron(np.array([[1.0, 1.0]]), np.array([1]), w0, 10, order=[0])
    assert run["converged"] and run["steps"] == 0, "a positive point on the boundary is already correct (w . x~ >= 0)"
    run = submission.perceptron(np.array([[1.0, 1.0]]), np.array([0]), w0, 10, order=[0])
    one_step = run["converged"] and run["steps"] == 1 and run["corrections"] == 1
    assert one_step, "a negative point on the boundary needs one correction"
    assert_close(run["w"], [-3.0, 0.0, 0.0], name="w after correcting the negative point")


@pytest.mark.question("perceptron")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.4")
def test_perceptron_learns_and_in_order(submission):
    run = submission.perceptron(TWO_INPUTS, AND, np.zeros(3), 100, order=[0, 1, 2, 3])
    assert run["converged"], "AND is separable: the run must converge"
    assert_close(run["w"], [-3.0, 1.0, 2.0], name="final w")
    counts = (run["corrections"], run["steps"])
    assert counts == (11, 18), f"expected 11 corrections in 18 steps, got {counts[0]} in {counts[1]}"
    assert_shape(run["trace"], (12, 3), name="trace")
    assert_close(run["trace"][:4], [[0, 0, 0], [-1, 0, 0], [0, 1, 1], [-1, 1, 1]], name="trace")


@pytest.mark.question("perceptron")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.1")
def test_perceptron_random_picks(submission, rng):
    X = rng.uniform(-1, 1, size=(30, 2))
    y = (X[:, 0] + 2 * X[:, 1] > 0.3).astype(int)
    first = submission.perceptron(X, y, np.zeros(3), 100_000, seed=7)
    assert first["converged"], "the data are separable: the run must converge"
    assert_close(fires(X, first["w"]), y, name="labels given by the final w")
    again = submission.perceptron(X, y, np.zeros(3), 100_000, seed=7)
    assert again["steps"] == first["steps"], "the same seed must give the same run"
    assert_close(again["w"], first["w"], name="w of a second run with the same seed")


# ---------------------------------------------------------------- Task 4


@pytest.mark.question("modified")
@pytest.mark.points(2)
@pytest.mark.requirement("R4.1")
def test_signed_points_and(submission):
    expected = np.array([[-1, 0, 0], [-1, -1, 0], [-1, 0, -1], [1, 1, 1]], dtype=float)
    assert_close(submission.signed_points(TWO_INPUTS, AND, normalise=False), expected, name="P' unnormalised")
    norms = np.linalg.norm(expected, axis=1, keepdims=True)
    assert_close(submission.signed_points(TWO_INPUTS, AND), expected / norms, name="P' normalised")


@pytest.mark.question("modified")
@pytest.mark.points(3)
@pytest.mark.requirement("R4.2")
def test_modified_perceptron_and(submission):
    P = np.array([[-1, 0, 0], [-1, -1, 0], [-1, 0, -1], [1, 1, 1]], dtype=float)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    run = submission.modified_perceptron(P, np.zeros(3), 1000, order=[0, 1, 2, 3])
    assert run["converged"], "AND is separable: the run must converge"
    separated = bool(np.all(P @ run["w"] > 0))
    assert separated, "after convergence every p must have w . p > 0"
    trace = np.asarray(run["trace"])
    assert_shape(trace, (run["corrections"] + 1, 3), name="trace")
    assert_close(trace[0], np.zeros(3), name="trace[0]")
    assert_close(trace[1], P[0], name="trace[1] (w = 0 is corrected by the first point)")
    counts = (run["corrections"], run["steps"])
    assert counts == (11, 20), f"expected 11 corrections in 20 steps, got {counts[0]} in {counts[1]}"


# ---------------------------------------------------------------- Task 5

W_STAR = np.array([0.0, 3.0, 4.0])  # u = (0, 0.6, 0.8)
W0 = np.array([1.0, 1.0, 1.0])  # u . w0 = 1.4, ||w0||^2 = 3
K = np.array([0, 1, 2, 5])


@pytest.mark.question("proof_steps")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.1")
def test_margin_small(submission):
    P = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, -0.5]])
    assert_close(submission.margin(P, W_STAR), 0.2, name="delta")  # min(0.6, 0.8, 0.6 - 0.4)


@pytest.mark.question("proof_steps")
@pytest.mark.points(3)
@pytest.mark.requirement("R5.2")
def test_bounds_small(submission):
    assert_close(submission.alignment_bound(W_STAR, W0, K, 0.1), [1.4, 1.5, 1.6, 1.9], name="(10)")
    assert_close(submission.norm_sq_bound(W0, K, 2.0), [3.0, 7.0, 11.0, 23.0], name="(11)")
    expected = np.array([1.4, 1.5, 1.6, 1.9]) / np.sqrt([3.0, 7.0, 11.0, 23.0])
    assert_close(submission.cos_beta_bound(W_STAR, W0, K, 0.1, 2.0), expected, name="(12)")


# ---------------------------------------------------------------- Task 6


@pytest.mark.question("correction_bound")
@pytest.mark.points(1)
@pytest.mark.requirement("R6.1")
def test_correction_bound_from_zero(submission):
    assert_close(submission.correction_bound(W_STAR, np.zeros(3), 0.1, 2.0), 400.0, name="(R / delta)^2")


@pytest.mark.question("correction_bound")
@pytest.mark.points(2)
@pytest.mark.requirement("R6.1")
def test_correction_bound_is_where_cos_reaches_one(submission):
    delta, radius = 0.1, 2.0
    k_max = submission.correction_bound(W_STAR, W0, delta, radius)
    assert k_max > 0, f"the bound must be the larger root of the quadratic, got {k_max}"
    # (13): at k_max the lower bound (10) meets the square root of the upper bound (11)
    assert_close(1.4 + k_max * delta, np.sqrt(3.0 + k_max * radius**2), rtol=1e-9, name="(10) vs sqrt((11)) at k_max")


# ---------------------------------------------------------------- Task 8


@pytest.mark.question("network")
@pytest.mark.points(3)
@pytest.mark.requirement("R8.1")
def test_xor_network(submission):
    net = submission.boolean_network(np.array([0, 1, 1, 0]))
    Z = 2 * TWO_INPUTS - 1
    h = (Z @ np.asarray(net["W1"], dtype=float).T + net["b1"] >= 0).astype(int)
    assert_close(h, np.eye(4), name="hidden unit j fires for row j only")
    y = (h @ np.asarray(net["w2"], dtype=float) + net["b2"] >= 0).astype(int)
    assert_close(y, [0, 1, 1, 0], name="network output on the XOR table")


@pytest.mark.question("network")
@pytest.mark.points(2)
@pytest.mark.requirement("R8.2")
def test_network_forward_small(submission):
    net = {"W1": np.array([[1.0, 1.0], [-1.0, 0.5]]), "b1": np.array([-1.5, 0.0]),
           "w2": np.array([1.0, 1.0]), "b2": -1.0}
    X = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [0.0, 0.0]])
    # hidden: [1, 0], [0, 0], [0, 1], [0, 1]; the output ORs them
    assert_close(submission.network_forward(X, net), [1, 0, 1, 1], name="network_forward")

"""Hidden tests for the single units and the network: Tasks 1, 2 and 8, on fresh random tables."""

import numpy as np
import pytest

from grader.checks import assert_close, assert_dtype, assert_inputs_unchanged, assert_shape


def fires(X, w):
    """Equation (2) on the rows of X: 1 where w . x~ >= 0."""
    w = np.asarray(w, dtype=float)
    return (w[0] + np.asarray(X, dtype=float) @ w[1:] >= 0).astype(int)


def random_threshold_table(rng, inputs):
    """A linearly separable truth table: (2) with random real weights on the rows `inputs`."""
    w = rng.normal(size=inputs.shape[1] + 1)
    return fires(inputs, w)


# ---------------------------------------------------------------- Task 1: mp_neuron


@pytest.mark.question("mp_neuron")
@pytest.mark.points(2)
@pytest.mark.requirement("R1.1")
def test_mp_neuron_counts_excitatory_inputs(rng, submission):
    for n in rng.permutation(np.arange(1, 9))[:5]:
        X = rng.integers(0, 2, size=(rng.integers(20, 60), n))
        for theta in (0, rng.integers(1, n + 1), n + 1):
            out = submission.mp_neuron(X, np.zeros(n, dtype=bool), int(theta))
            assert_shape(out, (len(X),), name="mp_neuron output")
            expected = (X.sum(axis=1) >= theta).astype(int)
            assert_close(out, expected, name=f"mp_neuron output (n={n}, theta={theta}, no inhibitory input)")


@pytest.mark.question("mp_neuron")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.4", "R0.5", "R1.1")
def test_mp_neuron_integer_outputs_and_one_row(rng, submission):
    """0/1 outputs are integer arrays (the conventions), also for a single row."""
    n = int(rng.integers(2, 7))
    X = rng.integers(0, 2, size=(int(rng.integers(5, 20)), n))
    inhibitory = rng.random(n) < 0.3
    out = assert_inputs_unchanged(submission.mp_neuron, X, inhibitory, 1)
    assert_dtype(out, "i", name="mp_neuron output")
    for row in (X[:1], np.zeros((1, n), dtype=int)):
        one = submission.mp_neuron(row, inhibitory, 0)
        assert_shape(one, (1,), name="mp_neuron output for one row")
        assert_dtype(one, "i", name="mp_neuron output for one row")
        expected = 0 if row[0, inhibitory].any() else 1
        assert_close(one, [expected], name="mp_neuron output for one row with theta = 0")


@pytest.mark.question("mp_neuron")
@pytest.mark.points(3)
@pytest.mark.requirement("R1.1")
def test_mp_neuron_inhibition_vetoes(rng, submission, reference):
    for n in rng.permutation(np.arange(2, 9))[:5]:
        X = reference.boolean_inputs(int(n))
        for inhibitory in (rng.random(n) < 0.4, np.ones(n, dtype=bool)):
            inhibitory[rng.integers(n)] = True
            for theta in (0, int(rng.integers(1, n + 1))):
                out = submission.mp_neuron(X, inhibitory, theta)
                vetoed = X[:, inhibitory].any(axis=1)
                fired = bool(np.asarray(out)[vetoed].any())
                assert not fired, f"an active inhibitory input must force 0 (n={n}, theta={theta})"
                expected = reference.mp_neuron(X, inhibitory, theta)
                assert_close(out, expected, name=f"mp_neuron output (n={n}, theta={theta})")


# ---------------------------------------------------------------- Task 2: separability


@pytest.mark.question("separability")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.2", "R2.1")
def test_boolean_inputs(rng, submission, reference):
    for n in rng.permutation([1, 3, 4, 5, 6, 7]):
        out = submission.boolean_inputs(int(n))
        assert_shape(out, (2**n, n), name=f"boolean_inputs({n})")
        assert_dtype(out, "i", name=f"boolean_inputs({n})")
        assert_close(out, reference.boolean_inputs(int(n)), name=f"boolean_inputs({n})")


def check_threshold_unit(submission, table, inputs, separable):
    w = submission.threshold_unit(table)
    if not separable:
        assert w is None, f"{table.tolist()} is not linearly separable, got weights {w}"
        return
    assert w is not None, f"{table.tolist()} is linearly separable, got None"
    assert_shape(w, (inputs.shape[1] + 1,), name="threshold_unit weights")
    assert_close(fires(inputs, w), table, name=f"(2) with your weights for {table.tolist()}")


@pytest.mark.question("separability")
@pytest.mark.points(3)
@pytest.mark.requirement("R2.2")
def test_threshold_unit_three_inputs(rng, submission, reference):
    inputs = reference.boolean_inputs(3)
    for code in rng.choice(256, size=40, replace=False):
        table = (code >> np.arange(8)) & 1
        check_threshold_unit(submission, table, inputs, reference.threshold_unit(table) is not None)


@pytest.mark.question("separability")
@pytest.mark.points(3)
@pytest.mark.requirement("R2.2")
def test_threshold_unit_finds_weights(rng, submission, reference):
    for n in (4, 4, 5, 5, 5):
        inputs = reference.boolean_inputs(n)
        check_threshold_unit(submission, random_threshold_table(rng, inputs), inputs, separable=True)


@pytest.mark.question("separability")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.2")
def test_threshold_unit_rejects_non_separable(rng, submission, reference):
    # One flipped row of a threshold function: sometimes still separable, usually not.
    for n in (3, 4, 4, 5, 5, 5):
        inputs = reference.boolean_inputs(n)
        table = random_threshold_table(rng, inputs)
        table[rng.integers(2**n)] ^= 1
        check_threshold_unit(submission, table, inputs, reference.threshold_unit(table) is not None)


# ---------------------------------------------------------------- Task 8: network


@pytest.mark.question("network")
@pytest.mark.points(6)
@pytest.mark.requirement("R8.1")
def test_boolean_network_any_table(rng, submission, reference):
    for n in rng.permutation(np.arange(1, 7)):
        n = int(n)
        Z = 2 * reference.boolean_inputs(n) - 1  # the +-1 rows, in truth-table order
        for table in (rng.integers(0, 2, size=2**n), np.full(2**n, rng.integers(0, 2))):
            net = submission.boolean_network(table)
            assert_shape(net["W1"], (2**n, n), name="W1")
            assert_shape(net["b1"], (2**n,), name="b1")
            assert_shape(net["w2"], (2**n,), name="w2")
            h = (Z @ np.asarray(net["W1"], dtype=float).T + net["b1"] >= 0).astype(int)
            assert_close(h, np.eye(2**n), name=f"hidden units on the rows (n={n}): unit j must fire for row j only")
            y = (h @ np.asarray(net["w2"], dtype=float) + float(net["b2"]) >= 0).astype(int)
            assert_close(y, table, name=f"network output (n={n})")


@pytest.mark.question("network")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.4", "R8.2")
def test_network_forward_integer_outputs_and_one_row(rng, submission, reference):
    """0/1 outputs are integer arrays (the conventions), also for a single row."""
    n = int(rng.integers(2, 6))
    net = reference.boolean_network(rng.integers(0, 2, size=2**n))
    Z = 2 * reference.boolean_inputs(n) - 1
    out = assert_inputs_unchanged(submission.network_forward, Z, net)
    assert_dtype(out, "i", name="network_forward output")
    row = int(rng.integers(2**n))
    one = submission.network_forward(Z[row:row + 1], net)
    assert_shape(one, (1,), name="network_forward output for one row")
    assert_dtype(one, "i", name="network_forward output for one row")
    assert_close(one, reference.network_forward(Z[row:row + 1], net), name="network_forward output for one row")


@pytest.mark.question("network")
@pytest.mark.points(3)
@pytest.mark.requirement("R8.2")
def test_network_forward(rng, submission, reference):
    for _ in range(4):
        n, hidden, m = int(rng.integers(1, 7)), int(rng.integers(1, 20)), int(rng.integers(5, 40))
        net = {"W1": rng.normal(size=(hidden, n)), "b1": rng.normal(size=hidden),
               "w2": rng.normal(size=hidden), "b2": float(rng.normal())}
        X = rng.normal(size=(m, n))
        out = submission.network_forward(X, net)
        assert_shape(out, (m,), name="network_forward output")
        expected = reference.network_forward(X, net)
        assert_close(out, expected, name=f"network_forward on random weights (n={n}, {hidden} hidden units)")
    # (15) puts hidden units exactly on their threshold: ties must fire
    n = int(rng.integers(2, 6))
    table = rng.integers(0, 2, size=2**n)
    Z = 2 * reference.boolean_inputs(n) - 1
    rows = rng.permutation(2**n)
    out = submission.network_forward(Z[rows], reference.boolean_network(table))
    assert_close(out, table[rows], name="network_forward of the network (15)-(16)")

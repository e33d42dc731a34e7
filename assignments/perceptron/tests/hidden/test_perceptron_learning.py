"""Hidden tests for learning and the convergence proof: Tasks 3 to 6, on fresh random data sets.

Runs are compared with the reference only where the handout pins them down exactly (a given
presentation order); runs with random picks are checked by their properties.
"""

import numpy as np
import pytest

from grader.checks import assert_close, assert_inputs_unchanged, assert_shape

RUN_KEYS = {"w", "converged", "corrections", "steps", "trace"}


def separable_data(rng, m, n, gap):
    """m points of [-1, 1]^n labelled by a random hyperplane through the cube, none closer to
    it than `gap`. Returns X, y and a separating vector w_star of arbitrary length."""
    w_star = rng.normal(size=n + 1)
    w_star[0] *= 0.3
    w_star /= np.linalg.norm(w_star[1:])
    X = np.empty((0, n))
    while len(X) < m:
        candidates = rng.uniform(-1, 1, size=(4 * m, n))
        X = np.vstack([X, candidates[np.abs(w_star[0] + candidates @ w_star[1:]) >= gap]])
    X = X[:m]
    y = (w_star[0] + X @ w_star[1:] > 0).astype(int)
    if y.min() == y.max():  # the plane missed the points: draw again
        return separable_data(rng, m, n, gap)
    return X, y, w_star * rng.uniform(0.2, 5)


def xor_data(rng, m):
    """m noisy points around the four corners (+-1, +-1), labelled by XOR: never separable."""
    corners = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]])
    which = np.concatenate([np.arange(4), rng.integers(0, 4, size=m - 4)])
    return corners[which] + 0.2 * rng.normal(size=(m, 2)), np.array([0, 1, 1, 0])[which]


def fires(X, w):
    """Equation (2) on the rows of X: 1 where w . x~ >= 0."""
    w = np.asarray(w, dtype=float)
    return (w[0] + np.asarray(X, dtype=float) @ w[1:] >= 0).astype(int)


def first_violation(holds):
    """The index of the first False in `holds`, or None when every entry is True."""
    bad = np.flatnonzero(~np.asarray(holds))
    return int(bad[0]) if bad.size else None


def radius(P):
    return float(np.linalg.norm(P, axis=1).max())


def check_run(run, n, name):
    """The run dictionary's keys, types, shapes and bookkeeping; returns its trace as an array."""
    is_run = isinstance(run, dict) and RUN_KEYS <= set(run)
    assert is_run, f"{name}: expected a dict with keys {sorted(RUN_KEYS)}, got {run!r:.200}"
    for key, kind, what in (("converged", "b", "a bool"), ("corrections", "iu", "an int"), ("steps", "iu", "an int")):
        value = np.asarray(run[key])
        assert value.shape == () and value.dtype.kind in kind, f"{name}: {key} must be {what}, got {run[key]!r:.60}"
    trace = np.asarray(run["trace"], dtype=float)
    assert_shape(trace, (int(run["corrections"]) + 1, n + 1), name=f"{name}: trace")
    assert_close(trace[-1], run["w"], rtol=1e-12, name=f"{name}: trace[-1] vs w")
    assert 0 <= run["corrections"] <= run["steps"], f"{name}: {run['corrections']} corrections in {run['steps']} steps"
    return trace


def near_tie(S, tie_is_correct, run, order, tol=1e-9):
    """Whether the run (of Algorithm 1 or 2 on the signed points S, in the given order) met a
    decision within rounding of a tie: some w . p with |w . p| <= tol ||w|| ||p||, w != 0. A correct
    solution that sums in another order may decide such a step the other way; exact ties (w = 0,
    integer points) are decided exactly by every order of summation."""
    norms = np.linalg.norm(S, axis=1)

    def close(w, rows):
        values = S[rows] @ w
        return bool(np.any((np.abs(values) <= tol * np.linalg.norm(w) * norms[rows]) & np.any(w != 0)))

    trace, k = np.asarray(run["trace"], dtype=float), 0
    if close(trace[0], slice(None)):
        return True
    for t in range(run["steps"]):
        i = order[t % len(order)]
        value = S[i] @ trace[k]
        if close(trace[k], [i]):
            return True
        if value < 0 or (value == 0 and not tie_is_correct[i]):
            k += 1
            if close(trace[k], slice(None)):
                return True
    return False


def tie_free(draw, tries=20):
    """The first case from draw() (returning (case, S, tie_is_correct, reference run, order)) whose
    reference run has no near-tie, so that an exact trace is the only right answer."""
    for _ in range(tries):
        case = draw()
        if not near_tie(*case[1:]):
            return case[0], case[3]
    raise RuntimeError("no tie-free case drawn")


def assert_same_run(got, expected, name):
    assert_close(got["trace"], expected["trace"], rtol=1e-9, atol=1e-12, name=f"{name}: trace")
    for key in ("converged", "corrections", "steps"):
        assert got[key] == expected[key], f"{name}: {key} is {got[key]}, expected {expected[key]}"


def adversarial_order(reference, P, w0, rng):
    """Among a few presentation orders (hardest points first, easiest first, random), the one
    for which the reference makes the most corrections within 100_000 steps."""
    by_difficulty = np.argsort(P @ (w0 if np.any(w0) else P.mean(axis=0)))
    candidates = [by_difficulty, by_difficulty[::-1]] + [rng.permutation(len(P)) for _ in range(3)]
    runs = [reference.modified_perceptron(P, w0, 100_000, order=order) for order in candidates]
    return candidates[int(np.argmax([run["corrections"] if run["converged"] else -1 for run in runs]))]


def proof_cases(rng, reference):
    """Reference runs of Algorithm 2 to check the proof on: tiny margins, unnormalised points,
    w0 = 0 and random w0, adversarial orders and random picks."""
    cases = []
    settings = [  # gap, normalise, start from w0 = 0
        (0.002, True, True), (0.01, True, False), (0.05, False, True), (0.005, False, False), (0.02, True, False)]
    for gap, normalise, zero_start in settings:
        n = int(rng.integers(2, 7))
        X, y, w_star = separable_data(rng, int(rng.integers(40, 120)), n, gap)
        P = reference.signed_points(X, y, normalise=normalise)
        w0 = np.zeros(n + 1) if zero_start else rng.normal(scale=2.0, size=n + 1)
        order = adversarial_order(reference, P, w0, rng) if len(cases) % 2 == 0 else None
        run = reference.modified_perceptron(P, w0, 100_000, seed=int(rng.integers(2**31)), order=order)
        assert run["converged"], "the reference must converge on separable data"
        delta = reference.margin(P, w_star)
        cases.append({"w_star": w_star, "w0": w0, "trace": run["trace"], "delta": delta, "R": radius(P)})
    return cases


# ---------------------------------------------------------------- Task 3: perceptron


@pytest.mark.question("perceptron")
@pytest.mark.points(4)
@pytest.mark.requirement("R0.5", "R3.4")
def test_perceptron_follows_the_given_order(rng, submission, reference):
    for case in range(4):
        (X, y, w0, order), expected = tie_free(lambda: given_order_case(rng, reference))
        m, n = X.shape
        got = assert_inputs_unchanged(submission.perceptron, X, y, w0, 20_000, order=order)
        check_run(got, n, f"case {case}")
        assert_same_run(got, expected, f"case {case} (m={m}, n={n})")


def given_order_case(rng, reference):
    """Separable data, a random start and an order with repeats that wraps around, for tie_free."""
    m, n = int(rng.integers(10, 80)), int(rng.integers(1, 7))
    X, y, _ = separable_data(rng, m, n, gap=rng.uniform(0.01, 0.1))
    w0 = rng.normal(size=n + 1)
    order = rng.permutation(np.concatenate([np.arange(m), rng.integers(0, m, size=m)]))
    run = reference.perceptron(X, y, w0, 20_000, order=order)
    return (X, y, w0, order), reference.signed_points(X, y, normalise=False), y == 1, run, order


@pytest.mark.question("perceptron")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.3")
def test_perceptron_converges_on_the_last_allowed_step(rng, submission, reference):
    """A run that needs exactly max_steps steps converges on its last one; one step fewer does not."""
    expected = {"steps": 0}
    while expected["steps"] == 0:  # a start that already separates needs no step at all
        (X, y, w0, order), expected = tie_free(lambda: given_order_case(rng, reference))
    steps = expected["steps"]
    exact = submission.perceptron(X, y, w0, steps, order=order)
    check_run(exact, X.shape[1], f"max_steps = {steps}, the steps the run needs")
    assert_same_run(exact, expected, f"max_steps = {steps}, the steps the run needs")
    short = submission.perceptron(X, y, w0, steps - 1, order=order)
    stopped = not short["converged"] and short["steps"] == steps - 1
    assert stopped, f"max_steps = {steps - 1}, one fewer than the run needs: stop unconverged after {steps - 1} steps"
    seeded = submission.perceptron(X, y, w0, 1_000_000, seed=5)
    again = submission.perceptron(X, y, w0, seeded["steps"], seed=5)
    name = f"random picks with seed 5 and max_steps = {seeded['steps']}, the steps that run needed"
    assert again["converged"] and again["steps"] == seeded["steps"], f"{name}: must converge on the last step"


@pytest.mark.question("perceptron")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.1")
def test_perceptron_tie_rule(rng, submission, reference):
    # integer points and weights put w . x~ exactly on 0 over and over
    for n in (2, 3, 4):
        X = reference.boolean_inputs(n)
        y = fires(X, rng.normal(size=n + 1))
        got = submission.perceptron(X, y, np.zeros(n + 1), 10_000, order=np.arange(2**n))
        expected = reference.perceptron(X, y, np.zeros(n + 1), 10_000, order=np.arange(2**n))
        assert_same_run(got, expected, f"boolean table {y.tolist()} from w = 0")
    x = rng.integers(-3, 4, size=(1, 3)).astype(float)
    v = rng.integers(-3, 4, size=3).astype(float)
    w0 = np.concatenate([[-(x[0] @ v)], v])  # w0 . x~ = 0
    on_boundary = submission.perceptron(x, np.array([1]), w0, 5)
    no_step = on_boundary["converged"] and on_boundary["steps"] == 0
    assert no_step, "a positive point with w . x~ = 0 is correct: no step is needed"
    corrected = submission.perceptron(x, np.array([0]), w0, 5)
    assert corrected["corrections"] == 1, "a negative point with w . x~ = 0 needs a correction"
    assert_close(corrected["w"], w0 - np.concatenate([[1.0], x[0]]), name="w after the correction")


@pytest.mark.question("perceptron")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.3", "R3.1")
def test_perceptron_random_picks(rng, submission, reference):
    for case in range(3):
        m, n = int(rng.integers(20, 100)), int(rng.integers(1, 6))
        X, y, w_star = separable_data(rng, m, n, gap=rng.uniform(0.01, 0.05))
        w0 = rng.normal(size=n + 1) - 3 * w_star / np.linalg.norm(w_star)  # far from a solution
        runs = [submission.perceptron(X, y, w0, 1_000_000, seed=seed) for seed in (11, 11, 12, 13, 14)]
        traces = [check_run(run, n, f"case {case}, seed {seed}") for run, seed in zip(runs, (11, 11, 12, 13, 14))]
        assert all(run["converged"] for run in runs), f"case {case}: separable data, the runs must converge"
        for run in runs:
            assert_close(fires(X, run["w"]), y, name=f"case {case}: labels given by the final w")
        P = reference.signed_points(X, y, normalise=False)
        k_max = reference.correction_bound(w_star, w0, reference.margin(P, w_star), radius(P))
        most = max(run["corrections"] for run in runs)
        assert most <= k_max, f"case {case}: {most} corrections, more than the bound {k_max:.1f} allows"
        assert runs[0]["steps"] == runs[1]["steps"], f"case {case}: the same seed must give the same run"
        assert_close(traces[1], traces[0], name=f"case {case}: trace of a second run with the same seed")
        distinct = len({run["steps"] for run in runs[1:]})
        assert distinct > 1, f"case {case}: different seeds gave identical runs; pick points at random"


@pytest.mark.question("perceptron")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.2")
def test_perceptron_stops(rng, submission, reference):
    X, y, w_star = separable_data(rng, 30, 3, gap=0.05)
    run = submission.perceptron(X, y, w_star, 1000, seed=1)
    no_step = run["converged"] and run["steps"] == 0 and run["corrections"] == 0
    assert no_step, "w0 already separates: stop before the first step"
    for case in range(3):
        X, y = xor_data(rng, int(rng.integers(8, 40)))
        max_steps = int(rng.integers(50, 400))
        w0 = rng.normal(size=3)
        random_run = submission.perceptron(X, y, w0, max_steps, seed=case)
        check_run(random_run, 2, f"XOR case {case}")
        stopped = not random_run["converged"] and random_run["steps"] == max_steps
        assert stopped, f"XOR case {case}: stop after max_steps={max_steps} without converging"
        def xor_case():
            order = rng.permutation(len(X))
            run = reference.perceptron(X, y, w0, max_steps, order=order)
            return order, reference.signed_points(X, y, normalise=False), y == 1, run, order

        order, expected = tie_free(xor_case)
        got = submission.perceptron(X, y, w0, max_steps, order=order)
        assert_same_run(got, expected, f"XOR case {case}, given order")


# ---------------------------------------------------------------- Task 4: modified


@pytest.mark.question("modified")
@pytest.mark.points(2)
@pytest.mark.requirement("R4.1")
def test_signed_points(rng, submission, reference):
    for normalise in (True, False):
        m, n = int(rng.integers(5, 50)), int(rng.integers(1, 8))
        X, y = rng.normal(scale=3, size=(m, n)), rng.integers(0, 2, size=m)
        got = submission.signed_points(X, y, normalise=normalise)
        assert_shape(got, (m, n + 1), name="P'")
        expected = reference.signed_points(X, y, normalise=normalise)
        assert_close(got, expected, rtol=1e-12, name=f"P' (normalise={normalise})")


@pytest.mark.question("modified")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.5", "R4.2")
def test_modified_follows_adversarial_order(rng, submission, reference):
    for case in range(3):
        n = int(rng.integers(2, 6))

        def draw():
            X, y, _ = separable_data(rng, int(rng.integers(30, 80)), n, gap=rng.uniform(0.005, 0.03))
            P = reference.signed_points(X, y)
            w0 = np.zeros(n + 1) if case == 0 else rng.normal(size=n + 1)
            order = adversarial_order(reference, P, w0, rng)
            run = reference.modified_perceptron(P, w0, 100_000, order=order)
            return (P, w0, order), P, np.zeros(len(P), dtype=bool), run, order

        (P, w0, order), expected = tie_free(draw)
        got = assert_inputs_unchanged(submission.modified_perceptron, P, w0, 100_000, order=order)
        check_run(got, n, f"case {case}")
        assert_same_run(got, expected, f"case {case}")


@pytest.mark.question("modified")
@pytest.mark.points(3)
@pytest.mark.requirement("R4.2")
def test_modified_random_picks_obey_the_proof(rng, submission, reference):
    for case, (gap, normalise) in enumerate([(0.003, True), (0.01, False), (0.03, True)]):
        n = int(rng.integers(2, 6))
        X, y, w_star = separable_data(rng, int(rng.integers(40, 120)), n, gap)
        P = reference.signed_points(X, y, normalise=normalise)
        w0 = rng.normal(size=n + 1)
        run = submission.modified_perceptron(P, w0, 1_000_000, seed=case)
        trace = check_run(run, n, f"case {case}")
        separated = bool(np.all(P @ run["w"] > 0))
        assert run["converged"] and separated, f"case {case}: a converged run has w . p > 0 for every p"
        assert_close(trace[0], w0, name=f"case {case}: trace[0]")
        for k in range(1, len(trace)):  # every correction adds a row p of P' with w_{k-1} . p <= 0
            step = trace[k] - trace[k - 1]
            p = P[np.argmin(np.linalg.norm(P - step, axis=1))]
            name = f"case {case}: correction {k} (w_k - w_(k-1)) is not a row of P'"
            assert_close(step, p, rtol=1e-9, atol=1e-12, name=name)
            assert trace[k - 1] @ p <= 1e-12, f"case {case}: correction {k} added a point that was already correct"
        delta, R = reference.margin(P, w_star), radius(P)
        k = np.arange(len(trace))
        u = w_star / np.linalg.norm(w_star)
        j = first_violation(trace @ u >= reference.alignment_bound(w_star, w0, k, delta) - 1e-9)
        assert j is None, f"case {case}: (10) fails after correction {j}: the run does not add a p with u . p >= delta"
        j = first_violation((trace**2).sum(axis=1) <= reference.norm_sq_bound(w0, k, R) + 1e-9)
        assert j is None, f"case {case}: (11) fails after correction {j}: the run adds a p with w . p > 0"
        k_max = reference.correction_bound(w_star, w0, delta, R)
        assert run["corrections"] <= k_max, f"case {case}: more corrections than (13) allows"


@pytest.mark.question("modified")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.2", "R4.2")
def test_modified_strict_rule_and_budget(rng, submission, reference):
    n = int(rng.integers(2, 5))
    X, y, _ = separable_data(rng, 40, n, gap=0.05)
    P = reference.signed_points(X, y)
    run = submission.modified_perceptron(P, np.zeros(n + 1), 100_000, seed=3)
    assert run["corrections"] >= 1, "w = 0 has w . p = 0 for every p: it needs a correction"
    separated = bool(np.all(P @ run["w"] > 0))
    assert run["converged"] and separated, "a converged run has w . p > 0 for every p"
    inputs = reference.boolean_inputs(3)
    P = reference.signed_points(inputs, fires(inputs, rng.normal(size=4)), normalise=False)
    order = np.arange(8)
    got = submission.modified_perceptron(P, np.zeros(4), 10_000, order=order)
    expected = reference.modified_perceptron(P, np.zeros(4), 10_000, order=order)
    assert_same_run(got, expected, "integer points from w = 0")
    exact = submission.modified_perceptron(P, np.zeros(4), expected["steps"], order=order)
    name = f"integer points from w = 0 with max_steps = {expected['steps']}, the steps the run needs"
    assert exact["converged"] and exact["steps"] == expected["steps"], f"{name}: must converge on the last step"
    X, y = xor_data(rng, 24)
    max_steps = int(rng.integers(100, 300))
    run = submission.modified_perceptron(reference.signed_points(X, y), rng.normal(size=3), max_steps, seed=4)
    stopped = not run["converged"] and run["steps"] == max_steps
    assert stopped, f"XOR: stop after max_steps={max_steps} without converging"


# ---------------------------------------------------------------- Task 5: proof_steps


@pytest.mark.question("proof_steps")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.1")
def test_margin(rng, submission, reference):
    for _ in range(4):
        m, n = int(rng.integers(5, 60)), int(rng.integers(1, 7))
        X, y, w_star = separable_data(rng, m, n, gap=0.01)
        for P, w in ((reference.signed_points(X, y), w_star), (rng.normal(size=(m, n + 1)), rng.normal(size=n + 1))):
            got = submission.margin(P, w)
            assert isinstance(got, float), f"margin must return a float, got {type(got).__name__}"
            assert_close(got, reference.margin(P, w), rtol=1e-10, name="delta")


@pytest.mark.question("proof_steps")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.2")
def test_alignment_bound_along_runs(rng, submission, reference):
    for i, case in enumerate(proof_cases(rng, reference)):
        trace, w_star, w0, delta = case["trace"], case["w_star"], case["w0"], case["delta"]
        k = np.arange(len(trace))
        bound = np.asarray(submission.alignment_bound(w_star, w0, k, delta))
        assert_shape(bound, k.shape, name="alignment_bound")
        actual = trace @ (w_star / np.linalg.norm(w_star))
        j = first_violation(actual >= bound - 1e-9)
        assert j is None, f"case {i}: (10) fails after correction {j}: u . w_k = {actual[j]:.6g} < {bound[j]:.6g}"
        expected = reference.alignment_bound(w_star, w0, k, delta)
        assert_close(bound, expected, rtol=1e-9, atol=1e-12, name=f"case {i}: (10), the tight bound")


@pytest.mark.question("proof_steps")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.2")
def test_norm_sq_bound_along_runs(rng, submission, reference):
    for i, case in enumerate(proof_cases(rng, reference)):
        trace, w0, R = case["trace"], case["w0"], case["R"]
        k = np.arange(len(trace))
        bound = np.asarray(submission.norm_sq_bound(w0, k, R))
        assert_shape(bound, k.shape, name="norm_sq_bound")
        actual = (trace**2).sum(axis=1)
        j = first_violation(actual <= bound + 1e-9)
        assert j is None, f"case {i}: (11) fails after correction {j}: ||w_k||^2 = {actual[j]:.6g} > {bound[j]:.6g}"
        expected = reference.norm_sq_bound(w0, k, R)
        assert_close(bound, expected, rtol=1e-9, atol=1e-12, name=f"case {i}: (11), the tight bound")


@pytest.mark.question("proof_steps")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.2")
def test_bounds_far_beyond_a_run(rng, submission, reference):
    """The bounds are functions of k, tight everywhere: also past k_max (where (12) exceeds 1) and
    where u . w_0 + k delta is still negative (w_0 opposed to w*)."""
    for case in range(4):
        n = int(rng.integers(1, 7))
        w_star, delta, R = rng.normal(size=n + 1), float(rng.uniform(0.001, 0.2)), float(rng.uniform(0.5, 3))
        w0 = (-3 if case % 2 else 1) * rng.uniform(0.5, 5) * w_star / np.linalg.norm(w_star) + rng.normal(size=n + 1)
        k_max = reference.correction_bound(w_star, w0, delta, R)
        k = np.unique(np.concatenate([[0, 1], rng.integers(1, 20 * int(k_max) + 100, size=30)]))
        for name, got, expected in [
            ("alignment_bound", submission.alignment_bound(w_star, w0, k, delta), reference.alignment_bound(w_star, w0, k, delta)),
            ("norm_sq_bound", submission.norm_sq_bound(w0, k, R), reference.norm_sq_bound(w0, k, R)),
            ("cos_beta_bound", submission.cos_beta_bound(w_star, w0, k, delta, R), reference.cos_beta_bound(w_star, w0, k, delta, R)),
        ]:
            assert_shape(got, k.shape, name=name)
            assert_close(got, expected, rtol=1e-9, atol=1e-12, name=f"{name} for k up to {k.max()} (k_max = {k_max:.4g})")


@pytest.mark.question("proof_steps")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.2")
def test_cos_beta_bound_along_runs(rng, submission, reference):
    for i, case in enumerate(proof_cases(rng, reference)):
        trace, w_star, w0, delta, R = case["trace"], case["w_star"], case["w0"], case["delta"], case["R"]
        k = np.arange(1, len(trace))
        bound = np.asarray(submission.cos_beta_bound(w_star, w0, k, delta, R))
        assert_shape(bound, k.shape, name="cos_beta_bound")
        w_k = trace[1:]
        cos_beta = w_k @ (w_star / np.linalg.norm(w_star)) / np.linalg.norm(w_k, axis=1)
        j = first_violation((cos_beta >= bound - 1e-9) | (bound < 0))
        assert j is None, f"case {i}: (12) fails after correction {k[j]}: cos beta = {cos_beta[j]:.6g} < {bound[j]:.6g}"
        expected = reference.cos_beta_bound(w_star, w0, k, delta, R)
        assert_close(bound, expected, rtol=1e-9, atol=1e-12, name=f"case {i}: (12), the tight bound")


# ---------------------------------------------------------------- Task 6: correction_bound


@pytest.mark.question("correction_bound")
@pytest.mark.points(4)
@pytest.mark.requirement("R6.1")
def test_correction_bound_formula(rng, submission, reference):
    for _ in range(12):
        n = int(rng.integers(1, 8))
        w_star = rng.normal(size=n + 1)
        delta, R = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5)))), float(rng.uniform(0.5, 5))
        from_zero = submission.correction_bound(w_star, np.zeros(n + 1), delta, R)
        assert_close(from_zero, (R / delta) ** 2, rtol=1e-9, name=f"k_max from w0 = 0 (delta={delta:.3g}, R={R:.3g})")
        for w0 in (rng.normal(scale=3, size=n + 1), 2 * w_star, -3 * w_star):  # random, aligned, opposed
            got = submission.correction_bound(w_star, w0, delta, R)
            expected = reference.correction_bound(w_star, w0, delta, R)
            assert_close(got, expected, rtol=1e-9, atol=1e-6, name=f"k_max (delta={delta:.3g}, R={R:.3g})")


@pytest.mark.question("correction_bound")
@pytest.mark.points(3)
@pytest.mark.requirement("R6.1")
def test_correction_bound_holds_on_runs(rng, submission, reference):
    for i, case in enumerate(proof_cases(rng, reference)):
        k_max = submission.correction_bound(case["w_star"], case["w0"], case["delta"], case["R"])
        assert isinstance(k_max, float), f"correction_bound must return a float, got {type(k_max).__name__}"
        corrections = len(case["trace"]) - 1
        assert corrections <= k_max, f"case {i}: a run made {corrections} corrections, your bound is {k_max:.6g}"
        tight = reference.correction_bound(case["w_star"], case["w0"], case["delta"], case["R"])
        assert k_max <= tight * (1 + 1e-9), f"case {i}: your bound {k_max:.6g} is looser than (13), {tight:.6g}"

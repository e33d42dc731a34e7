"""Hidden tests: whole trajectories on random problems with random hyper-parameters.

The gradients are computed here, in the trusted process; the submission is called once
per step and fed back what it returned. Every step's parameters and state are compared
with torch.optim where the handout's conventions coincide with torch's, and with the
reference solution elsewhere. Single steps from random mid-run states (non-zero averages,
t > 0) catch what runs started from the zero state would miss.
"""

import contextlib
import math

import numpy as np
import pytest
import torch

from grader.checks import (as_array, assert_close, assert_finite, assert_inputs_unchanged, assert_shape,
                           check_gradient)

RTOL, ATOL = 1e-6, 1e-9

# ------------------------------------------------------------------ problems and runners


def random_quadratic(rng, d, low=0.5, high=4.0):
    """The gradient w -> Aw - b of f(w) = 1/2 w'Aw - b'w, A symmetric with eigenvalues in [low, high]."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    a = (q * rng.uniform(low, high, size=d)) @ q.T
    b = rng.normal(size=d)
    return lambda w: a @ w - b


def rosenbrock_grad(w):
    """The gradient of f(w) = sum_i 100 (w_{i+1} - w_i^2)^2 + (1 - w_i)^2."""
    inner = w[1:] - w[:-1] ** 2
    g = np.zeros_like(w)
    g[:-1] = -400 * w[:-1] * inner - 2 * (1 - w[:-1])
    g[1:] += 200 * inner
    return g


def rosenbrock_start(rng):
    d = int(rng.integers(2, 7))
    return np.resize([-1.2, 1.0], d) + 0.1 * rng.normal(size=d)


def log_uniform(rng, low, high):
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def checked(value, shape, name):
    """A returned parameter vector as a float array, after checking its shape and finiteness."""
    assert_shape(value, shape, name=name)
    assert_finite(value, name=name)
    return as_array(value, name).astype(np.float64)


def unpack(result, name):
    if not (isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[1], dict)):
        raise AssertionError(f"{name} must return a pair (w_new, state_new) with state_new a dict, "
                             f"got {type(result).__name__}")
    return result


def trajectory(module, method, step, w0, grad, n, *hyper):
    """n steps of module.<step> from module.init_state(method, w0), the gradient computed here."""
    W, states = [w0], [module.init_state(method, w0)]
    for i in range(n):
        update = getattr(module, step)
        w_new, state = unpack(assert_inputs_unchanged(update, W[-1], grad(W[-1]), states[-1], *hyper), step)
        W.append(checked(w_new, w0.shape, f"{step}: w after step {i + 1}"))
        states.append(state)
    return W, states


@contextlib.contextmanager
def float64_default():
    """torch keeps some optimizer scalars (NAdam's product of momenta) in the default dtype."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def torch_trajectory(optimizer, keys, w0, grad, n, per_step=None, **options):
    """The same run with torch.optim; `keys` maps our state names to torch's, `per_step[i]`
    optionally overrides the optimizer's options (lr, momentum) at step i."""
    p = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    W, states = [w0], [{**{key: np.zeros_like(w0) for key in keys}, "t": 0}]
    with float64_default():
        opt = optimizer([p], **options)
        for i in range(n):
            opt.param_groups[0].update(per_step[i] if per_step else {})
            p.grad = torch.from_numpy(grad(p.detach().numpy().copy()))
            opt.step()
            W.append(p.detach().numpy().copy())
            states.append({**{ours: opt.state[p][theirs].numpy().copy() for ours, theirs in keys.items()}, "t": i + 1})
    return W, states


def stacked(states, key, shape, name):
    rows = []
    for i, state in enumerate(states):
        if not isinstance(state, dict):
            raise AssertionError(f"{name}: the state after step {i} must be a dict, got {type(state).__name__}")
        if key not in state:
            raise AssertionError(f"{name}: the state after step {i} has no key {key!r} (keys: {sorted(map(str, state))})")
        assert_shape(state[key], shape, name=f"{name}: state[{key!r}] after step {i}")
        rows.append(as_array(state[key]))
    return np.array(rows, dtype=np.float64)


def assert_same_run(actual, expected, name, rtol=RTOL, atol=ATOL):
    """Parameters and every state array at every step; an index reads (step, coordinate)."""
    (W, states), (W_expected, states_expected) = actual, expected
    shape = np.shape(W_expected[0])
    for key in states_expected[0]:
        if key != "t":
            assert_close(stacked(states, key, shape, name), np.array([s[key] for s in states_expected]),
                         rtol, atol, name=f"{name}: state[{key!r}] (index = step, coordinate)")
    counts, expected_counts = [state.get("t") for state in states], [s["t"] for s in states_expected]
    for i, count in enumerate(counts):
        is_int = np.asarray(count).shape == () and np.asarray(count).dtype.kind in "iu"
        assert is_int, f"{name}: state['t'] after step {i} must be an int (the number of steps), got {count!r:.40}"
    if counts != expected_counts:
        raise AssertionError(f"{name}: state['t'] should count the steps taken: expected {expected_counts[:5]}..., "
                             f"got {counts[:5]}...")
    assert_close(np.array(W), np.array(W_expected), rtol, atol, name=f"{name}: w (index = step, coordinate)")


STATE_KEYS = {"momentum": ("u",), "nesterov": ("u",), "adagrad": ("v",), "rmsprop": ("v",),
              "adadelta": ("v", "u"), "adam": ("m", "v"), "adamax": ("m", "v"), "nadam": ("m", "v")}


def random_state(rng, method, d):
    """A state in the middle of a run: averages of squares positive, t small enough for bias corrections to matter.
    `d` is the shape of w (an int or a tuple)."""
    state = {key: rng.normal(size=d) if key == "m" or method in ("momentum", "nesterov") else rng.exponential(size=d)
             for key in STATE_KEYS[method]}
    state["t"] = int(rng.integers(1, 40))
    return state


SHAPES = [(1,), (2, 3)]


def assert_same_steps(submission, reference, rng, method, hyper, n=12):
    """n single steps from random (w, g, state), hyper-parameters drawn by hyper(rng), against the reference."""
    step = f"{method}_step"
    for i in range(n):
        d = SHAPES[i] if i < len(SHAPES) else int(rng.integers(1, 8))  # any shape, elementwise: one entry, a matrix
        w, g, state, h = rng.normal(size=d), 2 * rng.normal(size=d), random_state(rng, method, d), hyper(rng)
        expected = getattr(reference, step)(w, g, state, *h)
        actual = unpack(assert_inputs_unchanged(getattr(submission, step), w, g, state, *h), step)
        assert_same_run(([w, actual[0]], [state, actual[1]]), ([w, expected[0]], [state, expected[1]]),
                        f"{step} from a random state (case {i}, t = {state['t'] + 1}, hyper-parameters {h})")


# ------------------------------------------------------------------ gd_momentum


@pytest.mark.question("gd_momentum")
@pytest.mark.points(1)
@pytest.mark.requirement("R1.1")
def test_gd_trajectory_matches_torch(submission, rng):
    d, lr = int(rng.integers(3, 13)), rng.uniform(0.05, 0.4)
    grad, W = random_quadratic(rng, d), [rng.normal(size=d)]
    for i in range(60):
        W.append(checked(submission.gd_step(W[-1], grad(W[-1]), lr), (d,), f"gd_step: w after step {i + 1}"))
    expected, _ = torch_trajectory(torch.optim.SGD, {}, W[0], grad, 60, lr=lr)
    assert_close(np.array(W), np.array(expected), RTOL, ATOL, name="gd_step: w (index = step, coordinate)")


@pytest.mark.question("gd_momentum")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.1", "R1.2")
def test_init_state_of_any_shape(submission, rng):
    """init_state: every array zero and shaped like w (a matrix, a single entry), and t the int 0."""
    for shape in [(1,), (2, 3), (int(rng.integers(2, 9)),)]:
        w = rng.normal(size=shape)
        for method, keys in STATE_KEYS.items():
            state = assert_inputs_unchanged(submission.init_state, method, w)
            assert isinstance(state, dict) and set(state) == {*keys, "t"}, (
                f"init_state({method!r}, w) must hold the keys {sorted({*keys, 't'})}, got {state!r:.120}")
            for key in keys:
                assert_shape(state[key], shape, name=f"init_state({method!r}, w of shape {shape})[{key!r}]")
                assert_close(state[key], np.zeros(shape), name=f"init_state({method!r}, w)[{key!r}]")
            t = np.asarray(state["t"])
            assert t.shape == () and t.dtype.kind in "iu" and state["t"] == 0, (
                f"init_state({method!r}, w)['t'] must be the int 0, got {state['t']!r:.40}")


@pytest.mark.question("gd_momentum")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.1", "R0.2", "R0.3", "R0.4", "R1.3")
def test_momentum_single_steps(submission, reference, rng):
    assert_same_steps(submission, reference, rng, "momentum", lambda r: (r.uniform(0.01, 0.5), r.uniform(0, 0.99)))


@pytest.mark.question("gd_momentum")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.3", "R1.3")
def test_momentum_matches_torch_on_quadratics(submission, rng):
    for _ in range(2):
        d, lr, beta = int(rng.integers(3, 13)), rng.uniform(0.02, 0.2), rng.uniform(0.5, 0.95)
        w0, grad = rng.normal(size=d), random_quadratic(rng, d)
        assert_same_run(trajectory(submission, "momentum", "momentum_step", w0, grad, 150, lr, beta),
                        torch_trajectory(torch.optim.SGD, {"u": "momentum_buffer"}, w0, grad, 150, lr=lr, momentum=beta),
                        f"momentum_step (lr={lr:.4g}, beta={beta:.4g})")


@pytest.mark.question("gd_momentum")
@pytest.mark.points(2)
@pytest.mark.requirement("R1.3")
def test_momentum_on_rosenbrock(submission, reference, rng):
    w0, lr, beta = rosenbrock_start(rng), rng.uniform(1e-4, 4e-4), rng.uniform(0.8, 0.95)
    assert_same_run(trajectory(submission, "momentum", "momentum_step", w0, rosenbrock_grad, 200, lr, beta),
                    trajectory(reference, "momentum", "momentum_step", w0, rosenbrock_grad, 200, lr, beta),
                    f"momentum_step on Rosenbrock (lr={lr:.4g}, beta={beta:.4g})")


# ------------------------------------------------------------------ nesterov


@pytest.mark.question("nesterov")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.3", "R2.2")
def test_nesterov_single_steps(submission, reference, rng):
    assert_same_steps(submission, reference, rng, "nesterov", lambda r: (r.uniform(0.01, 0.5), r.uniform(0, 0.99)))


@pytest.mark.question("nesterov")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.2")
def test_nesterov_matches_torch_on_quadratics(submission, rng):
    for _ in range(2):
        d, lr, beta = int(rng.integers(3, 13)), rng.uniform(0.02, 0.2), rng.uniform(0.5, 0.95)
        w0, grad = rng.normal(size=d), random_quadratic(rng, d)
        assert_same_run(trajectory(submission, "nesterov", "nesterov_step", w0, grad, 150, lr, beta),
                        torch_trajectory(torch.optim.SGD, {"u": "momentum_buffer"}, w0, grad, 150,
                                         lr=lr, momentum=beta, nesterov=True),
                        f"nesterov_step (lr={lr:.4g}, beta={beta:.4g})")


@pytest.mark.question("nesterov")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.1")
def test_lookahead_points_follow_the_reformulated_form(submission, reference, rng):
    """Form (5), stepped by the reference's momentum_step at the submission's look-ahead points:
    the look-ahead points must be torch's Nesterov iterates (6)."""
    d, lr, beta = int(rng.integers(3, 13)), rng.uniform(0.02, 0.2), rng.uniform(0.5, 0.95)
    w0, grad = rng.normal(size=d), random_quadratic(rng, d)
    w, state, looks = w0, reference.init_state("momentum", w0), []
    for i in range(100):
        looks.append(checked(submission.nesterov_lookahead(w, state, lr, beta), (d,), f"nesterov_lookahead at step {i}"))
        w, state = reference.momentum_step(w, grad(looks[-1]), state, lr, beta)
    expected, _ = torch_trajectory(torch.optim.SGD, {}, w0, grad, 99, lr=lr, momentum=beta, nesterov=True)
    assert_close(np.array(looks), np.array(expected), RTOL, ATOL,
                 name=f"nesterov_lookahead (lr={lr:.4g}, beta={beta:.4g}): look-ahead points (index = step, coordinate)")


@pytest.mark.question("nesterov")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.2")
def test_nesterov_on_rosenbrock(submission, reference, rng):
    w0, lr, beta = rosenbrock_start(rng), rng.uniform(1e-4, 3e-4), rng.uniform(0.8, 0.95)
    assert_same_run(trajectory(submission, "nesterov", "nesterov_step", w0, rosenbrock_grad, 200, lr, beta),
                    trajectory(reference, "nesterov", "nesterov_step", w0, rosenbrock_grad, 200, lr, beta),
                    f"nesterov_step on Rosenbrock (lr={lr:.4g}, beta={beta:.4g})")


# ------------------------------------------------------------------ heavy_ball


def random_schedules(rng, n):
    """Per-step learning rates (a random step decay with a random warm start) and momenta (random stages)."""
    lrs = rng.uniform(0.05, 0.15) * rng.choice([0.3, 0.5, 0.7]) ** (np.arange(n) // rng.integers(5, 20))
    lrs[: rng.integers(1, 6)] *= rng.uniform(0.2, 0.6)
    betas = rng.uniform(0.3, 0.9, size=n // 10 + 1).repeat(10)[:n]
    return lrs, betas


@pytest.mark.question("heavy_ball")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.2")
def test_conversion_of_random_schedules(submission, reference, rng):
    for _ in range(3):
        lrs, betas = random_schedules(rng, int(rng.integers(2, 60)))
        result = assert_inputs_unchanged(submission.momentum_to_heavy_ball, lrs, betas)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise AssertionError(f"momentum_to_heavy_ball must return a pair (gammas, hb_betas), got {type(result).__name__}")
        expected = reference.momentum_to_heavy_ball(lrs, betas)
        for got, want, name in zip(result, expected, ("gammas", "hb_betas")):
            assert_close(got, want, 1e-12, 1e-14, name=f"momentum_to_heavy_ball: {name}")


@pytest.mark.question("heavy_ball")
@pytest.mark.points(1)
@pytest.mark.requirement("R3.1")
def test_heavy_ball_single_steps(submission, reference, rng):
    for _ in range(5):
        d = int(rng.integers(1, 8))
        args = (rng.normal(size=d), rng.normal(size=d), rng.normal(size=d), rng.uniform(0.01, 1), rng.uniform(0, 1))
        assert_close(submission.heavy_ball_step(*args), reference.heavy_ball_step(*args), 1e-12, 1e-14,
                     name="heavy_ball_step")


@pytest.mark.question("heavy_ball")
@pytest.mark.points(4)
@pytest.mark.requirement("R3.2")
def test_heavy_ball_reproduces_momentum_under_schedules(submission, rng):
    n, d = 120, int(rng.integers(3, 13))
    w0, grad = rng.normal(size=d), random_quadratic(rng, d)
    lrs, betas = random_schedules(rng, n)
    expected, _ = torch_trajectory(torch.optim.SGD, {}, w0, grad, n, momentum=0.0, lr=lrs[0],
                                   per_step=[{"lr": lr, "momentum": beta} for lr, beta in zip(lrs, betas)])
    gammas, hb_betas = (checked(x, (n,), f"momentum_to_heavy_ball: {name}")
                        for x, name in zip(submission.momentum_to_heavy_ball(lrs, betas), ("gammas", "hb_betas")))
    W = [w0, w0]  # w_{-1} = w_0
    for i in range(n):
        W.append(checked(submission.heavy_ball_step(W[-1], W[-2], grad(W[-1]), gammas[i], hb_betas[i]), (d,),
                         f"heavy_ball_step: w after step {i + 1}"))
    assert_close(np.array(W[1:]), np.array(expected), RTOL, ATOL,
                 name="heavy ball with the converted coefficients vs torch's SGD with momentum under the same "
                      "schedules: w (index = step, coordinate)")


# ------------------------------------------------------------------ minibatch


def regression_data(rng, model, n, d):
    X = np.column_stack([rng.normal(size=(n, d - 1)), np.ones(n)])
    w_true = rng.normal(size=d)
    if model == "linear":
        return X, X @ w_true + 0.1 * rng.normal(size=n)
    return X, (rng.random(n) < 1 / (1 + np.exp(-X @ w_true))).astype(np.float64)


def torch_loss(model, w, X, y):
    """The mean losses (10) and (12), in torch."""
    z = torch.from_numpy(X) @ w
    if model == "linear":
        return 0.5 * ((z - torch.from_numpy(y)) ** 2).mean()
    return torch.nn.functional.binary_cross_entropy_with_logits(z, torch.from_numpy(y))


def torch_epoch(model, w0, X, y, lr, batch_size, perm):
    w, W = torch.tensor(w0, requires_grad=True), [w0]
    optimizer = torch.optim.SGD([w], lr=lr)
    for start in range(0, len(y), batch_size):
        batch = perm[start:start + batch_size]
        optimizer.zero_grad()
        torch_loss(model, w, X[batch], y[batch]).backward()
        optimizer.step()
        W.append(w.detach().numpy().copy())
    return np.array(W)


@pytest.mark.question("minibatch")
@pytest.mark.points(1)
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.requirement("R4.1")
def test_gradients_match_autograd_and_finite_differences(submission, rng, model):
    n, d = int(rng.integers(5, 40)), int(rng.integers(2, 8))
    X, y = regression_data(rng, model, n, d)
    w = rng.normal(size=d)
    g = getattr(submission, f"{model}_grad")(w, X, y)
    leaf = torch.tensor(w, requires_grad=True)
    torch_loss(model, leaf, X, y).backward()
    assert_close(g, leaf.grad.numpy(), 1e-10, 1e-12, name=f"{model}_grad (the gradient of the mean loss)")
    check_gradient(lambda v: torch_loss(model, torch.from_numpy(v), X, y).item(), w, g, name=f"{model}_grad")


@pytest.mark.question("minibatch")
@pytest.mark.points(2)
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.requirement("R4.2")
def test_epochs_match_torch(submission, rng, model):
    for case in range(2):
        n, d = int(rng.integers(20, 60)), int(rng.integers(2, 8))
        batch_size = int(rng.choice([b for b in range(2, n // 2) if n % b]))  # the last batch is short
        if case == 1:  # ... down to a single example
            batch_size = int(rng.integers(2, 8))
            n = batch_size * int(rng.integers(3, 8)) + 1
        X, y = regression_data(rng, model, n, d)
        w0, lr, perm = rng.normal(size=d), rng.uniform(0.05, 0.3), rng.permutation(n)
        expected = torch_epoch(model, w0, X, y, lr, batch_size, perm)
        W = submission.minibatch_epoch(w0, X, y, lr, batch_size, perm, model)
        assert_close(W, expected, RTOL, ATOL,
                     name=f"minibatch_epoch ({model}, N={n}, B={batch_size}): W (index = step, coordinate)")


@pytest.mark.question("minibatch")
@pytest.mark.points(1)
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.requirement("R4.2")
def test_sgd_visits_points_in_the_order_of_perm(submission, rng, model):
    n, d = int(rng.integers(10, 40)), int(rng.integers(2, 8))
    X, y = regression_data(rng, model, n, d)
    w0, lr, perm = rng.normal(size=d), rng.uniform(0.05, 0.3), rng.permutation(n)
    W = checked(submission.minibatch_epoch(w0, X, y, lr, 1, perm, model), (n + 1, d), "minibatch_epoch with B = 1")
    for k, i in enumerate(perm):
        leaf = torch.tensor(W[k], requires_grad=True)
        torch_loss(model, leaf, X[[i]], y[[i]]).backward()
        assert_close(W[k + 1], W[k] - lr * leaf.grad.numpy(), RTOL, ATOL,
                     name=f"minibatch_epoch with B = 1: step {k} must use only example perm[{k}] = {i}; w_{k + 1}")


@pytest.mark.question("minibatch")
@pytest.mark.points(2)
@pytest.mark.requirement("R4.2")
def test_full_batch_and_oversized_batches(submission, rng):
    n, d = int(rng.integers(10, 40)), int(rng.integers(2, 8))
    X, y = regression_data(rng, "linear", n, d)
    w0, lr = rng.normal(size=d), rng.uniform(0.05, 0.3)
    one_step = np.array([w0, w0 - lr * X.T @ (X @ w0 - y) / n])
    for batch_size in (n, n + int(rng.integers(1, 10))):
        W = submission.minibatch_epoch(w0, X, y, lr, batch_size, rng.permutation(n), "linear")
        assert_close(W, one_step, RTOL, ATOL, name=f"minibatch_epoch with B = {batch_size} >= N = {n} (one full-batch step)")


# ------------------------------------------------------------------ adagrad_rmsprop
#
# Hyper-parameters keep every run away from the edge of stability, where adaptive methods
# oscillate and amplify rounding: on the quadratics lr * lambda_max / eps stays below 2,
# so that even a vanishing v cannot make the effective step unstable.

ADAGRAD = (torch.optim.Adagrad, {"v": "sum"})
RMSPROP = (torch.optim.RMSprop, {"v": "square_avg"})


@pytest.mark.question("adagrad_rmsprop")
@pytest.mark.points(3)
@pytest.mark.requirement("R5.1")
def test_adagrad_matches_torch(submission, rng):
    for _ in range(2):
        d, eps = int(rng.integers(3, 13)), log_uniform(rng, 0.02, 0.2)
        lr = eps * rng.uniform(0.5, 3)
        w0, grad = rng.normal(size=d), random_quadratic(rng, d)
        assert_same_run(trajectory(submission, "adagrad", "adagrad_step", w0, grad, 150, lr, eps),
                        torch_trajectory(*ADAGRAD, w0, grad, 150, lr=lr, eps=eps),
                        f"adagrad_step (lr={lr:.4g}, eps={eps:.3g})")


@pytest.mark.question("adagrad_rmsprop")
@pytest.mark.points(3)
@pytest.mark.requirement("R5.1")
def test_rmsprop_matches_torch(submission, rng):
    for _ in range(2):
        d, beta, eps = int(rng.integers(3, 13)), rng.uniform(0.8, 0.99), log_uniform(rng, 0.02, 0.2)
        lr = eps * rng.uniform(0.05, 0.3)
        w0, grad = rng.normal(size=d), random_quadratic(rng, d)
        assert_same_run(trajectory(submission, "rmsprop", "rmsprop_step", w0, grad, 150, lr, beta, eps),
                        torch_trajectory(*RMSPROP, w0, grad, 150, lr=lr, alpha=beta, eps=eps),
                        f"rmsprop_step (lr={lr:.4g}, beta={beta:.4g}, eps={eps:.3g})")


@pytest.mark.question("adagrad_rmsprop")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.1")
def test_adagrad_and_rmsprop_on_rosenbrock(submission, reference, rng):
    w0, lr, beta, eps = rosenbrock_start(rng), rng.uniform(1e-4, 1e-3), rng.uniform(0.8, 0.99), log_uniform(rng, 1e-3, 1)
    for method, hyper in (("adagrad", (100 * lr, eps)), ("rmsprop", (lr, beta, eps))):
        step = f"{method}_step"
        assert_same_run(trajectory(submission, method, step, w0, rosenbrock_grad, 200, *hyper),
                        trajectory(reference, method, step, w0, rosenbrock_grad, 200, *hyper),
                        f"{step} on Rosenbrock (hyper-parameters {hyper})")


@pytest.mark.question("adagrad_rmsprop")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.2", "R0.4", "R5.1")
def test_adagrad_and_rmsprop_single_steps(submission, reference, rng):
    assert_same_steps(submission, reference, rng, "adagrad", lambda r: (r.uniform(0.01, 1), log_uniform(r, 1e-3, 1)))
    assert_same_steps(submission, reference, rng, "rmsprop",
                      lambda r: (r.uniform(0.01, 1), r.uniform(0.5, 0.99), log_uniform(r, 1e-3, 1)))


# ------------------------------------------------------------------ adadelta


@pytest.mark.question("adadelta")
@pytest.mark.points(4)
@pytest.mark.requirement("R5.1")
def test_adadelta_matches_torch(submission, rng):
    for _ in range(2):
        d, beta, eps = int(rng.integers(3, 13)), rng.uniform(0.8, 0.95), log_uniform(rng, 1e-4, 1e-2)
        w0, grad = rng.normal(size=d), random_quadratic(rng, d, 0.1, 1.5)  # AdaDelta's step tends to 1 * g
        assert_same_run(trajectory(submission, "adadelta", "adadelta_step", w0, grad, 100, beta, eps),
                        torch_trajectory(torch.optim.Adadelta, {"v": "square_avg", "u": "acc_delta"}, w0, grad, 100,
                                         lr=1.0, rho=beta, eps=eps),
                        f"adadelta_step (beta={beta:.4g}, eps={eps:.3g})")


@pytest.mark.question("adadelta")
@pytest.mark.points(3)
@pytest.mark.requirement("R0.4", "R5.1")
def test_adadelta_single_steps(submission, reference, rng):
    assert_same_steps(submission, reference, rng, "adadelta", lambda r: (r.uniform(0.5, 0.99), log_uniform(r, 1e-4, 1)))


# ------------------------------------------------------------------ adam_family

ADAM_KEYS = {"m": "exp_avg", "v": "exp_avg_sq"}


def adam_hyper(rng, eps_low, eps_high, lr_low=1e-3, lr_high=1e-2):
    """(lr, beta1, beta2, eps), with beta1^2 < beta2: outside that range Adam itself is unstable."""
    return rng.uniform(lr_low, lr_high), rng.uniform(0.5, 0.9), rng.uniform(0.99, 0.999), log_uniform(rng, eps_low, eps_high)


@pytest.mark.question("adam_family")
@pytest.mark.points(3)
@pytest.mark.requirement("R6.1")
def test_adam_matches_torch(submission, rng):
    for _ in range(2):
        d, (lr, beta1, beta2, eps) = int(rng.integers(3, 13)), adam_hyper(rng, 1e-2, 0.2)
        w0, grad = rng.normal(size=d), random_quadratic(rng, d)
        assert_same_run(trajectory(submission, "adam", "adam_step", w0, grad, 150, lr, beta1, beta2, eps),
                        torch_trajectory(torch.optim.Adam, ADAM_KEYS, w0, grad, 150, lr=lr, betas=(beta1, beta2), eps=eps),
                        f"adam_step (lr={lr:.4g}, beta1={beta1:.4g}, beta2={beta2:.4g}, eps={eps:.3g})")


@pytest.mark.question("adam_family")
@pytest.mark.points(2)
@pytest.mark.requirement("R6.1")
def test_adamax_matches_torch_at_eps_zero(submission, rng):
    """torch adds eps inside the max, the handout outside it: with eps = 0 the two agree. Without eps
    the steps must stay far from the minimum, where v decays to 0, hence a small lr and a distant start."""
    d, (lr, beta1, beta2, _) = int(rng.integers(3, 13)), adam_hyper(rng, 1, 1, 2e-3, 1e-2)
    w0, grad = 3 * rng.normal(size=d), random_quadratic(rng, d)
    assert_same_run(trajectory(submission, "adamax", "adamax_step", w0, grad, 150, lr, beta1, beta2, 0.0),
                    torch_trajectory(torch.optim.Adamax, {"m": "exp_avg", "v": "exp_inf"}, w0, grad, 150,
                                     lr=lr, betas=(beta1, beta2), eps=0.0),
                    f"adamax_step (lr={lr:.4g}, beta1={beta1:.4g}, beta2={beta2:.4g}, eps=0)")


@pytest.mark.question("adam_family")
@pytest.mark.points(3)
@pytest.mark.requirement("R6.1")
def test_nadam_matches_torch_with_constant_momentum(submission, rng):
    """torch's NAdam with a huge momentum_decay keeps mu_t = beta1, the handout's convention."""
    for _ in range(2):
        d, (lr, beta1, beta2, eps) = int(rng.integers(3, 13)), adam_hyper(rng, 1e-2, 0.2)
        w0, grad = rng.normal(size=d), random_quadratic(rng, d)
        assert_same_run(trajectory(submission, "nadam", "nadam_step", w0, grad, 150, lr, beta1, beta2, eps),
                        torch_trajectory(torch.optim.NAdam, ADAM_KEYS, w0, grad, 150, lr=lr, betas=(beta1, beta2),
                                         eps=eps, momentum_decay=1e9),
                        f"nadam_step (lr={lr:.4g}, beta1={beta1:.4g}, beta2={beta2:.4g}, eps={eps:.3g})")


@pytest.mark.question("adam_family")
@pytest.mark.points(1)
@pytest.mark.parametrize("method", ["adam", "adamax", "nadam"])
@pytest.mark.requirement("R6.1")
def test_on_rosenbrock(submission, reference, rng, method):
    w0, hyper = rosenbrock_start(rng), adam_hyper(rng, 1e-3, 1.0)
    step = f"{method}_step"
    assert_same_run(trajectory(submission, method, step, w0, rosenbrock_grad, 200, *hyper),
                    trajectory(reference, method, step, w0, rosenbrock_grad, 200, *hyper),
                    f"{step} on Rosenbrock (lr, beta1, beta2, eps = {hyper})")


@pytest.mark.question("adam_family")
@pytest.mark.points(1)
@pytest.mark.parametrize("method", ["adam", "adamax", "nadam"])
@pytest.mark.requirement("R0.2", "R0.4", "R6.1")
def test_single_steps(submission, reference, rng, method):
    assert_same_steps(submission, reference, rng, method, lambda r: adam_hyper(r, 1e-3, 1.0, 0.01, 1.0))


# ------------------------------------------------------------------ schedules


def torch_lrs(make_scheduler, lr0, n):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    scheduler, lrs = make_scheduler(opt), []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return np.array(lrs)


def submission_lrs(submission, name, n, *args):
    return np.array([float(getattr(submission, name)(t, *args)) for t in range(n)])


@pytest.mark.question("schedules")
@pytest.mark.points(3)
@pytest.mark.requirement("R7.1")
def test_decays_match_torch(submission, rng):
    lr0, k, drop, every, n = rng.uniform(0.01, 1), rng.uniform(0.005, 0.1), rng.uniform(0.1, 0.9), int(rng.integers(2, 12)), 80
    cases = [
        ("step_decay", (lr0, drop, every), lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=every, gamma=drop)),
        ("exponential_decay", (lr0, k), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=math.exp(-k))),
        ("inverse_time_decay", (lr0, k), lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + k * t))),
    ]
    for name, args, make in cases:
        assert_close(submission_lrs(submission, name, n, *args), torch_lrs(make, lr0, n), 1e-9, 1e-15,
                     name=f"{name}{args} (index = t)")


@pytest.mark.question("schedules")
@pytest.mark.points(1)
@pytest.mark.parametrize("mult", [1, 2, 3])
@pytest.mark.requirement("R7.1")
def test_cosine_restarts_match_torch(submission, rng, mult):
    period, lr_min = int(rng.integers(2, 9)), rng.uniform(0, 0.01)
    lr_max = lr_min + rng.uniform(0.05, 1)
    n = period * (1 + mult + mult**2) + int(rng.integers(1, period + 1))  # into the fourth cycle
    expected = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, period, mult, lr_min), lr_max, n)
    assert_close(submission_lrs(submission, "cosine_restarts", n, lr_min, lr_max, period, mult), expected, 1e-9, 1e-15,
                 name=f"cosine_restarts(t, {lr_min:.4g}, {lr_max:.4g}, period={period}, mult={mult}) (index = t)")


@pytest.mark.question("schedules")
@pytest.mark.points(1)
@pytest.mark.requirement("R7.1")
def test_sutskever_momentum(submission, rng):
    ts = np.concatenate([[0, 249, 250, 499, 500, 749, 750, 999, 1000], rng.integers(0, 20000, size=30)])
    for mu_max in (0.999, 0.995, 0.99, 0.9, 0.0, rng.uniform(0.5, 1)):
        expected = [min(1 - 2 ** (-1 - math.log2(t // 250 + 1)), mu_max) for t in ts]
        got = [float(submission.sutskever_momentum(int(t), mu_max)) for t in ts]
        assert_close(got, expected, 1e-12, 1e-15, name=f"sutskever_momentum(t, {mu_max:.4g}) at t = {ts.tolist()}")

"""Public tests: a few first steps worked out by hand, and two short runs against torch.optim.

The hidden tests run hundreds of steps on random quadratics and the Rosenbrock function,
with random hyper-parameters, and compare every step's parameters and state. To check
your own work further, compare with torch.optim where the handout says the conventions
coincide, as test_adam_matches_torch does below.
"""

import math

import numpy as np
import pytest
import torch

from grader.checks import assert_close, assert_shape, check_gradient


def assert_state(state, expected, name):
    """state must hold exactly the expected keys, with the expected values."""
    assert isinstance(state, dict), f"{name}: the state must be a dict, got {type(state).__name__}"
    assert set(state) == set(expected), f"{name}: the state's keys should be {sorted(expected)}, got {sorted(state)}"
    assert state["t"] == expected["t"], f"{name}: state['t'] should be {expected['t']}, got {state['t']}"
    for key in set(expected) - {"t"}:
        assert_close(state[key], expected[key], 1e-12, 1e-14, name=f"{name}: state[{key!r}]")


# ------------------------------------------------------------------ gd_momentum


@pytest.mark.question("gd_momentum")
@pytest.mark.points(1)
@pytest.mark.requirement("R1.1")
def test_gd_step(submission):
    assert_close(submission.gd_step(np.array([1.0, -2.0]), np.array([0.5, 4.0]), 0.1), [0.95, -2.4], name="gd_step")


@pytest.mark.question("gd_momentum")
@pytest.mark.points(2)
@pytest.mark.requirement("R1.3")
def test_momentum_under_a_constant_gradient(submission):
    """With g constant, u after k steps is (1 - beta^k) / (1 - beta) g: the geometric series (3)."""
    w, g, lr, beta = np.array([1.0, 2.0, 3.0]), np.array([1.0, -2.0, 0.5]), 0.1, 0.9
    state = submission.init_state("momentum", w)
    assert_state(state, {"u": np.zeros(3), "t": 0}, "init_state('momentum', w)")
    for k in range(1, 6):
        u = (1 - beta**k) / (1 - beta) * g
        w_expected = w - lr * u
        w, state = submission.momentum_step(w, g, state, lr, beta)
        assert_state(state, {"u": u, "t": k}, f"momentum_step, step {k}")
        assert_close(w, w_expected, 1e-12, 1e-14, name=f"momentum_step: w after step {k}")


# ------------------------------------------------------------------ nesterov


@pytest.mark.question("nesterov")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.1")
def test_lookahead_point(submission):
    state = {"u": np.array([1.0, -1.0]), "t": 3}
    assert_close(submission.nesterov_lookahead(np.zeros(2), state, 0.1, 0.9), [-0.09, 0.09], name="nesterov_lookahead")


@pytest.mark.question("nesterov")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.2")
def test_nesterov_on_a_parabola(submission):
    """f(w) = w^2 from w = 1 with lr = 0.1, beta = 0.5, by hand with (6):
    g = 2, u = 2, w = 1 - 0.1 (2 + 1) = 0.7; then g = 1.4, u = 2.4, w = 0.7 - 0.1 (1.4 + 1.2) = 0.44."""
    w = np.array([1.0])
    state = submission.init_state("nesterov", w)
    for k, (u, w_expected) in enumerate([(2.0, 0.7), (2.4, 0.44)], start=1):
        w, state = submission.nesterov_step(w, 2 * w, state, 0.1, 0.5)
        assert_state(state, {"u": np.array([u]), "t": k}, f"nesterov_step, step {k}")
        assert_close(w, [w_expected], 1e-12, 1e-14, name=f"nesterov_step: w after step {k}")


# ------------------------------------------------------------------ heavy_ball


@pytest.mark.question("heavy_ball")
@pytest.mark.points(1)
@pytest.mark.requirement("R3.1")
def test_heavy_ball_step(submission):
    w_new = submission.heavy_ball_step(np.array([1.0, 2.0]), np.array([0.5, 2.5]), np.array([1.0, -1.0]), 0.1, 0.9)
    assert_close(w_new, [1.35, 1.65], name="heavy_ball_step")


@pytest.mark.question("heavy_ball")
@pytest.mark.points(2)
@pytest.mark.requirement("R3.2")
def test_conversion_of_a_small_schedule(submission):
    gammas, hb_betas = submission.momentum_to_heavy_ball(np.array([0.1, 0.05, 0.05, 0.1]), np.array([0.9, 0.9, 0.8, 0.5]))
    assert_close(gammas, [0.1, 0.05, 0.05, 0.1], name="momentum_to_heavy_ball: gammas")
    assert_close(hb_betas, [0.9, 0.45, 0.8, 1.0], name="momentum_to_heavy_ball: hb_betas")


# ------------------------------------------------------------------ minibatch


def mean_loss(model, w, X, y):
    z = X @ w
    if model == "linear":
        return 0.5 * np.mean((z - y) ** 2)
    return np.mean(np.logaddexp(0, z) - y * z)  # (12), written without log(sigmoid)


@pytest.mark.question("minibatch")
@pytest.mark.points(2)
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.requirement("R4.1")
def test_gradient_matches_finite_differences(submission, rng, model):
    X, w = rng.normal(size=(12, 3)), rng.normal(size=3)
    y = rng.normal(size=12) if model == "linear" else (rng.random(12) < 0.5).astype(float)
    check_gradient(lambda v: mean_loss(model, v, X, y), w, getattr(submission, f"{model}_grad")(w, X, y),
                   name=f"{model}_grad")


@pytest.mark.question("minibatch")
@pytest.mark.points(1)
@pytest.mark.requirement("R4.2")
def test_steps_per_epoch(submission, rng):
    X, y, w = rng.normal(size=(10, 3)), rng.normal(size=10), rng.normal(size=3)
    for batch_size, steps in [(1, 10), (3, 4), (10, 1)]:
        W = submission.minibatch_epoch(w, X, y, 0.1, batch_size, np.arange(10), "linear")
        assert_shape(W, (steps + 1, 3), name=f"minibatch_epoch with N = 10, B = {batch_size}")
        assert_close(W[0], w, name=f"minibatch_epoch with B = {batch_size}: row 0 (the starting point)")


# ------------------------------------------------------------------ adagrad_rmsprop


@pytest.mark.question("adagrad_rmsprop")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.1")
def test_adagrad_two_steps(submission):
    w, lr, eps = np.array([1.0, -1.0]), 0.5, 0.1
    g1, g2 = np.array([3.0, 4.0]), np.array([4.0, 3.0])
    w1, state = submission.adagrad_step(w, g1, submission.init_state("adagrad", w), lr, eps)
    assert_state(state, {"v": np.array([9.0, 16.0]), "t": 1}, "adagrad_step, step 1")
    assert_close(w1, w - lr * np.array([3 / 3.1, 4 / 4.1]), name="adagrad_step: w after step 1")
    w2, state = submission.adagrad_step(w1, g2, state, lr, eps)
    assert_state(state, {"v": np.array([25.0, 25.0]), "t": 2}, "adagrad_step, step 2")
    assert_close(w2, w1 - lr * np.array([4 / 5.1, 3 / 5.1]), name="adagrad_step: w after step 2 (eps outside the root)")


@pytest.mark.question("adagrad_rmsprop")
@pytest.mark.points(2)
@pytest.mark.requirement("R5.1")
def test_rmsprop_first_step(submission):
    w, g, lr, beta, eps = np.array([0.5, 0.0, -2.0]), np.array([2.0, -1.0, 0.0]), 0.01, 0.75, 0.1
    w1, state = submission.rmsprop_step(w, g, submission.init_state("rmsprop", w), lr, beta, eps)
    assert_state(state, {"v": 0.25 * g**2, "t": 1}, "rmsprop_step, step 1")
    assert_close(w1, w - lr * g / (0.5 * np.abs(g) + eps), name="rmsprop_step: w after step 1")


# ------------------------------------------------------------------ adadelta


@pytest.mark.question("adadelta")
@pytest.mark.points(3)
@pytest.mark.requirement("R5.1")
def test_adadelta_two_steps(submission):
    """With u = 0 at the start the first step is -sqrt(eps) / sqrt(v + eps) g, (21)."""
    w, g, beta, eps = np.array([1.0, -1.0]), np.array([2.0, -0.5]), 0.9, 1e-2
    state = submission.init_state("adadelta", w)
    assert_state(state, {"v": np.zeros(2), "u": np.zeros(2), "t": 0}, "init_state('adadelta', w)")
    v, u = np.zeros(2), np.zeros(2)
    for k in (1, 2):
        v = beta * v + (1 - beta) * g**2
        delta = -np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = beta * u + (1 - beta) * delta**2
        w_expected = w + delta
        w, state = submission.adadelta_step(w, g, state, beta, eps)
        assert_state(state, {"v": v, "u": u, "t": k}, f"adadelta_step, step {k}")
        assert_close(w, w_expected, 1e-12, 1e-14, name=f"adadelta_step: w after step {k}")


# ------------------------------------------------------------------ adam_family

W0, G0 = np.array([1.0, -2.0, 0.5]), np.array([0.3, -4.0, 1e-3])


@pytest.mark.question("adam_family")
@pytest.mark.points(1)
@pytest.mark.requirement("R6.1")
def test_adam_first_step(submission):
    """Bias correction makes the first step lr * g / (|g| + eps): about lr in every coordinate."""
    lr, beta1, beta2, eps = 0.1, 0.9, 0.999, 1e-3
    w1, state = submission.adam_step(W0, G0, submission.init_state("adam", W0), lr, beta1, beta2, eps)
    assert_state(state, {"m": (1 - beta1) * G0, "v": (1 - beta2) * G0**2, "t": 1}, "adam_step, step 1")
    assert_close(w1, W0 - lr * G0 / (np.abs(G0) + eps), name="adam_step: w after step 1")


@pytest.mark.question("adam_family")
@pytest.mark.points(1)
@pytest.mark.requirement("R6.1")
def test_adamax_first_step(submission):
    lr, beta1, beta2, eps = 0.1, 0.9, 0.999, 1e-3
    w1, state = submission.adamax_step(W0, G0, submission.init_state("adamax", W0), lr, beta1, beta2, eps)
    assert_state(state, {"m": (1 - beta1) * G0, "v": np.abs(G0), "t": 1}, "adamax_step, step 1")
    assert_close(w1, W0 - lr * G0 / (np.abs(G0) + eps), name="adamax_step: w after step 1")


@pytest.mark.question("adam_family")
@pytest.mark.points(2)
@pytest.mark.requirement("R6.1")
def test_nadam_first_step(submission):
    """(30) at t = 1: beta1 (1 - beta1) g / (1 - beta1^2) + g = (1 + beta1 / (1 + beta1)) g."""
    lr, beta1, beta2, eps = 0.1, 0.9, 0.999, 1e-3
    w1, state = submission.nadam_step(W0, G0, submission.init_state("nadam", W0), lr, beta1, beta2, eps)
    assert_state(state, {"m": (1 - beta1) * G0, "v": (1 - beta2) * G0**2, "t": 1}, "nadam_step, step 1")
    assert_close(w1, W0 - lr * (1 + beta1 / (1 + beta1)) * G0 / (np.abs(G0) + eps), name="nadam_step: w after step 1")


@pytest.mark.question("adam_family")
@pytest.mark.points(2)
@pytest.mark.requirement("R6.1")
def test_adam_matches_torch(submission):
    """30 steps on f(w) = 1/2 w'Aw - b'w against torch.optim.Adam, whose conventions are the handout's."""
    A, b = np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([1.0, -1.0])
    lr, beta1, beta2, eps = 0.05, 0.8, 0.99, 0.05
    w, state = np.array([2.0, 2.0]), submission.init_state("adam", np.zeros(2))
    p = torch.tensor(w, requires_grad=True)
    optimizer = torch.optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps)
    for k in range(1, 31):
        w, state = submission.adam_step(w, A @ w - b, state, lr, beta1, beta2, eps)
        p.grad = torch.from_numpy(A @ p.detach().numpy() - b)
        optimizer.step()
        assert_close(w, p.detach().numpy(), 1e-9, 1e-12, name=f"adam_step: w after step {k} (vs torch.optim.Adam)")
        assert_close(state["m"], optimizer.state[p]["exp_avg"].numpy(), 1e-9, 1e-12, name=f"adam_step: m after step {k}")
        assert_close(state["v"], optimizer.state[p]["exp_avg_sq"].numpy(), 1e-9, 1e-12, name=f"adam_step: v after step {k}")


# ------------------------------------------------------------------ schedules


@pytest.mark.question("schedules")
@pytest.mark.points(1)
@pytest.mark.requirement("R7.1")
def test_decays_at_a_few_steps(submission):
    assert_close([submission.step_decay(t, 0.1, 0.5, 5) for t in range(12)], [0.1] * 5 + [0.05] * 5 + [0.025] * 2,
                 name="step_decay(t, 0.1, 0.5, 5) for t = 0..11")
    assert_close([submission.exponential_decay(t, 0.1, 0.5) for t in (0, 1, 4)], [0.1 * math.exp(-0.5 * t) for t in (0, 1, 4)],
                 name="exponential_decay(t, 0.1, 0.5) at t = 0, 1, 4")
    assert_close([submission.inverse_time_decay(t, 0.1, 0.5) for t in (0, 1, 4)], [0.1, 0.1 / 1.5, 0.1 / 3],
                 name="inverse_time_decay(t, 0.1, 0.5) at t = 0, 1, 4")


@pytest.mark.question("schedules")
@pytest.mark.points(1)
@pytest.mark.requirement("R7.1")
def test_cosine_restarts_cycle_points(submission):
    """period 4, mult 2: cycles [0, 4), [4, 12), [12, 28); each starts at lr_max and is at the midpoint halfway."""
    ts = [0, 2, 3, 4, 8, 11, 12, 20]
    expected = [1.0, 0.5, 0.5 * (1 + math.cos(0.75 * math.pi)), 1.0, 0.5, 0.5 * (1 + math.cos(7 / 8 * math.pi)), 1.0, 0.5]
    assert_close([submission.cosine_restarts(t, 0.0, 1.0, 4, 2) for t in ts], expected,
                 name=f"cosine_restarts(t, 0, 1, 4, 2) at t = {ts}")


@pytest.mark.question("schedules")
@pytest.mark.points(1)
@pytest.mark.requirement("R7.1")
def test_sutskever_stages(submission):
    ts = [0, 249, 250, 499, 500, 750, 1000]
    assert_close([submission.sutskever_momentum(t, 0.99) for t in ts], [0.5, 0.5, 0.75, 0.75, 5 / 6, 0.875, 0.9],
                 name=f"sutskever_momentum(t, 0.99) at t = {ts}")
    assert_close(submission.sutskever_momentum(600, 0.8), 0.8, name="sutskever_momentum(600, 0.8) (capped)")

"""Hidden tests of the midterm's code questions in parts 1 and 2: the LSTM cell Jacobian against
torch's autograd, gradient descent and mini-batch SGD, the heavy ball, RMSProp and Adam against
torch.optim, all in float64 on random shapes drawn from `rng`."""

import numpy as np
import pytest
import torch

from grader.checks import assert_close, assert_inputs_unchanged, assert_shape


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


# ------------------------------------------------------------------ lstm_cell_jacobian


def lstm_case(rng, d=None, n=None, scale=1.0, zero=()):
    """x_t, c_{t-1}, o_{t-1} and the gate parameters, with the recurrent matrices named in `zero` set to 0."""
    d = int(rng.integers(2, 7)) if d is None else d
    n = int(rng.integers(1, 5)) if n is None else n
    params = {}
    for gate in "figo":
        params["W_" + gate] = np.zeros((d, d)) if gate in zero else scale * rng.normal(size=(d, d))
        params["U_" + gate] = scale * rng.normal(size=(d, n))
        params["b_" + gate] = rng.normal(size=d)
    x_t, c_prev, o_prev = rng.normal(size=n), 2 * rng.normal(size=d), rng.uniform(0.05, 0.95, size=d)
    return x_t, c_prev, o_prev, params


def autograd_jacobian(x_t, c_prev, o_prev, params):
    """dc_t/dc_{t-1} of (1)-(3) by torch's autograd, h_{t-1} = o_{t-1} * tanh(c_{t-1}) with o_{t-1} held fixed."""
    p = {k: t64(v) for k, v in params.items()}
    x, o = t64(x_t), t64(o_prev)

    def c_next(c):
        h = o * torch.tanh(c)
        f, i = (torch.sigmoid(p["W_" + k] @ h + p["U_" + k] @ x + p["b_" + k]) for k in "fi")
        g = torch.tanh(p["W_g"] @ h + p["U_g"] @ x + p["b_g"])
        return f * c + i * g

    return torch.autograd.functional.jacobian(c_next, t64(c_prev)).numpy()


def assert_jacobian(submission, case, name):
    d = len(case[1])
    J = submission.cell_jacobian(*case)
    assert_shape(J, (d, d), name=name)
    assert_close(J, autograd_jacobian(*case), 1e-8, 1e-10, name=name)


@pytest.mark.question("lstm_cell_jacobian")
@pytest.mark.points(1)
@pytest.mark.requirement("R1.1")
def test_jacobian_direct_path(submission, rng):
    """W_f = W_i = W_g = 0: only the path through f_t * c_{t-1} is left, diag(f_t)."""
    for i in range(3):
        assert_jacobian(submission, lstm_case(rng, zero="fig"), f"cell_jacobian with W_f = W_i = W_g = 0 (case {i})")


@pytest.mark.question("lstm_cell_jacobian")
@pytest.mark.points(3)
@pytest.mark.requirement("R1.1")
def test_jacobian_paths_through_f_and_i(submission, rng):
    """W_g = 0: the direct path and the paths through f_t and i_t (via h_{t-1} = o_{t-1} tanh(c_{t-1}))."""
    for i in range(4):
        assert_jacobian(submission, lstm_case(rng, zero="g"), f"cell_jacobian with W_g = 0 (case {i})")


@pytest.mark.question("lstm_cell_jacobian")
@pytest.mark.points(4)
@pytest.mark.requirement("R1.1")
def test_jacobian_all_paths_match_autograd(submission, rng):
    for i in range(6):
        case = lstm_case(rng, scale=float(rng.uniform(0.3, 2.0)))
        assert_jacobian(submission, case, f"cell_jacobian (case {i}, d = {len(case[1])}, n = {len(case[0])})")


@pytest.mark.question("lstm_cell_jacobian")
@pytest.mark.points(1)
@pytest.mark.requirement("R1.2")
def test_jacobian_leaves_inputs_unchanged(submission, rng):
    x_t, c_prev, o_prev, params = lstm_case(rng, d=4, n=3)
    assert_inputs_unchanged(submission.cell_jacobian, x_t, c_prev, o_prev, params)


# ------------------------------------------------------------------ gd_sgd


def regression(rng, N=None, p=None):
    N = int(rng.integers(5, 30)) if N is None else N
    p = int(rng.integers(1, 6)) if p is None else p
    X, theta = rng.normal(size=(N, p)), rng.normal(size=p)
    return X, X @ rng.normal(size=p) + 0.1 * rng.normal(size=N), theta


def torch_gd_step(theta, X, y, lr):
    """(7) with the gradient of the mean loss (5) by autograd."""
    w = t64(theta).requires_grad_()
    loss = 0.5 * ((t64(X) @ w - t64(y)) ** 2).mean()
    loss.backward()
    return (w - lr * w.grad).detach().numpy()


@pytest.mark.question("gd_sgd")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.1", "R2.1")
def test_gd_step_matches_autograd(submission, rng):
    for i in range(4):
        X, y, theta = regression(rng)
        lr = float(rng.uniform(0.01, 0.5))
        assert_close(submission.gd_step(theta, X, y, lr), torch_gd_step(theta, X, y, lr), 1e-10, 1e-12,
                     name=f"gd_step (case {i}, N = {len(y)})")


@pytest.mark.question("gd_sgd")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.2")
def test_sgd_epoch_batches_in_the_order_of_perm(submission, rng):
    """Batch sizes that divide N and that do not (a smaller last batch), each batch a mean (8)."""
    for i, batch_size in enumerate([1, 3, 4, 7]):
        X, y, theta = regression(rng, N=int(rng.integers(9, 20)))
        perm, lr = rng.permutation(len(y)), float(rng.uniform(0.01, 0.2))
        expected = theta
        for start in range(0, len(y), batch_size):
            batch = perm[start:start + batch_size]
            expected = torch_gd_step(expected, X[batch], y[batch], lr)
        assert_close(submission.sgd_epoch(theta, X, y, lr, batch_size, perm), expected, 1e-9, 1e-12,
                     name=f"sgd_epoch (case {i}, N = {len(y)}, batch size {batch_size})")


@pytest.mark.question("gd_sgd")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.2")
def test_sgd_with_one_batch_is_gd(submission, rng):
    X, y, theta = regression(rng)
    perm = rng.permutation(len(y))
    assert_close(submission.sgd_epoch(theta, X, y, 0.1, len(y), perm), torch_gd_step(theta, X, y, 0.1), 1e-10, 1e-12,
                 name="sgd_epoch with one batch of all N examples")


@pytest.mark.question("gd_sgd")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.6")
def test_gd_sgd_leave_inputs_unchanged(submission, rng):
    X, y, theta = regression(rng)
    assert_inputs_unchanged(submission.gd_step, theta, X, y, 0.1)
    assert_inputs_unchanged(submission.sgd_epoch, theta, X, y, 0.1, 3, rng.permutation(len(y)))


# ------------------------------------------------------------------ heavy_ball_step


def quadratic(rng, p):
    Q = rng.normal(size=(p, p))
    return Q @ Q.T / p + 0.1 * np.eye(p), rng.normal(size=p)


@pytest.mark.question("heavy_ball_step")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.3")
def test_heavy_ball_single_steps(submission, rng):
    for i in range(4):
        w, w_prev, g = rng.normal(size=(3, 5))
        gamma, beta = float(rng.uniform(0.01, 1)), float(rng.uniform(-0.5, 0.99))
        assert_close(submission.heavy_ball_step(w, w_prev, g, gamma, beta), w - gamma * g + beta * (w - w_prev),
                     1e-12, 1e-14, name=f"heavy_ball_step (case {i})")


@pytest.mark.question("heavy_ball_step")
@pytest.mark.points(1)
@pytest.mark.requirement("R2.3")
def test_heavy_ball_run_is_torch_momentum(submission, rng, variant):
    """Started with w_{-1} = w_0, (9) follows torch's SGD with momentum beta and lr gamma (dampening 0); the step
    gamma is the one of question 2.6 on the student's paper."""
    A, b = quadratic(rng, 4)
    w0, gamma, beta = rng.normal(size=4), variant["heavy_ball_beta_min"]["gamma"], 0.8
    param = t64(w0).requires_grad_()
    optimizer = torch.optim.SGD([param], lr=gamma, momentum=beta)
    w, w_prev = w0, w0
    for step in range(20):
        optimizer.zero_grad()
        (0.5 * param @ t64(A) @ param - t64(b) @ param).backward()
        optimizer.step()
        w, w_prev = submission.heavy_ball_step(w, w_prev, A @ w - b, gamma, beta), w
        assert_close(w, param.detach().numpy(), 1e-9, 1e-12, name=f"heavy_ball_step, step {step + 1} of a run")


# ------------------------------------------------------------------ rmsprop_step and adam_step


def torch_run(optimizer_class, A, b, w0, steps, **options):
    """The iterates of torch.optim on f(w) = w.A.w / 2 - b.w, and the state after each step."""
    param = t64(w0).requires_grad_()
    optimizer = optimizer_class([param], **options)
    trajectory = []
    for _ in range(steps):
        optimizer.zero_grad()
        (0.5 * param @ t64(A) @ param - t64(b) @ param).backward()
        optimizer.step()
        state = optimizer.state[param]
        trajectory.append((param.detach().numpy().copy(),
                           {k: v.detach().numpy().copy() for k, v in state.items() if k != "step"}))
    return trajectory


@pytest.mark.question("rmsprop_step")
@pytest.mark.points(1)
@pytest.mark.requirement("R0.2", "R2.4")
def test_rmsprop_single_steps(submission, rng):
    for i in range(4):
        w, g = rng.normal(size=(2, 6))
        v, lr, alpha, eps = rng.uniform(0, 2, size=6), float(rng.uniform(0.001, 0.1)), 0.9, 1e-8
        w_new, v_new = submission.rmsprop_step(w, g, v, lr, alpha, eps)
        v_expected = alpha * v + (1 - alpha) * g**2
        assert_close(v_new, v_expected, 1e-12, 1e-14, name=f"rmsprop_step: v (case {i})")
        assert_close(w_new, w - lr * g / (np.sqrt(v_expected) + eps), 1e-12, 1e-14, name=f"rmsprop_step: w (case {i})")


@pytest.mark.question("rmsprop_step")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.4")
def test_rmsprop_run_matches_torch(submission, rng):
    A, b = quadratic(rng, 5)
    w, v = rng.normal(size=5), np.zeros(5)
    options = {"lr": 0.01, "alpha": 0.95, "eps": 1e-6}
    for step, (w_torch, state) in enumerate(torch_run(torch.optim.RMSprop, A, b, w, 25, **options)):
        w, v = submission.rmsprop_step(w, A @ w - b, v, options["lr"], options["alpha"], options["eps"])
        assert_close(v, state["square_avg"], 1e-9, 1e-14, name=f"rmsprop_step: v after step {step + 1}")
        assert_close(w, w_torch, 1e-9, 1e-12, name=f"rmsprop_step: w after step {step + 1}")


@pytest.mark.question("adam_step")
@pytest.mark.points(2)
@pytest.mark.requirement("R2.5")
def test_adam_moments(submission, rng):
    """The returned m and v are the moving averages (12), before bias correction."""
    for i in range(4):
        w, g, m = rng.normal(size=(3, 5))
        v, t = rng.uniform(0, 2, size=5), int(rng.integers(1, 50))
        _, m_new, v_new = submission.adam_step(w, g, m, v, t, 0.01, 0.9, 0.999, 1e-8)
        assert_close(m_new, 0.9 * m + 0.1 * g, 1e-12, 1e-14, name=f"adam_step: m (case {i})")
        assert_close(v_new, 0.999 * v + 0.001 * g**2, 1e-12, 1e-14, name=f"adam_step: v (case {i})")


@pytest.mark.question("adam_step")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.3")
def test_adam_first_step_is_bias_corrected(submission, rng):
    """From m = v = 0 at t = 1 with eps = 0, the corrected moments are g and g^2: every coordinate moves by lr."""
    w, g = rng.normal(size=(2, 6))
    w_new, _, _ = submission.adam_step(w, g, np.zeros(6), np.zeros(6), 1, 0.05, 0.9, 0.999, 0.0)
    assert_close(w_new, w - 0.05 * np.sign(g), 1e-10, 1e-12, name="adam_step at t = 1 from zero moments (eps = 0)")


@pytest.mark.question("adam_step")
@pytest.mark.points(2)
@pytest.mark.requirement("R0.2", "R2.5")
def test_adam_run_matches_torch(submission, rng):
    A, b = quadratic(rng, 5)
    w, m, v = rng.normal(size=5), np.zeros(5), np.zeros(5)
    lr, betas, eps = 0.05, (0.8, 0.99), 1e-8
    for t, (w_torch, state) in enumerate(torch_run(torch.optim.Adam, A, b, w, 25, lr=lr, betas=betas, eps=eps), 1):
        w, m, v = submission.adam_step(w, A @ w - b, m, v, t, lr, betas[0], betas[1], eps)
        assert_close(m, state["exp_avg"], 1e-9, 1e-14, name=f"adam_step: m after step {t}")
        assert_close(w, w_torch, 1e-9, 1e-12, name=f"adam_step: w after step {t}")

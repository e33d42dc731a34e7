# %% [markdown]
# # Midterm: reference answers
#
# Question numbers and equation numbers refer to `assignments/midterm/handout.md`. Every
# answer cell is tagged with its question id. Vectors are 1-D numpy arrays; batches are
# rows; every loss is a mean over the batch (handout, "Conventions").
#
# Each student's paper has its own numbers and option orders. The grader runs a cell before this
# file that sets `variant`: the paper's parameters, variant["params"][question id][name], and for
# each shuffled choice question the spec's labels in the order the paper shows them,
# variant["orders"][question id]. The answers below are computed from them.

# %%
import math

import numpy as np

P = variant["params"]  # noqa: F821 (set by the grader)


def shown(qid, *labels):
    """The labels this paper shows for the options the spec labels `labels` (a, b, ... in the spec's order)."""
    order = variant["orders"].get(qid, "abcdefghijklmnopqrstuvwxyz")  # noqa: F821
    return ["abcdefghijklmnopqrstuvwxyz"[order.index(label)] for label in labels]


def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # 1 / (1 + exp(-a)), never overflows


def logsumexp(a):
    """log sum exp over the last axis, shifted by the max so that nothing overflows."""
    m = a.max(axis=-1, keepdims=True)
    return m[..., 0] + np.log(np.exp(a - m).sum(axis=-1))

# %% [markdown]
# ## Part 1: LSTMs and vanishing gradients
#
# Question 1.1 (lstm_cell_jacobian). h_{t-1} = o_{t-1} * tanh(c_{t-1}) (2) feeds every gate of
# step t (3), so c_t (1) depends on c_{t-1} directly and through f_t, i_t and g_t.

# %% tags=["lstm_cell_jacobian"]
def cell_jacobian(x_t, c_prev, o_prev, params):
    tanh_c = np.tanh(c_prev)
    h_prev = o_prev * tanh_c  # (2) at step t-1
    a = {gate: params["W_" + gate] @ h_prev + params["U_" + gate] @ x_t + params["b_" + gate] for gate in "fig"}
    f_t, i_t, g_t = sigmoid(a["f"]), sigmoid(a["i"]), np.tanh(a["g"])  # (3)
    dh_dc = o_prev * (1.0 - tanh_c**2)  # dh_{t-1}/dc_{t-1}, a diagonal
    through_f = (c_prev * f_t * (1.0 - f_t))[:, None] * params["W_f"]  # (4): dc_t/df_t df_t/dh_{t-1}
    through_i = (g_t * i_t * (1.0 - i_t))[:, None] * params["W_i"]
    through_g = (i_t * (1.0 - g_t**2))[:, None] * params["W_g"]
    return np.diag(f_t) + (through_f + through_i + through_g) * dh_dc[None, :]  # (4)

# %% [markdown]
# Question 1.2 (lstm_decay): along the direct path only, dc_T/dc_0 = prod_t diag(f_t) = sigma(pre)^T.

# %% tags=["lstm_decay"]
lstm_decay = sigmoid(P["lstm_decay"]["pre"]) ** P["lstm_decay"]["steps"]

# %% [markdown]
# Question 1.3 (lstm_half_life): f^T = 1/2 when T = log(1/2) / log(f).

# %% tags=["lstm_half_life"]
def lstm_half_life(f):
    return math.log(0.5) / math.log(f)

# %% [markdown]
# Question 1.4 (lstm_mitigate)

# %% [markdown] tags=["lstm_mitigate"]
# lstm_mitigate: The direct path through the cell, dc_t/dc_{t-1} = diag(f_t) plus terms through the gates, is
# elementwise and involves no repeated weight matrix and no squashing derivative: when the forget
# gate stays near 1 the gradient is carried over many steps almost unchanged (the constant error
# carousel), which is what mitigates the vanishing gradient of a vanilla RNN.
# It does not remove the problem: the product of forget gates f_1 ... f_T still decays
# geometrically whenever the gates are below 1 (f = 0.9 loses half the gradient in under 7 steps),
# and the network must learn to keep them open; the other paths, through f_t, i_t, g_t and h_{t-1},
# multiply the recurrent matrices W and the derivatives sigma' <= 1/4 and tanh' <= 1 at every step,
# exactly like an RNN, so along those paths gradients can still vanish or explode; the hidden state
# h_t = o_t * tanh(c_t) also saturates. Gradient clipping is still needed against explosion, and
# long dependencies beyond what the gates keep open remain hard to learn.

# %% [markdown]
# ## Part 2: Optimisation
#
# Question 2.1 (gd_sgd): L(theta) = 1/(2N) sum_i (x_i . theta - y_i)^2, the mean over the examples (5).

# %% tags=["gd_sgd"]
def loss_gradient(theta, X, y):
    return X.T @ (X @ theta - y) / len(y)  # (6)


def gd_step(theta, X, y, lr):
    return theta - lr * loss_gradient(theta, X, y)  # (7)


def sgd_epoch(theta, X, y, lr, batch_size, perm):
    for start in range(0, len(y), batch_size):  # (8): the last batch may be smaller
        batch = perm[start:start + batch_size]
        theta = gd_step(theta, X[batch], y[batch], lr)
    return theta

# %% [markdown]
# Question 2.2 (batch_noise)

# %% [markdown] tags=["batch_noise"]
# batch_noise: A mini-batch gradient is an unbiased estimate of the full gradient whose variance shrinks like
# 1/B with the batch size B. Small batches make many cheap, noisy steps per epoch: early in training
# the gradient is large compared to the noise, so a noisy step is almost as good as a full one and
# far cheaper; near a minimum the noise dominates, so the step size must decay (or the batch grow) for
# SGD to converge, otherwise the iterates wander in a ball whose size scales with lr/B. The noise can
# help escape saddle points and sharp minima and acts as a regulariser, one reason small batches often
# generalise better. The batch size has no reason to equal the number of classes: what matters is the
# variance of the estimate, the hardware's parallelism and the learning rate (the two scale together).

# %% [markdown]
# Question 2.3 (heavy_ball_step), (9)

# %% tags=["heavy_ball_step"]
def heavy_ball_step(w, w_prev, g, gamma, beta):
    return w - gamma * g + beta * (w - w_prev)  # (9)

# %% [markdown]
# Questions 2.4-2.6. On f(w) = a w^2 / 2, (9) is w_{t+1} = (1 + beta - h) w_t - beta w_{t-1} with
# h = gamma a. Both roots of z^2 - (1 + beta - h) z + beta lie inside the unit circle if and
# only if |beta| < 1 and 0 < h < 2 (1 + beta), that is h/2 - 1 < beta < 1.
# With h = 1 (question 2.4): -1/2 < beta < 1. Question 2.6: beta > h/2 - 1.

# %% tags=["heavy_ball_range"]
heavy_ball_range = shown("heavy_ball_range", "b")[0]

# %% tags=["heavy_ball_facts"]
heavy_ball_facts = shown("heavy_ball_facts", "a", "c", "d")

# %% tags=["heavy_ball_beta_min"]
heavy_ball_beta_min = P["heavy_ball_beta_min"]["gamma"] * P["heavy_ball_beta_min"]["a"] / 2 - 1

# %% [markdown]
# Question 2.7 (rmsprop_step), (10)-(11)

# %% tags=["rmsprop_step"]
def rmsprop_step(w, g, v, lr, alpha, eps):
    v = alpha * v + (1 - alpha) * g**2  # (10)
    return w - lr * g / (np.sqrt(v) + eps), v  # (11)

# %% [markdown]
# Question 2.8 (adam_step), (12)-(14): the update uses the new, bias-corrected moments.

# %% tags=["adam_step"]
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g  # (12)
    v = beta2 * v + (1 - beta2) * g**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)  # (13), t = 1 at the first step
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v  # (14)

# %% [markdown]
# Questions 2.9-2.10: the schedule of the handout's fragment. The rate is divided by LR_DECAY when
# the new validation loss is worse than the best one recorded more than NONMONO epochs ago.

# %% tags=["lr_schedule_rule"]
lr_schedule_rule = shown("lr_schedule_rule", "b")[0]

# %% tags=["lr_schedule_trace"]
def schedule(losses, lr, lr_decay, nonmono):
    rates, seen = [], []
    for loss in losses:
        if len(seen) > nonmono and loss > min(seen[:-nonmono]):
            lr = lr / lr_decay
        seen.append(loss)
        rates.append(lr)
    return rates


lr_schedule_trace = schedule(P["lr_schedule_trace"]["losses"], 1.0, P["lr_schedule_trace"]["lr_decay"],
                             P["lr_schedule_trace"]["nonmono"])

# %% [markdown]
# ## Part 3: Energy-based models
#
# Question 3.1 (gibbs), (15)

# %% tags=["gibbs"]
def gibbs(F, beta):
    a = -beta * np.asarray(F, dtype=np.float64)  # (15)
    p = np.exp(a - a.max(axis=-1, keepdims=True))  # the lowest energy gets exp(0) = 1
    return p / p.sum(axis=-1, keepdims=True)

# %% [markdown]
# Question 3.2 (free_energy), (16)

# %% tags=["free_energy"]
def free_energy(E, beta):
    return -logsumexp(-beta * np.asarray(E, dtype=np.float64)) / beta  # (16)

# %% [markdown]
# Question 3.3 (free_energy_values): (16) at beta = 1 and 10, and its limit min_z E (17).

# %% tags=["free_energy_values"]
energies = np.array([P["free_energy_values"][name] for name in ("e1", "e2", "e3")])
free_energy_values = [float(free_energy(energies, beta)) for beta in (1.0, 10.0)] + [float(energies.min())]

# %% [markdown]
# Questions 3.4-3.5 (nll_loss, nll_grad), (18)-(19)

# %% tags=["nll_loss"]
def nll_loss(F, y, beta):
    F = np.asarray(F, dtype=np.float64)
    return float(np.mean(F[np.arange(len(F)), y] - free_energy(F, beta)))  # (18)

# %% tags=["nll_grad"]
def nll_grad(F, y, beta):
    F = np.asarray(F, dtype=np.float64)
    positive = np.eye(F.shape[1])[y]  # (19): push down the correct answer
    negative = gibbs(F, beta)  # (19): push up every answer, weighted by P(y|x)
    return (positive - negative) / len(F)

# %% [markdown]
# Question 3.6 (info_nce), (20)-(21)

# %% tags=["info_nce"]
def cosine_similarities(U, V):
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    V = V / np.linalg.norm(V, axis=1, keepdims=True)
    return U @ V.T  # (20)


def info_nce_loss(U, V, tau):
    logits = cosine_similarities(U, V) / tau  # (21)
    return float(np.mean(logsumexp(logits) - np.diag(logits)))

# %% [markdown]
# Questions 3.7-3.8 (ebm_facts, kmeans_sparse), (22)-(23)

# %% tags=["ebm_facts"]
ebm_facts = shown("ebm_facts", "a", "b", "c")

# %% tags=["kmeans_sparse"]
def kmeans_free_energy(Y, W):
    distances = ((Y[:, :, None] - W[None, :, :]) ** 2).sum(axis=1)  # ||y_n - w_j||^2, (N, k)
    return distances.min(axis=1)  # (22): the one-hot z picking the closest prototype


def sparse_coding_energy(y, W, z, lam):
    return float(np.sum((y - W @ z) ** 2) + lam * np.abs(z).sum())  # (23)

# %% [markdown]
# ## Part 4: The ELBO and back-propagation
#
# Question 4.1 (elbo_gap)

# %% tags=["elbo_gap"]
elbo_gap = [
    "log p(x)",
    "= [expectation of a constant] E_q[log p(x)]",
    "= [Bayes' rule: p(x,z) = p(x) p(z|x), log of a quotient] E_q[log p(x,z) - log p(z|x)]",
    "= [algebra, linearity] E_q[log p(x,z) - log q(z|x)] + E_q[log q(z|x) - log p(z|x)]",
    "= [definitions of the ELBO and of KL] ELBO + KL(q(z|x) || p(z|x))",
]

# %% [markdown]
# Question 4.2 (elbo_discrete): [log p(x), ELBO, KL(q || p(z|x))] for the handout's numbers.

# %% tags=["elbo_discrete"]
p_z, p_x_given_z, q = (np.array(P["elbo_discrete"][name]) for name in ("p_z", "p_x_given_z", "q"))
evidence = float(np.sum(p_z * p_x_given_z))
elbo = float(np.sum(q * (np.log(p_z * p_x_given_z) - np.log(q))))
elbo_discrete = [math.log(evidence), elbo, math.log(evidence) - elbo]

# %% [markdown]
# Question 4.3 (mlp_backward): back-propagation through (24)

# %% tags=["mlp_backward"]
def mlp_backward(X, y, W1, b1, W2, b2):
    H = np.tanh(X @ W1 + b1)  # (24)
    logits = H @ W2 + b2
    P = np.exp(logits - logsumexp(logits)[:, None])  # softmax
    dlogits = (P - np.eye(W2.shape[1])[y]) / len(X)  # dL/dlogits: the loss is the mean over the batch
    dW2, db2 = H.T @ dlogits, dlogits.sum(axis=0)
    dA = (dlogits @ W2.T) * (1.0 - H**2)  # tanh' = 1 - tanh^2
    return X.T @ dA, dA.sum(axis=0), dW2, db2

# The answers of one student of the course's midterm, transcribed into this exam's format.
#
# Each answer is the student's own formula or claim, written as code or data as faithfully as
# it allows (their words are quoted in the comments); a question the student did not answer
# is left as in the starter. tests/test_midterm.py states what each answer earns, and why.

import math

import numpy as np


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def sigmoid_prime(a):
    return sigmoid(a) * (1 - sigmoid(a))


# 1.1 "dc_t/dc_{t-1} = sigma'(W[h,x]) W o_{t-1} tanh'(c_{t-1}) c_{t-1} + f_t
#      + sigma'(W[h,x]) W o_{t-1} tanh'(c_{t-1}) c~_t + sigma'(W[h,x]) W o_{t-1} tanh'(c_{t-1}) i_t"
# Four paths, each gate with its own W; the candidate's path takes sigma' where tanh' belongs.
def cell_jacobian(x_t, c_prev, o_prev, params):
    h_prev = o_prev * np.tanh(c_prev)
    a = {gate: params["W_" + gate] @ h_prev + params["U_" + gate] @ x_t + params["b_" + gate] for gate in "fig"}
    f_t, i_t, g_t = sigmoid(a["f"]), sigmoid(a["i"]), np.tanh(a["g"])
    dh = o_prev * (1 - np.tanh(c_prev) ** 2)
    return (np.diag(f_t)
            + (sigmoid_prime(a["f"]) * c_prev)[:, None] * params["W_f"] * dh[None, :]
            + (sigmoid_prime(a["i"]) * g_t)[:, None] * params["W_i"] * dh[None, :]
            + (sigmoid_prime(a["g"]) * i_t)[:, None] * params["W_g"] * dh[None, :])


lstm_decay = None       # not asked in the student's exam


def lstm_half_life(f):  # not asked in the student's exam
    ...


lstm_mitigate = """\
From the LSTM's auxiliary cell state definition we can see that the term f_t * c_{t-1} contains the
don't forget gate. This gate helps the system decide at every time step if the previous state's
information should be remembered or forgotten. The product of the dc_t/dc_{t-1} causes the gradients to
either explode or vanish. In LSTM, due to the auxiliary cell state and the hidden state, this term will
yield an additive gradient. Since they are additive in nature, the gradients will not explode/vanish.
However, if one of the four additive terms is more dominating than the others, the larger term's
magnitude will outweigh the others, so the result will resemble the way a vanilla RNN backpropagates
through time, which means that there is still a possibility that this term might vanish/blow up!"""


# 2(a)-(b): "theta_{k+1} = theta_k - gamma_k (1/N) d(sum_i l_i)/d theta_k" and the same over a mini-batch M_i.
def gd_step(theta, X, y, lr):
    return theta - lr * X.T @ (X @ theta - y) / len(y)


def sgd_epoch(theta, X, y, lr, batch_size, perm):
    for start in range(0, len(y), batch_size):
        batch = perm[start:start + batch_size]
        theta = theta - lr * X[batch].T @ (X[batch] @ theta - y[batch]) / len(batch)
    return theta


batch_noise = """\
We prefer smaller batch sizes not only because they converge sooner, but also because it results in
regularization. Smaller batch sizes result in noisy steps, which can help us skip over unwanted local
optima. A good batch size for K class classification would be slightly more than or equal to the number
of classes K, because we want the mini batches to represent the entire dataset in each batch. In the
initial stages of training the noise of SGD is small compared to the information in the gradient, so the
steps are virtually comparable to GD's."""


# 2(g): "w_{t+1} = w_t - gamma_t grad f_i(w_t) + beta_t (w_t - w_{t-1})"
def heavy_ball_step(w, w_prev, g, gamma, beta):
    return w - gamma * g + beta * (w - w_prev)


# "The appropriate range of beta_t is [0,1). If beta_t was < 0, the algorithm is simply standard
#  Gradient Descent. If beta_t was > 1, the equation will blow up eventually."
heavy_ball_range = "a"
heavy_ball_facts = ["b", "d", "e"]
heavy_ball_beta_min = 0.0


# 2(h): "v_{t+1} = alpha v_t + (1 - alpha) grad^2, w_{t+1} = w_t - gamma grad / (sqrt(v_{t+1}) + eps)"
def rmsprop_step(w, g, v, lr, alpha, eps):
    v = alpha * v + (1 - alpha) * g**2
    return w - lr * g / (np.sqrt(v) + eps), v


# "m_{t+1} = beta m_t + (1 - beta) grad, v_{t+1} = alpha v_t + (1 - alpha) grad^2,
#  w_{t+1} = w_t - gamma m_t / (sqrt(v_{t+1}) + eps)" with "bias correction (not shown)".
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    m_new = beta1 * m + (1 - beta1) * g
    v_new = beta2 * v + (1 - beta2) * g**2
    return w - lr * m / (np.sqrt(v_new) + eps), m_new, v_new


# "The conditional statement checks if the current loss is greater than the minimum loss encountered
#  until now ... the algorithm updates the learning rate to a smaller value by dividing it with LR_DECAY."
lr_schedule_rule = "a"


def as_the_student_reads_it(losses, lr, lr_decay):
    rates, best = [], math.inf
    for loss in losses:
        if loss > best:
            lr = lr / lr_decay
        best = min(best, loss)
        rates.append(lr)
    return rates


lr_schedule_trace = as_the_student_reads_it([5.0, 4.0, 3.5, 3.6, 3.4, 3.7, 3.8, 3.3, 3.9, 4.0], 1.0, 2.0)


# 3(b): "P(y|x) = exp(-beta F(x,y)) / integral_y exp(-beta F(x,y))"
def gibbs(F, beta):
    a = -beta * np.asarray(F, dtype=np.float64)
    p = np.exp(a - a.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


# 3(c): "F_beta(x, y) = -(1/beta) log integral_z exp(-beta E(x, y, z))"
def free_energy(E, beta):
    a = -beta * np.asarray(E, dtype=np.float64)
    m = a.max(axis=-1)
    return -(m + np.log(np.exp(a - m[..., None]).sum(axis=-1))) / beta


free_energy_values = None   # the student gives no zero-temperature limit


# 3(d): "L(w) = (1/N) sum_i [F_w(x_i, y_i) + (1/beta) log integral_y exp(-beta F_w(x_i, y))]"
def nll_loss(F, y, beta):
    F = np.asarray(F, dtype=np.float64)
    return float(np.mean(F[np.arange(len(F)), y] - free_energy(F, beta)))  # (1/beta) log sum exp(-beta F) = -F_beta


# "dL/dw = F_w(x_i, y_i) + F_{beta,w}(x_i, y)": the negative phase added, a sign slip.
def nll_grad(F, y, beta):
    F = np.asarray(F, dtype=np.float64)
    return (np.eye(F.shape[1])[y] + gibbs(F, beta)) / len(F)


# 3(e): "s(u, v) ... a measure of their cosine similarity"; the loss
# "-log h(v_I, v_I') - sum_{I' in D_N} log(1 - h(v_I', v_I))" with h the softmax of the similarities / tau.
def cosine_similarities(U, V):
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    V = V / np.linalg.norm(V, axis=1, keepdims=True)
    return U @ V.T


def info_nce_loss(U, V, tau):
    h = gibbs(-cosine_similarities(U, V) / tau, 1.0)
    positives = np.diag(h)
    negatives = h - np.diag(positives)
    return float(np.mean(-np.log(positives) - np.log(1 - negatives).sum(axis=1)))


# 3(f): "F(x, y) = ||y - W z||^2, where z is a 1-hot vector ... the volume of the low energy regions
#  is bounded by the number of prototypes k ... we don't intend to push the energy levels up anywhere";
# "sparse coding: F(x, y) = ||y - W z||^2 + lambda ||z||_1".
ebm_facts = ["a", "b"]


def kmeans_free_energy(Y, W):
    return np.array([min(np.sum((y - W[:, j]) ** 2) for j in range(W.shape[1])) for y in Y])


def sparse_coding_energy(y, W, z, lam):
    return float(np.sum((y - W @ z) ** 2) + lam * np.sum(np.abs(z)))


elbo_gap = None        # not asked in the student's exam
elbo_discrete = None   # not asked in the student's exam


def mlp_backward(X, y, W1, b1, W2, b2):   # not asked in the student's exam
    raise NotImplementedError

# Alternative: vectorised, but written from the probabilities instead of the log-sum-exp: the NLL
# loss as the mean of F_i,yi - F_min minus log of the shifted partition sum, the gradient built by
# subtracting P and then adding 1/N at the correct answers with fancy indexing; free energy with the
# sum of exponentials taken in a sorted (ascending) order; NCE through np.logaddexp(0, t) in
# loss and 0.5 * (1 + tanh(t/2)) for the sigmoid; K-means by broadcasting (N, d, k) differences;
# the norm of W from np.linalg.norm(W, 2); ISTA with np.sign * np.maximum.
import numpy as np


def gibbs(F, beta):
    F = np.array(F, dtype=np.float64)
    w = np.exp(-beta * (F - np.min(F, axis=-1, keepdims=True)))
    return w / np.sum(w, axis=-1, keepdims=True)


def free_energy(E, beta):
    E = np.array(E, dtype=np.float64)
    m = np.min(E, axis=-1, keepdims=True)
    terms = np.sort(np.exp(-beta * (E - m)), axis=-1)
    return (m - np.log(np.sum(terms, axis=-1, keepdims=True)) / beta)[..., 0]


def nll_loss(F, y, beta):
    y = np.asarray(y, dtype=np.int64)
    rows = np.arange(F.shape[0])
    return float(np.mean(F[rows, y] - free_energy(F, beta)))


def nll_grad(F, y, beta):
    N = F.shape[0]
    G = -gibbs(F, beta) / N
    G[np.arange(N), np.asarray(y, dtype=np.int64)] += 1.0 / N
    return G


def linear_energy(X, W, b):
    return X @ W + b[None, :]


def nll_linear_grad(X, y, W, b, beta):
    G = nll_grad(linear_energy(X, W, b), y, beta)
    return X.T @ G, np.sum(G, axis=0)


def mlp_energy(X, W1, b1, W2, b2):
    return np.tanh(X @ W1 + b1) @ W2 + b2


def nll_mlp_grad(X, y, W1, b1, W2, b2, beta):
    A = X @ W1 + b1
    H = np.tanh(A)
    G = nll_grad(H @ W2 + b2, y, beta)
    dW2, db2 = H.T @ G, G.sum(axis=0)
    dA = (G @ W2.T) / np.cosh(A) ** 2
    return X.T @ dA, dA.sum(axis=0), dW2, db2


def _sigmoid(t):
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def nce_loss(e_data, e_noise, log_q_data, log_q_noise, log_z):
    N, M = e_data.shape[0], e_noise.shape[0]
    shift = log_z + np.log(M) - np.log(N)
    g_data = -(e_data + log_q_data) - shift
    g_noise = -(e_noise + log_q_noise) - shift
    return float((np.logaddexp(0.0, -g_data).sum() + np.logaddexp(0.0, g_noise).sum()) / N)


def nce_grad(e_data, e_noise, log_q_data, log_q_noise, log_z):
    N, M = e_data.shape[0], e_noise.shape[0]
    shift = log_z + np.log(M) - np.log(N)
    g_data = -(e_data + log_q_data) - shift
    g_noise = -(e_noise + log_q_noise) - shift
    d_data = _sigmoid(-g_data) / N
    d_noise = -_sigmoid(g_noise) / N
    return d_data, d_noise, float(d_data.sum() + d_noise.sum())


def cosine_similarity(U, V):
    return (U @ V.T) / np.outer(np.linalg.norm(U, axis=1), np.linalg.norm(V, axis=1))


def info_nce_loss(S, tau):
    # InfoNCE is beta times the NLL loss (5) with F = -S, beta = 1/tau, answers on the diagonal
    N = S.shape[0]
    return float(nll_loss(-S, np.arange(N), 1.0 / tau) / tau)


def info_nce_grad(S, tau):
    N = S.shape[0]
    return -nll_grad(-S, np.arange(N), 1.0 / tau) / tau


def kmeans_energy(Y, W):
    diff = Y[:, :, None] - W[None, :, :]
    return np.sum(diff * diff, axis=1)


def kmeans_infer(Y, W):
    return np.argmin(kmeans_energy(Y, W), axis=1)


def kmeans_free_energy(Y, W):
    return np.min(kmeans_energy(Y, W), axis=1)


def kmeans_step(Y, W):
    z = kmeans_infer(Y, W)
    W_new = np.array(W, dtype=np.float64)
    for j in np.unique(z):
        W_new[:, j] = Y[z == j].mean(axis=0)
    return W_new


def sparse_coding_energy(y, W, z, lam):
    return float(np.linalg.norm(y - W @ z) ** 2 + lam * np.linalg.norm(z, 1))


def lipschitz_constant(W):
    return float(2.0 * np.linalg.norm(W, 2) ** 2)


def soft_threshold(v, t):
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


def ista(y, W, lam, n_steps):
    L = lipschitz_constant(W)
    Z = np.zeros((n_steps + 1, W.shape[1]))
    for t in range(n_steps):
        Z[t + 1] = soft_threshold(Z[t] - 2.0 * W.T @ (W @ Z[t] - y) / L, lam / L)
    return Z


# Written question: the negative phase keeps the energies of wrong answers from collapsing; a
# very large beta turns the loss into F(x, y_i) - min_y F(x, y), with no margin and a gradient
# that only touches the most offending answer, and exp(-beta F) overflows without the shift.

# Alternative: explicit Python loops over rows and answers; log-sum-exp written by hand with the
# max of the logits -beta*F (not the min of F); NCE with log1p(exp(-|t|)) + max(t, 0); K-means and
# ISTA one point at a time; the Lipschitz constant from the eigenvalues of W^T W.
import math

import numpy as np


def _lse(a):
    """log sum exp of a 1-d sequence, shifted by its maximum."""
    top = max(a)
    return top + math.log(sum(math.exp(v - top) for v in a))


def _rows(A):
    return A.reshape(-1, A.shape[-1])


def gibbs(F, beta):
    F = np.asarray(F, dtype=np.float64)
    out = np.empty_like(F)
    flat_in, flat_out = _rows(F), out.reshape(-1, F.shape[-1])
    for r in range(flat_in.shape[0]):
        logits = [-beta * v for v in flat_in[r]]
        norm = _lse(logits)
        for j, a in enumerate(logits):
            flat_out[r, j] = math.exp(a - norm)
    return out


def free_energy(E, beta):
    E = np.asarray(E, dtype=np.float64)
    flat = _rows(E)
    out = np.empty(flat.shape[0])
    for r in range(flat.shape[0]):
        m = min(flat[r])
        out[r] = m - math.log(sum(math.exp(-beta * (v - m)) for v in flat[r])) / beta
    return out.reshape(E.shape[:-1])


def nll_loss(F, y, beta):
    total = 0.0
    for i in range(F.shape[0]):
        total += F[i, int(y[i])] - free_energy(F[i], beta)
    return float(total / F.shape[0])


def nll_grad(F, y, beta):
    N, K = F.shape
    P = gibbs(F, beta)
    G = np.empty((N, K))
    for i in range(N):
        for k in range(K):
            G[i, k] = ((1.0 if k == int(y[i]) else 0.0) - P[i, k]) / N
    return G


def linear_energy(X, W, b):
    N, K = X.shape[0], W.shape[1]
    F = np.empty((N, K))
    for i in range(N):
        for k in range(K):
            F[i, k] = sum(X[i, j] * W[j, k] for j in range(X.shape[1])) + b[k]
    return F


def nll_linear_grad(X, y, W, b, beta):
    G = nll_grad(linear_energy(X, W, b), y, beta)
    dW = np.zeros(W.shape)
    db = np.zeros(b.shape)
    for i in range(X.shape[0]):
        dW += np.outer(X[i], G[i])
        db += G[i]
    return dW, db


def mlp_energy(X, W1, b1, W2, b2):
    H = np.tanh(X @ W1 + b1)
    return H @ W2 + b2


def nll_mlp_grad(X, y, W1, b1, W2, b2, beta):
    H = np.tanh(X @ W1 + b1)
    G = nll_grad(H @ W2 + b2, y, beta)
    dW1, db1 = np.zeros(W1.shape), np.zeros(b1.shape)
    dW2, db2 = np.zeros(W2.shape), np.zeros(b2.shape)
    for i in range(X.shape[0]):
        dW2 += np.outer(H[i], G[i])
        db2 += G[i]
        dA = (W2 @ G[i]) * (1.0 - H[i] ** 2)
        dW1 += np.outer(X[i], dA)
        db1 += dA
    return dW1, db1, dW2, db2


def _softplus(t):
    """log(1 + e^t) without overflow."""
    return math.log1p(math.exp(-abs(t))) + max(t, 0.0)


def _sigmoid(t):
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


def _logits(e, log_q, log_z, log_nu):
    return [-e[i] - log_z - log_q[i] - log_nu for i in range(len(e))]


def nce_loss(e_data, e_noise, log_q_data, log_q_noise, log_z):
    N, M = len(e_data), len(e_noise)
    log_nu = math.log(M / N)
    total = sum(_softplus(-g) for g in _logits(e_data, log_q_data, log_z, log_nu))
    total += sum(_softplus(g) for g in _logits(e_noise, log_q_noise, log_z, log_nu))
    return total / N


def nce_grad(e_data, e_noise, log_q_data, log_q_noise, log_z):
    N, M = len(e_data), len(e_noise)
    log_nu = math.log(M / N)
    d_data = np.array([_sigmoid(-g) / N for g in _logits(e_data, log_q_data, log_z, log_nu)])
    d_noise = np.array([-_sigmoid(g) / N for g in _logits(e_noise, log_q_noise, log_z, log_nu)])
    return d_data, d_noise, float(d_data.sum() + d_noise.sum())


def cosine_similarity(U, V):
    N = U.shape[0]
    S = np.empty((N, V.shape[0]))
    for i in range(N):
        for j in range(V.shape[0]):
            S[i, j] = U[i] @ V[j] / (math.sqrt(U[i] @ U[i]) * math.sqrt(V[j] @ V[j]))
    return S


def info_nce_loss(S, tau):
    N = S.shape[0]
    total = 0.0
    for i in range(N):
        total += _lse([s / tau for s in S[i]]) - S[i, i] / tau
    return total / N


def info_nce_grad(S, tau):
    N = S.shape[0]
    dS = np.empty(S.shape)
    for i in range(N):
        logits = [s / tau for s in S[i]]
        norm = _lse(logits)
        for j in range(S.shape[1]):
            dS[i, j] = (math.exp(logits[j] - norm) - (1.0 if i == j else 0.0)) / (N * tau)
    return dS


def kmeans_energy(Y, W):
    N, k = Y.shape[0], W.shape[1]
    E = np.empty((N, k))
    for n in range(N):
        for j in range(k):
            diff = Y[n] - W[:, j]
            E[n, j] = diff @ diff
    return E


def kmeans_infer(Y, W):
    E = kmeans_energy(Y, W)
    z = np.zeros(Y.shape[0], dtype=np.int64)
    for n in range(Y.shape[0]):
        best = 0
        for j in range(1, W.shape[1]):
            if E[n, j] < E[n, best]:
                best = j
        z[n] = best
    return z


def kmeans_free_energy(Y, W):
    E = kmeans_energy(Y, W)
    return np.array([min(row) for row in E], dtype=np.float64)


def kmeans_step(Y, W):
    z = kmeans_infer(Y, W)
    W_new = np.array(W, dtype=np.float64, copy=True)
    for j in range(W.shape[1]):
        members = [Y[n] for n in range(Y.shape[0]) if z[n] == j]
        if members:
            W_new[:, j] = sum(members) / len(members)
    return W_new


def sparse_coding_energy(y, W, z, lam):
    r = y - W @ z
    return float(r @ r + lam * sum(abs(v) for v in z))


def lipschitz_constant(W):
    # the largest eigenvalue of W^T W is the squared largest singular value of W
    return float(2.0 * np.linalg.eigvalsh(W.T @ W)[-1])


def soft_threshold(v, t):
    v = np.asarray(v, dtype=np.float64)
    out = np.empty_like(v)
    flat_v, flat_o = v.reshape(-1), out.reshape(-1)
    for i, x in enumerate(flat_v):
        if x > t:
            flat_o[i] = x - t
        elif x < -t:
            flat_o[i] = x + t
        else:
            flat_o[i] = 0.0
    return out


def ista(y, W, lam, n_steps):
    L = lipschitz_constant(W)
    k = W.shape[1]
    Z = np.zeros((n_steps + 1, k))
    z = np.zeros(k)
    for t in range(1, n_steps + 1):
        grad = 2.0 * W.T @ (W @ z - y)
        z = soft_threshold(z - grad / L, lam / L)
        Z[t] = z
    return Z


# Why the negative phase: with the positive phase alone, descent only lowers the energy of the
# correct answers and nothing holds the others up; the energy surface collapses (all low). As
# beta grows the loss tends to F(x, y_i) - min_y F(x, y), zero once the correct answer is lowest,
# with no margin and a gradient from one offending answer only; exp(-beta F) overflows unshifted.

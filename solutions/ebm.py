# %% [markdown]
# # Energy-based models in numpy: reference solution
#
# Equation numbers refer to `assignments/ebm/handout.md`. Energies are numpy arrays whose
# last axis runs over the finite set of answers y (or latent values z); beta > 0 is the
# inverse temperature. Data points are rows, prototypes and dictionary atoms are columns
# of W, and every loss is a mean over the batch (handout, "Conventions").

# %%
import numpy as np

# %% [markdown]
# ## The Gibbs distribution and the free energy

# %%
def logsumexp(a):
    """log sum exp over the last axis, shifted by the max so that nothing overflows."""
    m = a.max(axis=-1, keepdims=True)
    return m[..., 0] + np.log(np.exp(a - m).sum(axis=-1))


def gibbs(F, beta):
    a = -beta * np.asarray(F, dtype=np.float64)  # (1)
    a = a - a.max(axis=-1, keepdims=True)  # (2): the lowest energy gets exp(0) = 1
    p = np.exp(a)
    return p / p.sum(axis=-1, keepdims=True)


def free_energy(E, beta):
    E = np.asarray(E, dtype=np.float64)
    return -logsumexp(-beta * E) / beta  # (3)

# %% [markdown]
# ## The negative log-likelihood loss

# %%
def one_hot(y, k):
    return np.eye(k)[np.asarray(y)]


def nll_loss(F, y, beta):
    F = np.asarray(F, dtype=np.float64)
    F_correct = F[np.arange(len(F)), y]
    return float(np.mean(F_correct - free_energy(F, beta)))  # (5)


def nll_grad(F, y, beta):
    F = np.asarray(F, dtype=np.float64)
    positive = one_hot(y, F.shape[1])  # (6): push down the correct answer
    negative = gibbs(F, beta)  # (6): push up every answer, weighted by P(y|x)
    return (positive - negative) / len(F)

# %% [markdown]
# ## Parametric energies

# %%
def linear_energy(X, W, b):
    return X @ W + b  # (7)


def nll_linear_grad(X, y, W, b, beta):
    G = nll_grad(linear_energy(X, W, b), y, beta)  # dL/dF, (6)
    return X.T @ G, G.sum(axis=0)  # (8)


def mlp_energy(X, W1, b1, W2, b2):
    H = np.tanh(X @ W1 + b1)  # (9)
    return H @ W2 + b2


def nll_mlp_grad(X, y, W1, b1, W2, b2, beta):
    H = np.tanh(X @ W1 + b1)  # (9)
    G = nll_grad(H @ W2 + b2, y, beta)  # dL/dF, (6)
    dW2, db2 = H.T @ G, G.sum(axis=0)  # (10)
    dA = (G @ W2.T) * (1 - H**2)  # (10): tanh' = 1 - tanh^2
    return X.T @ dA, dA.sum(axis=0), dW2, db2

# %% [markdown]
# ## Noise-contrastive estimation

# %%
def sigmoid(t):
    return np.exp(-np.logaddexp(0.0, -t))


def nce_logits(e, log_q, log_z, nu):
    return -e - log_z - log_q - np.log(nu)  # (11)


def nce_loss(e_data, e_noise, log_q_data, log_q_noise, log_z):
    n, nu = len(e_data), len(e_noise) / len(e_data)
    g_data = nce_logits(np.asarray(e_data, dtype=np.float64), log_q_data, log_z, nu)
    g_noise = nce_logits(np.asarray(e_noise, dtype=np.float64), log_q_noise, log_z, nu)
    # (12): -log sigmoid(G) = log(1 + e^-G) for data, -log(1 - sigmoid(G)) = log(1 + e^G) for noise
    return float((np.logaddexp(0.0, -g_data).sum() + np.logaddexp(0.0, g_noise).sum()) / n)


def nce_grad(e_data, e_noise, log_q_data, log_q_noise, log_z):
    n, nu = len(e_data), len(e_noise) / len(e_data)
    g_data = nce_logits(np.asarray(e_data, dtype=np.float64), log_q_data, log_z, nu)
    g_noise = nce_logits(np.asarray(e_noise, dtype=np.float64), log_q_noise, log_z, nu)
    d_data = sigmoid(-g_data) / n  # (13): dL/dE at the data points
    d_noise = -sigmoid(g_noise) / n  # (13): dL/dE at the noise points
    return d_data, d_noise, float(d_data.sum() + d_noise.sum())  # dL/dlog_z = dL/dE summed, (13)

# %% [markdown]
# ## InfoNCE

# %%
def cosine_similarity(U, V):
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    V = V / np.linalg.norm(V, axis=1, keepdims=True)
    return U @ V.T  # (14)


def info_nce_loss(S, tau):
    logits = np.asarray(S, dtype=np.float64) / tau  # (15)
    return float(np.mean(logsumexp(logits) - np.diag(logits)))


def info_nce_grad(S, tau):
    logits = np.asarray(S, dtype=np.float64) / tau
    P = gibbs(-logits, 1.0)  # softmax of each row
    return (P - np.eye(len(P))) / (len(P) * tau)  # (16)

# %% [markdown]
# ## K-means as an energy-based model

# %%
def kmeans_energy(Y, W):
    diff = Y[:, :, None] - W[None, :, :]  # (N, d, k): y_n - w_j
    return (diff**2).sum(axis=1)  # (17)


def kmeans_infer(Y, W):
    return np.argmin(kmeans_energy(Y, W), axis=1)  # (18), ties to the lowest index


def kmeans_free_energy(Y, W):
    return kmeans_energy(Y, W).min(axis=1)  # (19)


def kmeans_step(Y, W):
    z = kmeans_infer(Y, W)  # (18)
    W_new = np.array(W, dtype=np.float64)
    for j in range(W.shape[1]):
        members = Y[z == j]
        if len(members):  # (20): an empty cluster keeps its prototype
            W_new[:, j] = members.mean(axis=0)
    return W_new

# %% [markdown]
# ## Sparse coding as an energy-based model

# %%
def sparse_coding_energy(y, W, z, lam):
    return float(np.sum((y - W @ z) ** 2) + lam * np.abs(z).sum())  # (21)


def lipschitz_constant(W):
    return float(2 * np.linalg.norm(W, 2) ** 2)  # (22)


def soft_threshold(v, t):
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)  # (23)


def ista(y, W, lam, n_steps):
    L = lipschitz_constant(W)
    z = np.zeros(W.shape[1])
    Z = [z]
    for _ in range(n_steps):
        grad = 2 * W.T @ (W @ z - y)  # (22)
        z = soft_threshold(z - grad / L, lam / L)  # (24)
        Z.append(z)
    return np.array(Z)

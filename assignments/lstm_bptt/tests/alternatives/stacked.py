# Alternative: vectorised over the batch with the four LSTM gates stacked into one (4d, n) and
# one (4d, d) matrix in torch's order i, f, g, o (one matrix product per step), truncated BPTT
# by running full BPTT on each window from the carried state, the RNN Jacobians batched with
# einsum, clipping by norm through one concatenated vector.
import numpy as np

ORDER = ("i", "f", "g", "o")


def _sig(a):
    return np.where(a >= 0, 1 / (1 + np.exp(-np.abs(a))), np.exp(-np.abs(a)) / (1 + np.exp(-np.abs(a))))


def rnn_forward(x, s0, params):
    U, W, b, V, c = (params[key] for key in "UWbVc")
    s, prev = [], s0
    for x_t in x:
        prev = np.tanh(x_t @ U.T + prev @ W.T + b)
        s.append(prev)
    s = np.stack(s)
    z = s @ V.T + c
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return s, e / e.sum(axis=-1, keepdims=True)


def _log_probs(x, s0, params):
    s, _ = rnn_forward(x, s0, params)
    z = s @ params["V"].T + params["c"]
    m = z.max(axis=-1, keepdims=True)
    return s, z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def rnn_loss(x, s0, targets, params):
    _, logp = _log_probs(x, s0, params)
    return float(-np.take_along_axis(logp, targets[..., None], axis=-1).sum())


def _full_bptt(x, s0, targets, params):
    s, y = rnn_forward(x, s0, params)
    dz = y.copy()
    np.put_along_axis(dz, targets[..., None], np.take_along_axis(dz, targets[..., None], -1) - 1.0, -1)
    s_prev = np.concatenate([s0[None], s[:-1]])
    da = np.zeros_like(s)
    nxt = np.zeros_like(s0)
    for t in range(len(x) - 1, -1, -1):
        da[t] = (dz[t] @ params["V"] + nxt @ params["W"]) * (1 - s[t] ** 2)
        nxt = da[t]
    return {"U": np.einsum("tbd,tbn->dn", da, x), "W": np.einsum("tbd,tbe->de", da, s_prev),
            "b": da.sum(axis=(0, 1)), "V": np.einsum("tbk,tbd->kd", dz, s), "c": dz.sum(axis=(0, 1))}, s


def rnn_bptt(x, s0, targets, params, truncate=None):
    if truncate is None:
        return _full_bptt(x, s0, targets, params)[0]
    total = {key: np.zeros_like(value) for key, value in params.items()}
    state = s0
    for start in range(0, len(x), truncate):
        part, s = _full_bptt(x[start:start + truncate], state, targets[start:start + truncate], params)
        for key in total:
            total[key] = total[key] + part[key]
        state = s[-1]
    return total


def _stack(params, prefix):
    return np.concatenate([params[prefix + gate] for gate in ORDER], axis=0)


def _lstm_run(x, h0, c0, params):
    Ux, Wh = _stack(params, "U_"), _stack(params, "W_")
    bias = np.concatenate([params["b_" + gate] for gate in ORDER])
    d = h0.shape[1]
    h, c, gates = [h0], [c0], []
    for x_t in x:
        a = x_t @ Ux.T + h[-1] @ Wh.T + bias
        i, f, o = _sig(a[:, :d]), _sig(a[:, d:2 * d]), _sig(a[:, 3 * d:])
        g = np.tanh(a[:, 2 * d:3 * d])
        c.append(f * c[-1] + i * g)
        h.append(o * np.tanh(c[-1]))
        gates.append((i, f, g, o))
    return np.stack(h), np.stack(c), gates


def lstm_forward(x, h0, c0, params):
    h, c, _ = _lstm_run(x, h0, c0, params)
    return h[1:], c[1:]


def lstm_backward(x, h0, c0, params, dh):
    h, c, gates = _lstm_run(x, h0, c0, params)
    Wh = _stack(params, "W_")
    d = h0.shape[1]
    T = len(x)
    dA = np.zeros((T, h0.shape[0], 4 * d))
    dc_next, f_next, da_next = np.zeros_like(c0), np.zeros_like(c0), np.zeros((h0.shape[0], 4 * d))
    for t in range(T - 1, -1, -1):
        i, f, g, o = gates[t]
        tc = np.tanh(c[t + 1])
        dh_t = dh[t] + da_next @ Wh
        dc = dh_t * o * (1 - tc * tc) + dc_next * f_next
        dA[t] = np.concatenate([dc * g * i * (1 - i), dc * c[t] * f * (1 - f), dc * i * (1 - g * g),
                                dh_t * tc * o * (1 - o)], axis=1)
        dc_next, f_next, da_next = dc, f, dA[t]
    dU = np.einsum("tbj,tbn->jn", dA, x)
    dW = np.einsum("tbj,tbe->je", dA, h[:-1])
    db = dA.sum(axis=(0, 1))
    grads = {}
    for k, gate in enumerate(ORDER):
        rows = slice(k * d, (k + 1) * d)
        grads["U_" + gate], grads["W_" + gate], grads["b_" + gate] = dU[rows], dW[rows], db[rows]
    grads["h0"] = da_next @ Wh
    grads["c0"] = dc_next * f_next
    return grads


def gru_forward(x, h0, params):
    p = params
    out, prev = [], h0
    for x_t in x:
        z = _sig(x_t @ p["U_z"].T + prev @ p["W_z"].T + p["b_z"])
        r = _sig(x_t @ p["U_r"].T + prev @ p["W_r"].T + p["b_r"])
        n = np.tanh(x_t @ p["U_n"].T + (r * prev) @ p["W_n"].T + p["b_n"])
        prev = prev + z * (n - prev)
        out.append(prev)
    return np.stack(out)


def rnn_jacobian_norms(x, s0, params):
    s, _ = rnn_forward(x, s0, params)
    T, B, d = s.shape
    J = np.broadcast_to(np.eye(d), (B, d, d)).copy()
    norms = np.ones((T + 1, B))
    for k in range(T - 1, -1, -1):
        step = (1 - s[k] ** 2)[:, :, None] * params["W"][None]
        J = np.einsum("bij,bjk->bik", J, step)
        norms[k] = np.linalg.norm(J, ord=2, axis=(1, 2))
    return norms


def lstm_jacobian_norms(x, h0, c0, params):
    h, c, gates = _lstm_run(x, h0, c0, params)
    p = params
    T, B, d = len(x), h0.shape[0], h0.shape[1]
    J = np.broadcast_to(np.eye(2 * d), (B, 2 * d, 2 * d)).copy()
    out = {"h": np.ones((T + 1, B)), "c": np.ones((T + 1, B))}
    for t in range(T - 1, -1, -1):
        i, f, g, o = gates[t]
        tc = np.tanh(c[t + 1])
        A = np.zeros((B, 2 * d, 2 * d))
        dc_dh = ((c[t] * f * (1 - f))[:, :, None] * p["W_f"] + (g * i * (1 - i))[:, :, None] * p["W_i"]
                 + (i * (1 - g * g))[:, :, None] * p["W_g"])
        k = o * (1 - tc * tc)
        A[:, :d, :d] = (tc * o * (1 - o))[:, :, None] * p["W_o"] + k[:, :, None] * dc_dh
        A[:, :d, d:] = np.einsum("bi,ij->bij", k * f, np.eye(d))
        A[:, d:, :d] = dc_dh
        A[:, d:, d:] = np.einsum("bi,ij->bij", f, np.eye(d))
        J = J @ A
        out["h"][t] = np.linalg.norm(J[:, :d, :d], ord=2, axis=(1, 2))
        out["c"][t] = np.linalg.norm(J[:, d:, d:], ord=2, axis=(1, 2))
    return out


def clip_grad_norm(grads, max_norm):
    flat = np.concatenate([np.ravel(value) for value in grads.values()])
    norm = float(np.linalg.norm(flat))
    factor = min(1.0, max_norm / norm) if norm > 0 else 1.0
    return {key: value * factor for key, value in grads.items()}, norm


def clip_grad_value(grads, clip_value):
    return {key: np.minimum(np.maximum(value, -clip_value), clip_value) for key, value in grads.items()}

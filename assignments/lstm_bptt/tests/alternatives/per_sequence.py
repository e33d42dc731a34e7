# Alternative: the math as written, one sequence at a time with column vectors (U @ x_t), a
# Python loop over the batch around every pass; the softmax by log-sum-exp; truncated BPTT
# by a mask on the carried gradient; Jacobian products accumulated left to right per sequence.
import numpy as np

GATES = ("f", "i", "g", "o")


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _softmax(z):
    m = z.max()
    return np.exp(z - m - np.log(np.sum(np.exp(z - m))))


def _rnn_one(x, s0, p):
    s_prev, states, outs = s0, [], []
    for x_t in x:
        s_t = np.tanh(p["U"] @ x_t + p["W"] @ s_prev + p["b"])
        states.append(s_t)
        outs.append(_softmax(p["V"] @ s_t + p["c"]))
        s_prev = s_t
    return np.array(states), np.array(outs)


def rnn_forward(x, s0, params):
    T, B = x.shape[0], x.shape[1]
    d, k = params["W"].shape[0], params["V"].shape[0]
    s, y = np.zeros((T, B, d)), np.zeros((T, B, k))
    for b in range(B):
        s[:, b], y[:, b] = _rnn_one(x[:, b], s0[b], params)
    return s, y


def rnn_loss(x, s0, targets, params):
    total = 0.0
    for b in range(x.shape[1]):
        s_prev = s0[b]
        for t in range(x.shape[0]):
            s_prev = np.tanh(params["U"] @ x[t, b] + params["W"] @ s_prev + params["b"])
            z = params["V"] @ s_prev + params["c"]
            m = z.max()
            total -= z[targets[t, b]] - m - np.log(np.sum(np.exp(z - m)))
    return float(total)


def rnn_bptt(x, s0, targets, params, truncate=None):
    grads = {key: np.zeros_like(value) for key, value in params.items()}
    T = x.shape[0]
    for b in range(x.shape[1]):
        s, y = _rnn_one(x[:, b], s0[b], params)
        da_next = np.zeros_like(s0[b])
        for t in range(T, 0, -1):
            dz = y[t - 1].copy()
            dz[targets[t - 1, b]] -= 1.0
            grads["V"] += np.outer(dz, s[t - 1])
            grads["c"] += dz
            carry = 0.0 if (truncate is not None and t % truncate == 0) else 1.0
            ds = params["V"].T @ dz + carry * (params["W"].T @ da_next)
            da = ds * (1.0 - s[t - 1] ** 2)
            s_prev = s[t - 2] if t > 1 else s0[b]
            grads["U"] += np.outer(da, x[t - 1, b])
            grads["W"] += np.outer(da, s_prev)
            grads["b"] += da
            da_next = da
    return grads


def _lstm_one(x, h0, c0, p):
    h_prev, c_prev = h0, c0
    out = {key: [] for key in ("h", "c", "f", "i", "g", "o")}
    for x_t in x:
        pre = {gate: p["U_" + gate] @ x_t + p["W_" + gate] @ h_prev + p["b_" + gate] for gate in GATES}
        f, i, o = _sigmoid(pre["f"]), _sigmoid(pre["i"]), _sigmoid(pre["o"])
        g = np.tanh(pre["g"])
        c_t = f * c_prev + i * g
        h_t = o * np.tanh(c_t)
        for key, value in zip(("h", "c", "f", "i", "g", "o"), (h_t, c_t, f, i, g, o)):
            out[key].append(value)
        h_prev, c_prev = h_t, c_t
    return {key: np.array(value) for key, value in out.items()}


def lstm_forward(x, h0, c0, params):
    T, B, d = x.shape[0], x.shape[1], h0.shape[1]
    h, c = np.zeros((T, B, d)), np.zeros((T, B, d))
    for b in range(B):
        run = _lstm_one(x[:, b], h0[b], c0[b], params)
        h[:, b], c[:, b] = run["h"], run["c"]
    return h, c


def lstm_backward(x, h0, c0, params, dh):
    grads = {key: np.zeros_like(value) for key, value in params.items()}
    B, d = h0.shape
    grads["h0"], grads["c0"] = np.zeros((B, d)), np.zeros((B, d))
    T = x.shape[0]
    for b in range(B):
        r = _lstm_one(x[:, b], h0[b], c0[b], params)
        da_next = {gate: np.zeros(d) for gate in GATES}
        dc_next, f_next = np.zeros(d), np.zeros(d)
        for t in range(T, 0, -1):
            f, i, g, o, c_t = r["f"][t - 1], r["i"][t - 1], r["g"][t - 1], r["o"][t - 1], r["c"][t - 1]
            c_prev = r["c"][t - 2] if t > 1 else c0[b]
            h_prev = r["h"][t - 2] if t > 1 else h0[b]
            dh_t = dh[t - 1, b] + sum(params["W_" + gate].T @ da_next[gate] for gate in GATES)
            tc = np.tanh(c_t)
            dc = dh_t * o * (1 - tc ** 2) + dc_next * f_next
            da = {"f": dc * c_prev * f * (1 - f), "i": dc * g * i * (1 - i),
                  "g": dc * i * (1 - g ** 2), "o": dh_t * tc * o * (1 - o)}
            for gate in GATES:
                grads["U_" + gate] += np.outer(da[gate], x[t - 1, b])
                grads["W_" + gate] += np.outer(da[gate], h_prev)
                grads["b_" + gate] += da[gate]
            da_next, dc_next, f_next = da, dc, f
        grads["h0"][b] = sum(params["W_" + gate].T @ da_next[gate] for gate in GATES)
        grads["c0"][b] = dc_next * f_next
    return grads


def gru_forward(x, h0, params):
    p = params
    T, B, d = x.shape[0], x.shape[1], h0.shape[1]
    h = np.zeros((T, B, d))
    for b in range(B):
        h_prev = h0[b]
        for t in range(T):
            z = _sigmoid(p["U_z"] @ x[t, b] + p["W_z"] @ h_prev + p["b_z"])
            r = _sigmoid(p["U_r"] @ x[t, b] + p["W_r"] @ h_prev + p["b_r"])
            n = np.tanh(p["U_n"] @ x[t, b] + p["W_n"] @ (r * h_prev) + p["b_n"])
            h_prev = (1 - z) * h_prev + z * n
            h[t, b] = h_prev
    return h


def rnn_jacobian_norms(x, s0, params):
    T, B = x.shape[0], x.shape[1]
    out = np.zeros((T + 1, B))
    for b in range(B):
        s, _ = _rnn_one(x[:, b], s0[b], params)
        J = np.eye(s0.shape[1])
        out[T, b] = 1.0
        for k in range(T - 1, -1, -1):
            J = J @ (np.diag(1 - s[k] ** 2) @ params["W"])
            out[k, b] = np.linalg.norm(J, 2)
    return out


def lstm_jacobian_norms(x, h0, c0, params):
    T, B, d = x.shape[0], x.shape[1], h0.shape[1]
    norms = {"h": np.zeros((T + 1, B)), "c": np.zeros((T + 1, B))}
    p = params
    for b in range(B):
        r = _lstm_one(x[:, b], h0[b], c0[b], params)
        J = np.eye(2 * d)
        norms["h"][T, b] = norms["c"][T, b] = 1.0
        for t in range(T, 0, -1):
            f, i, g, o, c_t = r["f"][t - 1], r["i"][t - 1], r["g"][t - 1], r["o"][t - 1], r["c"][t - 1]
            c_prev = r["c"][t - 2] if t > 1 else c0[b]
            tc = np.tanh(c_t)
            dc_dc = np.diag(f)
            dc_dh = (np.diag(c_prev * f * (1 - f)) @ p["W_f"] + np.diag(g * i * (1 - i)) @ p["W_i"]
                     + np.diag(i * (1 - g * g)) @ p["W_g"])
            dh_dc = np.diag(o * (1 - tc ** 2)) @ dc_dc
            dh_dh = np.diag(tc * o * (1 - o)) @ p["W_o"] + np.diag(o * (1 - tc ** 2)) @ dc_dh
            A = np.block([[dh_dh, dh_dc], [dc_dh, dc_dc]])
            J = J @ A
            norms["h"][t - 1, b] = np.linalg.norm(J[:d, :d], 2)
            norms["c"][t - 1, b] = np.linalg.norm(J[d:, d:], 2)
    return norms


def clip_grad_norm(grads, max_norm):
    total = 0.0
    for value in grads.values():
        for entry in np.ravel(value):
            total += float(entry) ** 2
    norm = total ** 0.5
    scale = max_norm / norm if norm > max_norm else 1.0
    return {key: np.array(value, dtype=float) * scale for key, value in grads.items()}, float(norm)


def clip_grad_value(grads, clip_value):
    return {key: np.clip(np.array(value, dtype=float), -clip_value, clip_value) for key, value in grads.items()}

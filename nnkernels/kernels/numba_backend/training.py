"""Fused full-batch training of a one-hidden-layer MLP: forward, backward and SGD in one pass.

pred = relu(x @ w1 + b1) @ w2 + b2 with x (N, D), y (N, O), w1 (D, H), b1 (H,), w2 (H, O),
b2 (O,). One step walks the records once, four at a time: the hidden activations of those four
records live in a (4, H) workspace only, so no (N, H) intermediate is ever built. The records
are split into a fixed number of chunks that depends on N only; each chunk accumulates its own
gradient partial and the partials are summed in chunk order, so the result is bitwise the same
for any thread count and whether the chunks run in parallel or one after another. The iteration
loop runs inside the jitted code: one call does many steps.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Chunks: at least this many records each (so the per-chunk partials stay cheap to reduce) and
# at most this many chunks (bounds the partials' memory at MAX_CHUNKS * (D + O + 1) * H).
MIN_CHUNK_RECORDS = 128
MAX_CHUNKS = 16
# Below this much work per step (N * H * (D + O) multiply-adds) the chunks run serially: a
# parallel region costs several microseconds to start, more than the whole step at the seed's
# size.
PARALLEL_WORK = 200_000


def n_chunks(n: int) -> int:
    """Number of record chunks for N records (a function of N only, never of the threads)."""
    return max(1, min(MAX_CHUNKS, n // MIN_CHUNK_RECORDS))


@njit(cache=True, nogil=True)
def _chunk_grad(x, y, w1t, b1, w2, b2, inv, start, stop, gw1t, gb1, gw2, gb2, a, g):
    """Add the gradient of records [start, stop) into this chunk's partials; return sum(e**2).

    w1t (H, D) is w1 transposed (so the inner loops over D are contiguous); gw1t (H, D),
    gb1 (H,), gw2 (H, O), gb2 (O,) are the partials; a (4, H) and g (4, O) are workspaces.
    """
    d_in = x.shape[1]
    n_hidden = w1t.shape[0]
    n_out = w2.shape[1]
    zero = inv - inv
    sq = 0.0
    r = start
    # Four records per inner iteration: each weight loaded once serves four records.
    while r + 4 <= stop:
        for j in range(n_hidden):
            u0 = b1[j]
            u1 = u0
            u2 = u0
            u3 = u0
            for d in range(d_in):
                wv = w1t[j, d]
                u0 += x[r, d] * wv
                u1 += x[r + 1, d] * wv
                u2 += x[r + 2, d] * wv
                u3 += x[r + 3, d] * wv
            # relu that lets NaN through (like np.maximum): u < 0 is False for NaN.
            a[0, j] = zero if u0 < zero else u0
            a[1, j] = zero if u1 < zero else u1
            a[2, j] = zero if u2 < zero else u2
            a[3, j] = zero if u3 < zero else u3
        for o in range(n_out):
            p0 = b2[o]
            p1 = p0
            p2 = p0
            p3 = p0
            for j in range(n_hidden):
                wv = w2[j, o]
                p0 += a[0, j] * wv
                p1 += a[1, j] * wv
                p2 += a[2, j] * wv
                p3 += a[3, j] * wv
            e0 = p0 - y[r, o]
            e1 = p1 - y[r + 1, o]
            e2 = p2 - y[r + 2, o]
            e3 = p3 - y[r + 3, o]
            sq += (float(e0) * float(e0) + float(e1) * float(e1)
                   + float(e2) * float(e2) + float(e3) * float(e3))
            g[0, o] = e0 * inv
            g[1, o] = e1 * inv
            g[2, o] = e2 * inv
            g[3, o] = e3 * inv
            gb2[o] += g[0, o] + g[1, o] + g[2, o] + g[3, o]
        for j in range(n_hidden):
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            a0 = a[0, j]
            a1 = a[1, j]
            a2 = a[2, j]
            a3 = a[3, j]
            for o in range(n_out):
                wv = w2[j, o]
                g0 = g[0, o]
                g1 = g[1, o]
                g2 = g[2, o]
                g3 = g[3, o]
                s0 += g0 * wv
                s1 += g1 * wv
                s2 += g2 * wv
                s3 += g3 * wv
                gw2[j, o] += a0 * g0 + a1 * g1 + a2 * g2 + a3 * g3
            # The ReLU mask is taken on the activation (closed for 0 and for NaN).
            s0 = s0 if a0 > zero else zero
            s1 = s1 if a1 > zero else zero
            s2 = s2 if a2 > zero else zero
            s3 = s3 if a3 > zero else zero
            gb1[j] += s0 + s1 + s2 + s3
            for d in range(d_in):
                gw1t[j, d] += (x[r, d] * s0 + x[r + 1, d] * s1
                               + x[r + 2, d] * s2 + x[r + 3, d] * s3)
        r += 4
    # The last N % 4 records of the chunk, one at a time.
    while r < stop:
        for j in range(n_hidden):
            u = b1[j]
            for d in range(d_in):
                u += x[r, d] * w1t[j, d]
            a[0, j] = zero if u < zero else u
        for o in range(n_out):
            p = b2[o]
            for j in range(n_hidden):
                p += a[0, j] * w2[j, o]
            e = p - y[r, o]
            sq += float(e) * float(e)
            g[0, o] = e * inv
            gb2[o] += g[0, o]
        for j in range(n_hidden):
            s = zero
            a0 = a[0, j]
            for o in range(n_out):
                s += g[0, o] * w2[j, o]
                gw2[j, o] += a0 * g[0, o]
            s = s if a0 > zero else zero
            gb1[j] += s
            for d in range(d_in):
                gw1t[j, d] += x[r, d] * s
        r += 1
    return sq


@njit(cache=True, nogil=True)
def _reduce_and_step(w1t, b1, w2, b2, lr, pw1t, pb1, pw2, pb2):
    """Sum the chunk partials in chunk order and take the SGD step p -= lr * grad."""
    nc = pw1t.shape[0]
    n_hidden, d_in = w1t.shape
    n_out = w2.shape[1]
    for j in range(n_hidden):
        for d in range(d_in):
            s = pw1t[0, j, d]
            for c in range(1, nc):
                s += pw1t[c, j, d]
            w1t[j, d] = w1t[j, d] - lr * s
        s = pb1[0, j]
        for c in range(1, nc):
            s += pb1[c, j]
        b1[j] = b1[j] - lr * s
        for o in range(n_out):
            s = pw2[0, j, o]
            for c in range(1, nc):
                s += pw2[c, j, o]
            w2[j, o] = w2[j, o] - lr * s
    for o in range(n_out):
        s = pb2[0, o]
        for c in range(1, nc):
            s += pb2[c, o]
        b2[o] = b2[o] - lr * s


@njit(cache=True, nogil=True)
def _train_serial(x, y, w1, b1, w2, b2, lr, inv, losses, nc):
    """len(losses) steps, the nc chunks one after another (small problems)."""
    n, d_in = x.shape
    n_hidden = w1.shape[1]
    n_out = w2.shape[1]
    dt = x.dtype
    w1t = np.ascontiguousarray(w1.T)
    pw1t = np.zeros((nc, n_hidden, d_in), dt)
    pb1 = np.zeros((nc, n_hidden), dt)
    pw2 = np.zeros((nc, n_hidden, n_out), dt)
    pb2 = np.zeros((nc, n_out), dt)
    a = np.empty((4, n_hidden), dt)
    g = np.empty((4, n_out), dt)
    total = n * n_out
    for it in range(losses.shape[0]):
        pw1t[:] = 0
        pb1[:] = 0
        pw2[:] = 0
        pb2[:] = 0
        sq = 0.0
        for c in range(nc):
            sq += _chunk_grad(x, y, w1t, b1, w2, b2, inv, c * n // nc, (c + 1) * n // nc,
                              pw1t[c], pb1[c], pw2[c], pb2[c], a, g)
        losses[it] = 0.5 * sq / total if total > 0 else 0.0
        _reduce_and_step(w1t, b1, w2, b2, lr, pw1t, pb1, pw2, pb2)
    w1[:] = w1t.T


@njit(cache=True, nogil=True, parallel=True)
def _train_parallel(x, y, w1, b1, w2, b2, lr, inv, losses, nc):
    """len(losses) steps, the nc chunks in parallel, each into its own partial."""
    n, d_in = x.shape
    n_hidden = w1.shape[1]
    n_out = w2.shape[1]
    dt = x.dtype
    w1t = np.ascontiguousarray(w1.T)
    pw1t = np.zeros((nc, n_hidden, d_in), dt)
    pb1 = np.zeros((nc, n_hidden), dt)
    pw2 = np.zeros((nc, n_hidden, n_out), dt)
    pb2 = np.zeros((nc, n_out), dt)
    psq = np.zeros(nc)
    a = np.empty((nc, 4, n_hidden), dt)
    g = np.empty((nc, 4, n_out), dt)
    total = n * n_out
    for it in range(losses.shape[0]):
        for c in prange(nc):
            pw1t[c] = 0
            pb1[c] = 0
            pw2[c] = 0
            pb2[c] = 0
            psq[c] = _chunk_grad(x, y, w1t, b1, w2, b2, inv, c * n // nc, (c + 1) * n // nc,
                                 pw1t[c], pb1[c], pw2[c], pb2[c], a[c], g[c])
        sq = 0.0
        for c in range(nc):
            sq += psq[c]
        losses[it] = 0.5 * sq / total if total > 0 else 0.0
        _reduce_and_step(w1t, b1, w2, b2, lr, pw1t, pb1, pw2, pb2)
    w1[:] = w1t.T


def mlp_train(x: np.ndarray, y: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
              b2: np.ndarray, lr: float, losses: np.ndarray) -> None:
    """len(losses) fused SGD steps of pred = relu(x @ w1 + b1) @ w2 + b2 (see module doc)."""
    n, d_in = x.shape
    n_hidden, n_out = w2.shape
    dt = x.dtype.type
    total = n * n_out
    # lr and 1 / (N * O) in the array dtype, so that float32 stays float32 in the jitted code.
    inv = dt(1.0 / total) if total else dt(0.0)
    nc = n_chunks(n)
    parallel = nc > 1 and n * n_hidden * (d_in + n_out) >= PARALLEL_WORK
    train = _train_parallel if parallel else _train_serial
    train(x, y, w1, b1, w2, b2, dt(lr), inv, losses, nc)


def warmup() -> None:
    """Compile (or load from cache) both drivers for float32 and float64."""
    for dt in (np.float32, np.float64):
        x = np.zeros((4, 1), dt)
        y = np.zeros((4, 1), dt)
        for train in (_train_serial, _train_parallel):
            params = (np.zeros((1, 2), dt), np.zeros(2, dt), np.zeros((2, 1), dt),
                      np.zeros(1, dt))
            train(x, y, *params, dt(0.1), dt(0.25), np.zeros(1), 1)

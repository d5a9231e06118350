"""Fused full-batch training of a one-hidden-layer MLP: forward, backward and SGD in one pass.

pred = relu(x @ w1 + b1) @ w2 + b2 with x (N, D), y (N, O), w1 (D, H), b1 (H,), w2 (H, O),
b2 (O,). One step walks the records once, one at a time: the hidden activations of a record
live in an (H,) workspace only, so no (N, H) intermediate is ever built. Every loop runs along
the hidden units (w2 is kept transposed) and vectorises; the seed's shape (D = O = 1, few
hidden units) has a scalar kernel of its own. The records are split into a fixed number of
chunks that depends on the shape only; each chunk accumulates its own gradient partial and the
partials are summed in chunk order, so the result is bitwise the same for any thread count and
whether the chunks run in parallel or one after another. The iteration loop runs inside the
jitted code: one call does many steps.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import scheduling
from .chunks import bounds, n_chunks, use_parallel
from .config import CACHE_LINE_ELEMENTS, JIT, JIT_FAST, JIT_PARALLEL, SINGLE_MAX_HIDDEN

# The chunk kernels: SINGLE (D = O = 1 with few hidden units: scalar, register-only loops) and
# WIDE (loops over H that vectorise, any D and O); see config.SINGLE_MAX_HIDDEN.
SINGLE, WIDE = 1, 2
PAD = CACHE_LINE_ELEMENTS


@njit(**JIT)
def _chunk_grad_single(x, y, w1, b1, w2t, b2, inv, start, stop, gw1, gb1, gw2t, gb2, a, s, g):
    """Few hidden units, one input and one output (D = O = 1, the seed's network).

    Layouts as in _chunk_grad_wide (a, s, g unused). Four records per inner iteration, each
    weight loaded once for the four, and everything in registers: the hidden pre-activation is
    recomputed in the backward loop (one multiply-add) instead of being stored.
    """
    n_hidden = w1.shape[1]
    zero = inv - inv
    sq = 0.0
    gb = zero
    r = start
    while r + 4 <= stop:
        x0, x1, x2, x3 = x[r, 0], x[r + 1, 0], x[r + 2, 0], x[r + 3, 0]
        p0 = p1 = p2 = p3 = b2[0]
        for j in range(n_hidden):
            wv, bv, vv = w1[0, j], b1[j], w2t[0, j]
            u0, u1, u2, u3 = bv + x0 * wv, bv + x1 * wv, bv + x2 * wv, bv + x3 * wv
            # relu that lets NaN through (like np.maximum): u < 0 is False for NaN.
            p0 += (zero if u0 < zero else u0) * vv
            p1 += (zero if u1 < zero else u1) * vv
            p2 += (zero if u2 < zero else u2) * vv
            p3 += (zero if u3 < zero else u3) * vv
        e0, e1, e2, e3 = p0 - y[r, 0], p1 - y[r + 1, 0], p2 - y[r + 2, 0], p3 - y[r + 3, 0]
        sq += (float(e0) * float(e0) + float(e1) * float(e1)
               + float(e2) * float(e2) + float(e3) * float(e3))
        g0, g1, g2, g3 = e0 * inv, e1 * inv, e2 * inv, e3 * inv
        gb += g0 + g1 + g2 + g3
        for j in range(n_hidden):
            wv, bv, vv = w1[0, j], b1[j], w2t[0, j]
            u0, u1, u2, u3 = bv + x0 * wv, bv + x1 * wv, bv + x2 * wv, bv + x3 * wv
            u0 = zero if u0 < zero else u0
            u1 = zero if u1 < zero else u1
            u2 = zero if u2 < zero else u2
            u3 = zero if u3 < zero else u3
            gw2t[0, j] += u0 * g0 + u1 * g1 + u2 * g2 + u3 * g3
            # The ReLU mask on the activation: closed for 0 and NaN, where the gradient is 0.
            s0 = g0 * vv if u0 > zero else zero
            s1 = g1 * vv if u1 > zero else zero
            s2 = g2 * vv if u2 > zero else zero
            s3 = g3 * vv if u3 > zero else zero
            gb1[j] += s0 + s1 + s2 + s3
            gw1[0, j] += x0 * s0 + x1 * s1 + x2 * s2 + x3 * s3
        r += 4
    # The last (stop - start) % 4 records, one at a time.
    while r < stop:
        xv = x[r, 0]
        p = b2[0]
        for j in range(n_hidden):
            u = b1[j] + xv * w1[0, j]
            p += (zero if u < zero else u) * w2t[0, j]
        e = p - y[r, 0]
        sq += float(e) * float(e)
        gv = e * inv
        gb += gv
        for j in range(n_hidden):
            u = b1[j] + xv * w1[0, j]
            u = zero if u < zero else u
            gw2t[0, j] += u * gv
            sj = gv * w2t[0, j] if u > zero else zero
            gb1[j] += sj
            gw1[0, j] += xv * sj
        r += 1
    gb2[0] += gb
    return sq


@njit(**JIT_FAST)
def _chunk_grad_wide(x, y, w1, b1, w2t, b2, inv, start, stop, gw1, gb1, gw2t, gb2, a, s, g):
    """Wide layers: add the gradient of records [start, stop) into the partials; return sum(e**2).

    One record at a time, every loop runs over the H hidden units (contiguous, so it
    vectorises): w1, gw1 (D, H); w2t, gw2t (O, H) are w2 and its partial transposed; a, s (H,)
    and g (O,) are workspaces. fastmath (reassoc, contract) lets the sums over H vectorise.
    """
    d_in = x.shape[1]
    n_hidden = w1.shape[1]
    n_out = w2t.shape[0]
    zero = inv - inv
    sq = 0.0
    for r in range(start, stop):
        if d_in == 0:
            for j in range(n_hidden):
                a[j] = b1[j]
        else:
            xv = x[r, 0]
            wr = w1[0]
            for j in range(n_hidden):
                a[j] = b1[j] + xv * wr[j]
        for d in range(1, d_in):
            xv = x[r, d]
            wr = w1[d]
            for j in range(n_hidden):
                a[j] += xv * wr[j]
        if n_out == 0:
            for j in range(n_hidden):
                s[j] = zero
        for o in range(n_out):
            wr = w2t[o]
            p = zero
            if o == 0:
                # The ReLU, fused into the first output's pass (NaN passes: NaN < 0 is False).
                for j in range(n_hidden):
                    u = a[j]
                    u = zero if u < zero else u
                    a[j] = u
                    p += u * wr[j]
            else:
                for j in range(n_hidden):
                    p += a[j] * wr[j]
            e = p + b2[o] - y[r, o]
            sq += float(e) * float(e)
            g[o] = e * inv
            gb2[o] += g[o]
        for o in range(n_out):
            gv = g[o]
            wr = w2t[o]
            gr = gw2t[o]
            if o == 0:
                for j in range(n_hidden):
                    s[j] = gv * wr[j]
                    gr[j] += a[j] * gv
            else:
                for j in range(n_hidden):
                    s[j] += gv * wr[j]
                    gr[j] += a[j] * gv
        for j in range(n_hidden):
            v = s[j] if a[j] > zero else zero
            s[j] = v
            gb1[j] += v
        for d in range(d_in):
            xv = x[r, d]
            gr = gw1[d]
            for j in range(n_hidden):
                gr[j] += xv * s[j]
    return sq


@njit(**JIT)
def _padded(k: int) -> int:
    """k rounded up, plus one spare line: per-chunk blocks never share a 64-byte cache line."""
    return (k + 2 * PAD - 1) // PAD * PAD


@njit(**JIT)
def _chunk_views(part, work, c, d_in, n_hidden, n_out, plen, wlen):
    """Chunk c's gradient partials (gw1 (D, H), gw2t (O, H), gb1 (H,), gb2 (O,)) and its
    workspaces (a, s (H,), g (O,)), as views of the padded flat per-chunk buffers."""
    dh, oh = d_in * n_hidden, n_out * n_hidden
    o = c * plen
    gw1 = part[o:o + dh].reshape((d_in, n_hidden))
    o += _padded(dh)
    gw2t = part[o:o + oh].reshape((n_out, n_hidden))
    o += _padded(oh)
    gb1 = part[o:o + n_hidden]
    o += _padded(n_hidden)
    gb2 = part[o:o + n_out]
    o = c * wlen
    a = work[o:o + n_hidden]
    o += _padded(n_hidden)
    s = work[o:o + n_hidden]
    o += _padded(n_hidden)
    g = work[o:o + n_out]
    return gw1, gw2t, gb1, gb2, a, s, g


@njit(**JIT)
def _reduce_and_step(wa, b1, wb, b2, lr, part, nc, plen):
    """Sum the chunk partials in chunk order and take the SGD step p -= lr * grad."""
    o = 0
    for target in (wa.reshape(-1), wb.reshape(-1), b1, b2):
        for i in range(target.shape[0]):
            acc = part[o + i]
            for c in range(1, nc):
                acc += part[c * plen + o + i]
            target[i] = target[i] - lr * acc
        o += _padded(target.shape[0])


@njit(**JIT)
def _chunk_grad(kind, x, y, wa, b1, wb, b2, inv, start, stop, part, work, c, plen, wlen):
    """Chunk c's gradient into its partial (zeroed first) with the kernel of the given kind."""
    d_in, n_hidden = wa.shape
    n_out = wb.shape[0]
    part[c * plen:(c + 1) * plen] = 0
    gw1, gw2t, gb1, gb2, a, s, g = _chunk_views(part, work, c, d_in, n_hidden, n_out, plen, wlen)
    if kind == SINGLE:
        return _chunk_grad_single(x, y, wa, b1, wb, b2, inv, start, stop, gw1, gb1, gw2t, gb2,
                                  a, s, g)
    return _chunk_grad_wide(x, y, wa, b1, wb, b2, inv, start, stop, gw1, gb1, gw2t, gb2, a, s, g)


@njit(**JIT)
def _train(x, y, w1, b1, w2, b2, lr, inv, losses, nc, kind, parallel):
    """len(losses) steps over nc record chunks, serially or in parallel (same results)."""
    n, d_in = x.shape
    n_hidden = w1.shape[1]
    n_out = w2.shape[1]
    dt = x.dtype
    # Working copies: w1 (D, H) and w2 transposed (O, H), so every loop runs along H.
    wa, wb = w1.copy(), np.ascontiguousarray(w2.T)
    plen = (_padded(d_in * n_hidden) + _padded(n_out * n_hidden) + _padded(n_hidden)
          + _padded(n_out))
    wlen = 2 * _padded(n_hidden) + _padded(n_out)
    part = np.zeros(nc * plen, dt)
    work = np.zeros(nc * wlen, dt)
    psq = np.zeros(nc * PAD)
    total = n * n_out
    for it in range(losses.shape[0]):
        if parallel:
            _grads_parallel(kind, x, y, wa, b1, wb, b2, inv, part, work, psq, nc, plen, wlen)
        else:
            _grads_serial(kind, x, y, wa, b1, wb, b2, inv, part, work, psq, nc, plen, wlen)
        sq = 0.0
        for c in range(nc):
            sq += psq[c * PAD]
        losses[it] = 0.5 * sq / total if total > 0 else 0.0
        _reduce_and_step(wa, b1, wb, b2, lr, part, nc, plen)
    w1[:] = wa
    w2[:] = wb.T


@njit(**JIT)
def _grads_serial(kind, x, y, wa, b1, wb, b2, inv, part, work, psq, nc, plen, wlen):
    for c in range(nc):
        lo, hi = bounds(c, x.shape[0], nc)
        psq[c * PAD] = _chunk_grad(kind, x, y, wa, b1, wb, b2, inv, lo, hi, part, work, c,
                                   plen, wlen)


@njit(**JIT_PARALLEL)
def _grads_parallel(kind, x, y, wa, b1, wb, b2, inv, part, work, psq, nc, plen, wlen):
    for c in prange(nc):
        lo, hi = bounds(c, x.shape[0], nc)
        psq[c * PAD] = _chunk_grad(kind, x, y, wa, b1, wb, b2, inv, lo, hi, part, work, c,
                                   plen, wlen)


def mlp_train(x: np.ndarray, y: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
              b2: np.ndarray, lr: float, losses: np.ndarray) -> None:
    """len(losses) fused SGD steps of pred = relu(x @ w1 + b1) @ w2 + b2 (see module doc)."""
    n, d_in = x.shape
    n_hidden, n_out = w2.shape
    dt = x.dtype.type
    total = n * n_out
    # lr and 1 / (N * O) in the array dtype, so that float32 stays float32 in the jitted code.
    inv = dt(1.0 / total) if total else dt(0.0)
    # Small problems run as one serial chunk; the choice depends on the shapes only, never on
    # the thread count, so results stay bitwise the same for any number of threads.
    work = n_hidden * (d_in + n_out)
    nc = n_chunks(n, work) if use_parallel(n * work) else 1
    kind = SINGLE if d_in == 1 and n_out == 1 and n_hidden < SINGLE_MAX_HIDDEN else WIDE
    args = (x, y, w1, b1, w2, b2, dt(lr), inv, losses, nc, kind)
    if nc > 1:
        scheduling.run(_train_parallel, _train_serial, (x.shape, w2.shape, losses.shape[0]),
                       *args)
    else:
        _train_serial(*args)


def _train_serial(*args: object) -> None:
    _train(*args, False)


def _train_parallel(*args: object) -> None:
    _train(*args, True)


def warmup() -> None:
    """Compile (or load from cache) both drivers for float32 and float64."""
    for dt in (np.float32, np.float64):
        x = np.zeros((4, 1), dt)
        y = np.zeros((4, 1), dt)
        for parallel in (False, True):
            params = (np.zeros((1, 2), dt), np.zeros(2, dt), np.zeros((2, 1), dt),
                      np.zeros(1, dt))
            for kind in (SINGLE, WIDE):
                _train(x, y, *params, dt(0.1), dt(0.25), np.zeros(1), 1, kind, parallel)


# -- mlp_grad: one chunk's gradient and loss sums, no update (the distributed step) -----------

@njit(**JIT)
def _grad(x, y, w1, b1, w2, b2, one, gw1, gb1, gw2, gb2, nc, kind, parallel):
    """Add the gradient SUMS of 0.5 * sum((pred - y)**2) into gw1, gb1, gw2, gb2; return the
    loss sum (float64). The chunk kernels and partials of _train with inv = 1: the gradient of
    the sum, not the mean; the partials are added in chunk order, whatever runs them."""
    d_in, n_hidden = w1.shape
    n_out = w2.shape[1]
    dt = x.dtype
    wa, wb = np.ascontiguousarray(w1), np.ascontiguousarray(w2.T)
    plen = (_padded(d_in * n_hidden) + _padded(n_out * n_hidden) + _padded(n_hidden)
            + _padded(n_out))
    wlen = 2 * _padded(n_hidden) + _padded(n_out)
    part = np.zeros(nc * plen, dt)
    work = np.zeros(nc * wlen, dt)
    psq = np.zeros(nc * PAD)
    if parallel:
        _grads_parallel(kind, x, y, wa, b1, wb, b2, one, part, work, psq, nc, plen, wlen)
    else:
        _grads_serial(kind, x, y, wa, b1, wb, b2, one, part, work, psq, nc, plen, wlen)
    sq = 0.0
    for c in range(nc):
        sq += psq[c * PAD]
    # Partials in chunk order, laid out as in _reduce_and_step: gw1 (D, H), gw2t (O, H), gb1, gb2.
    gw2t = np.zeros((n_out, n_hidden), dt)
    o = 0
    for target in (gw1.reshape(-1), gw2t.reshape(-1), gb1, gb2):
        for i in range(target.shape[0]):
            acc = part[o + i]
            for c in range(1, nc):
                acc += part[c * plen + o + i]
            target[i] += acc
        o += _padded(target.shape[0])
    for j in range(n_hidden):
        for q in range(n_out):
            gw2[j, q] += gw2t[q, j]
    return 0.5 * sq


def _grad_serial(*args: object) -> float:
    return _grad(*args, False)


def _grad_parallel(*args: object) -> float:
    return _grad(*args, True)


def mlp_grad(x: np.ndarray, y: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
             b2: np.ndarray, gw1: np.ndarray, gb1: np.ndarray, gw2: np.ndarray,
             gb2: np.ndarray) -> float:
    """Loss sum 0.5 * sum((pred - y)**2) of the records of x, y and its gradient sums, added
    into gw1, gb1, gw2, gb2; chunked as mlp_train (bitwise the same for any thread count)."""
    n, d_in = x.shape
    n_hidden, n_out = w2.shape
    work = n_hidden * (d_in + n_out)
    nc = n_chunks(n, work) if use_parallel(n * work) else 1
    kind = SINGLE if d_in == 1 and n_out == 1 and n_hidden < SINGLE_MAX_HIDDEN else WIDE
    args = (x, y, w1, b1, w2, b2, x.dtype.type(1.0), gw1, gb1, gw2, gb2, nc, kind)
    if nc > 1:
        return float(scheduling.run(_grad_parallel, _grad_serial, ("mlp_grad", x.shape,
                                                                    w2.shape), *args))
    return float(_grad_serial(*args))


def warmup_grad() -> None:
    """Compile (or load from cache) mlp_grad's driver, serial and parallel, both dtypes."""
    for dt in (np.float32, np.float64):
        x = np.zeros((4, 1), dt)
        y = np.zeros((4, 1), dt)
        for parallel in (False, True):
            for kind in (SINGLE, WIDE):
                params = (np.zeros((1, 2), dt), np.zeros(2, dt), np.zeros((2, 1), dt),
                          np.zeros(1, dt))
                grads = tuple(np.zeros_like(p) for p in params)
                _grad(x, y, *params, dt(1.0), *grads, 1, kind, parallel)

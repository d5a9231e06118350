"""Fused full-batch training of a one-hidden-layer MLP: forward, backward and SGD in one pass.

pred = relu(x @ w1 + b1) @ w2 + b2 with x (N, D), y (N, O), w1 (D, H), b1 (H,), w2 (H, O),
b2 (O,). One step walks the records once: the hidden activations of a record live in an (H,)
workspace (or in registers) only, so no (N, H) intermediate is ever built. Every loop runs
along the hidden units (w2 is kept transposed) and vectorises. The seed's shape (D = O = 1)
runs its loops across records instead, in blocks of config.NARROW_BLOCK_RECORDS (a block's
predictions, errors and x * error live in a small workspace, each hidden unit's weights are
broadcast over the block), up to config.NARROW_BLOCK_MAX_HIDDEN hidden units; wider layers take
several records per inner iteration along H (config.NARROW_RECORDS). Both recompute the hidden
pre-activation in the backward loop (one FMA) rather than storing and reloading it. The records
are split into a fixed number of chunks that depends on the shape only; each chunk accumulates
its own gradient partial and the partials are summed in chunk order, so the result is bitwise
the same for any thread count and whether the chunks run in parallel or one after another. The
iteration loop runs inside the jitted code: one call does many steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit, prange

from . import scheduling
from .blas import single_threaded_blas
from .chunks import bounds, n_chunks, use_parallel
from .config import (
    CACHE_LINE_ELEMENTS,
    JIT,
    JIT_FAST,
    JIT_PARALLEL,
    MAX_BLAS_CHUNKS,
    MAX_CHUNKS,
    MIN_CHUNK_WORK,
    MINIBATCH_BLAS_MIN_HIDDEN,
    MINIBATCH_BLAS_MIN_WIDTH,
    MINIBATCH_DEEP_BLAS_MIN_WORK,
    MINIBATCH_PARALLEL_MIN_WORK,
    MLP_BLAS_MIN_HIDDEN,
    MLP_BLAS_MIN_WIDTH,
    MLP_BLOCK_ELEMENTS,
    MLP_BLOCK_MAX_ROWS,
    MLP_BLOCK_MIN_ROWS,
    NARROW_BLOCK_MAX_HIDDEN,
    NARROW_BLOCK_MIN_CHUNK_RECORDS,
    NARROW_BLOCK_RECORDS,
)

# The chunk kernels: NARROW_BLOCK (D = O = 1, H up to config.NARROW_BLOCK_MAX_HIDDEN: loops
# across blocks of records, see config.NARROW_BLOCK_RECORDS), NARROW8 (D = O = 1, any H: 8
# records per inner iteration in registers, loops along H, see config.NARROW_RECORDS), WIDE (one
# record at a time, any D and O) and BLOCKED (row blocks through BLAS, wide D and O, see
# config.MLP_BLAS_MIN_WIDTH).
WIDE, NARROW8, BLOCKED, NARROW_BLOCK = 2, 3, 4, 5
PAD = CACHE_LINE_ELEMENTS


@njit(inline="always", **JIT_FAST)
def _tail_narrow(x, y, w, bb, v, b2, inv, r, stop, gw, gb1, gv2):
    """Records [r, stop) one at a time (the remainder of the register blocks): (sum e**2, sum g)."""
    n_hidden = w.shape[0]
    zero = inv - inv
    sq = 0.0
    gb = zero
    while r < stop:
        xv = x[r, 0]
        p = zero
        for j in range(n_hidden):
            u = bb[j] + xv * w[j]
            p += (zero if u < zero else u) * v[j]
        e = p + b2[0] - y[r, 0]
        sq += float(e) * float(e)
        gv = e * inv
        gb += gv
        for j in range(n_hidden):
            u = bb[j] + xv * w[j]
            m = u > zero
            gv2[j] += (u if m else zero) * gv
            sj = gv * v[j] if m else zero
            gb1[j] += sj
            gw[j] += xv * sj
        r += 1
    return sq, gb


@njit(inline="always", **JIT_FAST)
def _pre8(bv, wv, x0, x1, x2, x3, x4, x5, x6, x7):
    """The hidden unit's pre-activation bv + x * wv for eight records (in registers)."""
    return (bv + x0 * wv, bv + x1 * wv, bv + x2 * wv, bv + x3 * wv, bv + x4 * wv, bv + x5 * wv,
            bv + x6 * wv, bv + x7 * wv)


@njit(**JIT_FAST)
def _chunk_grad_r8(x, y, w1, b1, w2t, b2, inv, start, stop, gw1, gb1, gw2t, gb2):
    """D = O = 1, any H: the gradient of records [start, stop), 8 per inner iteration."""
    w, bb, v = w1[0], b1, w2t[0]
    gw, gv2 = gw1[0], gw2t[0]
    n_hidden = w.shape[0]
    zero = inv - inv
    sq = 0.0
    gb = zero
    r = start
    while r + 8 <= stop:
        x0 = x[r + 0, 0]
        x1 = x[r + 1, 0]
        x2 = x[r + 2, 0]
        x3 = x[r + 3, 0]
        x4 = x[r + 4, 0]
        x5 = x[r + 5, 0]
        x6 = x[r + 6, 0]
        x7 = x[r + 7, 0]
        p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = zero
        for j in range(n_hidden):
            wv, bv, vv = w[j], bb[j], v[j]
            u0, u1, u2, u3, u4, u5, u6, u7 = _pre8(bv, wv, x0, x1, x2, x3, x4, x5, x6, x7)
            # relu that lets NaN through (like np.maximum): u < 0 is False for NaN.
            p0 += (zero if u0 < zero else u0) * vv
            p1 += (zero if u1 < zero else u1) * vv
            p2 += (zero if u2 < zero else u2) * vv
            p3 += (zero if u3 < zero else u3) * vv
            p4 += (zero if u4 < zero else u4) * vv
            p5 += (zero if u5 < zero else u5) * vv
            p6 += (zero if u6 < zero else u6) * vv
            p7 += (zero if u7 < zero else u7) * vv
        e0 = p0 + b2[0] - y[r + 0, 0]
        e1 = p1 + b2[0] - y[r + 1, 0]
        e2 = p2 + b2[0] - y[r + 2, 0]
        e3 = p3 + b2[0] - y[r + 3, 0]
        e4 = p4 + b2[0] - y[r + 4, 0]
        e5 = p5 + b2[0] - y[r + 5, 0]
        e6 = p6 + b2[0] - y[r + 6, 0]
        e7 = p7 + b2[0] - y[r + 7, 0]
        sq += float(e0) * float(e0)
        sq += float(e1) * float(e1)
        sq += float(e2) * float(e2)
        sq += float(e3) * float(e3)
        sq += float(e4) * float(e4)
        sq += float(e5) * float(e5)
        sq += float(e6) * float(e6)
        sq += float(e7) * float(e7)
        g0 = e0 * inv
        g1 = e1 * inv
        g2 = e2 * inv
        g3 = e3 * inv
        g4 = e4 * inv
        g5 = e5 * inv
        g6 = e6 * inv
        g7 = e7 * inv
        gb += g0 + g1 + g2 + g3 + g4 + g5 + g6 + g7
        for j in range(n_hidden):
            wv, bv, vv = w[j], bb[j], v[j]
            # The pre-activation again (one FMA each): cheaper than storing it.
            u0, u1, u2, u3, u4, u5, u6, u7 = _pre8(bv, wv, x0, x1, x2, x3, x4, x5, x6, x7)
            # Closed for 0 and NaN, where the ReLU's gradient is 0.
            m0 = u0 > zero
            m1 = u1 > zero
            m2 = u2 > zero
            m3 = u3 > zero
            m4 = u4 > zero
            m5 = u5 > zero
            m6 = u6 > zero
            m7 = u7 > zero
            a0 = u0 if m0 else zero
            a1 = u1 if m1 else zero
            a2 = u2 if m2 else zero
            a3 = u3 if m3 else zero
            a4 = u4 if m4 else zero
            a5 = u5 if m5 else zero
            a6 = u6 if m6 else zero
            a7 = u7 if m7 else zero
            gv2[j] += a0 * g0 + a1 * g1 + a2 * g2 + a3 * g3 + a4 * g4 + a5 * g5 + a6 * g6 + a7 * g7
            s0 = g0 * vv if m0 else zero
            s1 = g1 * vv if m1 else zero
            s2 = g2 * vv if m2 else zero
            s3 = g3 * vv if m3 else zero
            s4 = g4 * vv if m4 else zero
            s5 = g5 * vv if m5 else zero
            s6 = g6 * vv if m6 else zero
            s7 = g7 * vv if m7 else zero
            gb1[j] += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
            gw[j] += x0 * s0 + x1 * s1 + x2 * s2 + x3 * s3 + x4 * s4 + x5 * s5 + x6 * s6 + x7 * s7
        r += 8
    sq_t, gb_t = _tail_narrow(x, y, w, bb, v, b2, inv, r, stop, gw, gb1, gv2)
    gb2[0] += gb + gb_t
    return sq + sq_t


@njit(inline="always", **JIT_FAST)
def _narrow_block(x1, y1, w, bb, v, c2, inv, r, m, gw, gb1, gv2, p, g, xg):
    """Records [r, r + m) of x1, y1 (N,), m <= len(p): their gradient added into gw, gb1, gv2
    (H,); return (sum e**2, sum g). Every inner loop runs across the m records (contiguous, so
    it vectorises whatever H is); p, g, xg (at least m each) hold the block's predictions,
    output errors g = e * inv and x * g.

    The backward pass needs two masked sums per hidden unit j over the records where
    u = b1[j] + x * w1[j] > 0: S1 = sum g and S0 = sum x * g. Then gb1[j] = w2[j] * S1,
    gw1[j] = w2[j] * S0 and gw2[j] = sum relu(u) * g = b1[j] * S1 + w1[j] * S0 (relu(u) is
    b1[j] + x * w1[j] where the mask is open): one FMA, one compare and two masked adds per
    record and unit.
    """
    n_hidden = w.shape[0]
    zero = inv - inv
    xb = x1[r:r + m]
    yb = y1[r:r + m]
    for i in range(m):
        p[i] = c2
    for j in range(n_hidden):
        wv, bv, vv = w[j], bb[j], v[j]
        for i in range(m):
            u = bv + xb[i] * wv
            # relu that lets NaN through (like np.maximum): u < 0 is False for NaN.
            p[i] += (zero if u < zero else u) * vv
    sq = 0.0
    gb = zero
    for i in range(m):
        e = p[i] - yb[i]
        sq += float(e) * float(e)
        gi = e * inv
        g[i] = gi
        xg[i] = xb[i] * gi
        gb += gi
    for j in range(n_hidden):
        wv, bv, vv = w[j], bb[j], v[j]
        s1 = zero
        s0 = zero
        for i in range(m):
            u = bv + xb[i] * wv
            # Closed for 0 and NaN, where the ReLU's gradient is 0. Written as a conditional
            # add (not an add of a select) so that it compiles to a masked add.
            s1 = s1 + g[i] if u > zero else s1
            s0 = s0 + xg[i] if u > zero else s0
        gv2[j] += bv * s1 + wv * s0
        gb1[j] += vv * s1
        gw[j] += vv * s0
    return sq, gb


@njit(**JIT_FAST)
def _chunk_grad_block(x, y, w1, b1, w2t, b2, inv, start, stop, gw1, gb1, gw2t, gb2, p, g, xg):
    """D = O = 1, small H: the gradient of records [start, stop) in blocks of len(p) records
    (the last one shorter), loops across the records of a block (_narrow_block)."""
    w, bb, v = w1[0], b1, w2t[0]
    gw, gv2 = gw1[0], gw2t[0]
    zero = inv - inv
    # Flat views of x, y (N, 1), so that the block loops load vectors (the callers pass
    # C-contiguous arrays; any other layout is copied here).
    x1 = np.ascontiguousarray(x).reshape(x.shape[0])
    y1 = np.ascontiguousarray(y).reshape(y.shape[0])
    rows = p.shape[0]
    c2 = b2[0]
    sq = 0.0
    gb = zero
    r = start
    while r < stop:
        m = min(rows, stop - r)
        bsq, bgb = _narrow_block(x1, y1, w, bb, v, c2, inv, r, m, gw, gb1, gv2, p, g, xg)
        sq += bsq
        gb += bgb
        r += m
    # The ReLU's output times an error that is NaN (or inf) is NaN in the reference even where
    # the mask is closed; the masked sums above skip those records, this puts the NaN back.
    for j in range(gv2.shape[0]):
        gv2[j] += zero * gb
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


@njit(**JIT_FAST)
def _chunk_grad_blocked(x, y, w1, b1, w2t, b2, inv, start, stop, gw1, gb1, gw2t, gb2, hb, db, pb,
                        t1, t2):
    """Wide D and O: records [start, stop) in row blocks through BLAS; return sum(e**2).

    hb, db (rows, H), pb (rows, O), t1 (D, H), t2 (O, H) are this chunk's workspaces: a block's
    hidden activations and their gradient stay in cache (about config.MLP_BLOCK_ELEMENTS
    values) while bias, ReLU, error and mask are applied in numba loops between the GEMMs.
    """
    n_hidden = w1.shape[1]
    n_out = w2t.shape[0]
    rows = hb.shape[0]
    zero = inv - inv
    sq = 0.0
    for lo in range(start, stop, rows):
        hi = min(lo + rows, stop)
        m = hi - lo
        h, dh, p, xb = hb[:m], db[:m], pb[:m], x[lo:hi]
        np.dot(xb, w1, h)
        for i in range(m):
            for j in range(n_hidden):
                u = h[i, j] + b1[j]
                h[i, j] = zero if u < zero else u  # NaN passes (NaN < 0 is False)
        np.dot(h, w2t.T, p)
        for i in range(m):
            for o in range(n_out):
                e = p[i, o] + b2[o] - y[lo + i, o]
                sq += float(e) * float(e)
                g = e * inv
                p[i, o] = g
                gb2[o] += g
        np.dot(p.T, h, t2)
        for o in range(n_out):
            for j in range(n_hidden):
                gw2t[o, j] += t2[o, j]
        np.dot(p, w2t, dh)
        for i in range(m):
            for j in range(n_hidden):
                v = dh[i, j] if h[i, j] > zero else zero  # closed for 0 and NaN
                dh[i, j] = v
                gb1[j] += v
        np.dot(xb.T, dh, t1)
        for d in range(t1.shape[0]):
            for j in range(n_hidden):
                gw1[d, j] += t1[d, j]
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
def _chunk_grad(kind, x, y, wa, b1, wb, b2, inv, start, stop, part, work, c, plen, wlen, blk):
    """Chunk c's gradient into its partial (zeroed first) with the kernel of the given kind."""
    d_in, n_hidden = wa.shape
    n_out = wb.shape[0]
    part[c * plen:(c + 1) * plen] = 0
    gw1, gw2t, gb1, gb2, a, s, g = _chunk_views(part, work, c, d_in, n_hidden, n_out, plen, wlen)
    if kind == NARROW8:
        return _chunk_grad_r8(x, y, wa, b1, wb, b2, inv, start, stop, gw1, gb1, gw2t, gb2)
    if kind == NARROW_BLOCK:
        # The chunk's workspace holds three arrays of the block's length and a spare line.
        rows = (wlen - PAD) // 3
        o = c * wlen
        return _chunk_grad_block(x, y, wa, b1, wb, b2, inv, start, stop, gw1, gb1, gw2t, gb2,
                                 work[o:o + rows], work[o + rows:o + 2 * rows],
                                 work[o + 2 * rows:o + 3 * rows])
    if kind == BLOCKED:
        hb, db, pb, t1, t2 = blk
        return _chunk_grad_blocked(x, y, wa, b1, wb, b2, inv, start, stop, gw1, gb1, gw2t, gb2,
                                   hb[c], db[c], pb[c], t1[c], t2[c])
    return _chunk_grad_wide(x, y, wa, b1, wb, b2, inv, start, stop, gw1, gb1, gw2t, gb2, a, s, g)


@njit(**JIT)
def narrow_block_wlen(rows):
    """Per-chunk workspace length of the NARROW_BLOCK kind with blocks of ``rows`` records:
    three arrays of that length and a spare cache line (_chunk_grad reads ``rows`` back)."""
    return 3 * rows + PAD


@njit(inline="always", **JIT)
def _workspaces(x, w1, w2, nc, kind, rows):
    """What a fused step needs, allocated once per call: w1 (D, H) itself and w2 transposed
    (O, H), so every loop runs along H (w2 (H, 1) is its own transpose: a view; else a copy,
    written back by :func:`_store_w2`); the padded per-chunk partials and workspaces (with their
    lengths) and the chunks' squared-error sums; the BLOCKED kind's per-chunk block buffers
    (``rows`` rows each; one shared empty array for the other kinds); the NARROW_BLOCK kind's
    per-chunk workspace holds its record block (config.NARROW_BLOCK_RECORDS).

    Few allocations on purpose: at the seed's size (N = 700, H = 10, a few us a step) each one
    is paid per call (issue 9: one step through the interface within 1.5x of a step of a long
    call).
    """
    d_in, n_hidden = w1.shape
    n_out = w2.shape[1]
    dt = x.dtype
    wb = w2.reshape((1, n_hidden)) if n_out == 1 else np.ascontiguousarray(w2.T)
    plen = (_padded(d_in * n_hidden) + _padded(n_out * n_hidden) + _padded(n_hidden)
            + _padded(n_out))
    wlen = 2 * _padded(n_hidden) + _padded(n_out)
    if kind == NARROW_BLOCK:
        # No longer than the longest chunk (the same blocks, less to allocate for small N).
        wlen = narrow_block_wlen(min(NARROW_BLOCK_RECORDS, max(1, -(-x.shape[0] // nc))))
    if kind == BLOCKED:
        blk = (np.empty((nc, rows, n_hidden), dt), np.empty((nc, rows, n_hidden), dt),
               np.empty((nc, rows, n_out), dt), np.empty((nc, d_in, n_hidden), dt),
               np.empty((nc, n_out, n_hidden), dt))
    else:
        e = np.empty((nc, 0, 0), dt)
        blk = (e, e, e, e, e)
    buf = np.zeros(nc * (plen + wlen), dt)
    return (w1, wb, buf[:nc * plen], buf[nc * plen:], np.zeros(nc * PAD), plen, wlen, blk)


@njit(inline="always", **JIT)
def _store_w2(w2, wb):
    """Write the transposed working copy (O, H) back into w2 (H, O) (a view when O = 1)."""
    if w2.shape[1] != 1:
        w2[:] = wb.T


@njit(**JIT)
def _train(x, y, w1, b1, w2, b2, lr, inv, losses, nc, kind, parallel, rows):
    """len(losses) steps over nc record chunks, serially or in parallel (same results); rows:
    the block rows of the BLOCKED kind (its per-chunk workspaces are allocated once here)."""
    n = x.shape[0]
    n_out = w2.shape[1]
    wa, wb, part, work, psq, plen, wlen, blk = _workspaces(x, w1, w2, nc, kind, rows)
    total = n * n_out
    for it in range(losses.shape[0]):
        if parallel:
            _grads_parallel(kind, x, y, wa, b1, wb, b2, inv, part, work, psq, nc, plen, wlen, blk)
        else:
            _grads_serial(kind, x, y, wa, b1, wb, b2, inv, part, work, psq, nc, plen, wlen, blk)
        sq = 0.0
        for c in range(nc):
            sq += psq[c * PAD]
        losses[it] = 0.5 * sq / total if total > 0 else 0.0
        _reduce_and_step(wa, b1, wb, b2, lr, part, nc, plen)
    _store_w2(w2, wb)


@njit(**JIT)
def _grads_serial(kind, x, y, wa, b1, wb, b2, inv, part, work, psq, nc, plen, wlen, blk):
    for c in range(nc):
        lo, hi = bounds(c, x.shape[0], nc)
        psq[c * PAD] = _chunk_grad(kind, x, y, wa, b1, wb, b2, inv, lo, hi, part, work, c,
                                   plen, wlen, blk)


@njit(**JIT_PARALLEL)
def _grads_parallel(kind, x, y, wa, b1, wb, b2, inv, part, work, psq, nc, plen, wlen, blk):
    for c in prange(nc):
        lo, hi = bounds(c, x.shape[0], nc)
        psq[c * PAD] = _chunk_grad(kind, x, y, wa, b1, wb, b2, inv, lo, hi, part, work, c,
                                   plen, wlen, blk)


def mlp_train(x: np.ndarray, y: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
              b2: np.ndarray, lr: float, losses: np.ndarray) -> None:
    """len(losses) fused SGD steps of pred = relu(x @ w1 + b1) @ w2 + b2 (see module doc)."""
    n, d_in = x.shape
    n_hidden, n_out = w2.shape
    nc, kind = plan(n, d_in, n_hidden, n_out)
    if nc == 1 and kind != BLOCKED:
        # Small problems: straight into the serial driver, with nothing else done in Python.
        # Every step here is paid per call (the seed's step at N = 700, H = 10 is 4.5 us).
        _train_small(x, y, w1, b1, w2, b2, lr, losses, kind)
        return
    # lr and 1 / (N * O) in the array dtype, so that float32 stays float32 in the jitted code.
    dt, total = x.dtype.type, n * n_out
    args = (x, y, w1, b1, w2, b2, dt(lr), dt(1.0 / total) if total else dt(0.0), losses, nc,
            kind)
    with single_threaded_blas(kind == BLOCKED):
        if nc > 1:
            scheduling.run(_train_parallel, _train_serial, (x.shape, w2.shape, losses.shape[0]),
                           *args)
        else:
            _train_serial(*args)


@njit(**JIT)
def _train_small(x, y, w1, b1, w2, b2, lr, losses, kind):
    """:func:`_train` as one serial chunk, lr and 1 / (N * O) cast to the array dtype here:
    9 arguments to type instead of 13 and no Python arithmetic (0.3-0.5 us a call)."""
    dt = x.dtype.type
    total = x.shape[0] * w2.shape[1]
    inv = dt(1.0 / total) if total else dt(0.0)
    _train(x, y, w1, b1, w2, b2, dt(lr), inv, losses, 1, kind, False, 0)


def _train_serial(*args: object) -> None:
    _train(*args, False, mlp_block_rows(args[2].shape[1]))


def _train_parallel(*args: object) -> None:
    _train(*args, True, mlp_block_rows(args[2].shape[1]))


def mlp_block_rows(n_hidden: int) -> int:
    """Rows per BLAS block of the BLOCKED kind: about MLP_BLOCK_ELEMENTS hidden values."""
    return min(MLP_BLOCK_MAX_ROWS, max(MLP_BLOCK_MIN_ROWS,
                                       MLP_BLOCK_ELEMENTS // max(n_hidden, 1)))


def plan(n: int, d_in: int, n_hidden: int, n_out: int) -> tuple[int, int]:
    """(record chunks, chunk kernel kind) of a fused step; from the shape only, never the thread
    count, so results stay bitwise the same for any number of threads. Small problems run as
    one serial chunk."""
    work = n_hidden * (d_in + n_out)
    kind = WIDE
    if min(d_in, n_out) >= 1 and d_in + n_out >= MLP_BLAS_MIN_WIDTH \
            and n_hidden >= MLP_BLAS_MIN_HIDDEN:
        kind = BLOCKED
    # BLOCKED chunks hold (D + O) x H partials each and want several blocks: fewer chunks.
    most = MAX_BLAS_CHUNKS if kind == BLOCKED else MAX_CHUNKS
    nc = n_chunks(n, work, most) if use_parallel(n * work) else 1
    if d_in == 1 and n_out == 1:
        # Record blocks for small H, and for any H once chunks are long (config).
        kind = NARROW_BLOCK if (n_hidden <= NARROW_BLOCK_MAX_HIDDEN
                                or n // nc >= NARROW_BLOCK_MIN_CHUNK_RECORDS) else NARROW8
    return nc, kind


def warmup() -> None:
    """Compile (or load from cache) both drivers for float32 and float64."""
    for dt in (np.float32, np.float64):
        x = np.zeros((4, 1), dt)
        y = np.zeros((4, 1), dt)
        for parallel in (False, True):
            params = (np.zeros((1, 2), dt), np.zeros(2, dt), np.zeros((2, 1), dt),
                      np.zeros(1, dt))
            for kind in (NARROW_BLOCK, NARROW8, WIDE, BLOCKED):
                with single_threaded_blas(kind == BLOCKED):
                    _train(x, y, *params, dt(0.1), dt(0.25), np.zeros(1), 1, kind, parallel,
                           MLP_BLOCK_MIN_ROWS)
        _train_small(x, y, *params, 0.1, np.zeros(1), NARROW_BLOCK)
    warmup_minibatch()


# -- mlp_grad: one chunk's gradient and loss sums, no update (the distributed step) -----------

@njit(**JIT)
def _grad(x, y, w1, b1, w2, b2, one, gw1, gb1, gw2, gb2, nc, kind, parallel, rows):
    """Add the gradient SUMS of 0.5 * sum((pred - y)**2) into gw1, gb1, gw2, gb2; return the
    loss sum (float64). The chunk kernels and partials of _train with inv = 1: the gradient of
    the sum, not the mean; the partials are added in chunk order, whatever runs them."""
    n_hidden = w1.shape[1]
    n_out = w2.shape[1]
    dt = x.dtype
    wa, wb, part, work, psq, plen, wlen, blk = _workspaces(x, w1, w2, nc, kind, rows)
    if parallel:
        _grads_parallel(kind, x, y, wa, b1, wb, b2, one, part, work, psq, nc, plen, wlen, blk)
    else:
        _grads_serial(kind, x, y, wa, b1, wb, b2, one, part, work, psq, nc, plen, wlen, blk)
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
    return _grad(*args, False, mlp_block_rows(args[2].shape[1]))


def _grad_parallel(*args: object) -> float:
    return _grad(*args, True, mlp_block_rows(args[2].shape[1]))


def mlp_grad(x: np.ndarray, y: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
             b2: np.ndarray, gw1: np.ndarray, gb1: np.ndarray, gw2: np.ndarray,
             gb2: np.ndarray) -> float:
    """Loss sum 0.5 * sum((pred - y)**2) of the records of x, y and its gradient sums, added
    into gw1, gb1, gw2, gb2; chunked as mlp_train (bitwise the same for any thread count)."""
    n, d_in = x.shape
    n_hidden, n_out = w2.shape
    nc, kind = plan(n, d_in, n_hidden, n_out)
    args = (x, y, w1, b1, w2, b2, x.dtype.type(1.0), gw1, gb1, gw2, gb2, nc, kind)
    with single_threaded_blas(kind == BLOCKED):
        if nc > 1:
            return float(scheduling.run(_grad_parallel, _grad_serial, ("mlp_grad", x.shape,
                                                                        w2.shape), *args))
        return float(_grad_serial(*args))


def warmup_grad() -> None:
    """Compile (or load from cache) mlp_grad's driver, serial and parallel, every kind, both
    dtypes."""
    for dt in (np.float32, np.float64):
        x = np.zeros((4, 1), dt)
        y = np.zeros((4, 1), dt)
        for parallel in (False, True):
            for kind in (NARROW_BLOCK, NARROW8, WIDE, BLOCKED):
                params = (np.zeros((1, 2), dt), np.zeros(2, dt), np.zeros((2, 1), dt),
                          np.zeros(1, dt))
                grads = tuple(np.zeros_like(p) for p in params)
                with single_threaded_blas(kind == BLOCKED):
                    _grad(x, y, *params, dt(1.0), *grads, 1, kind, parallel, MLP_BLOCK_MIN_ROWS)


# -- mini-batch epochs (any depth) ------------------------------------------------------------
# The parameters of all layers live in one flat vector theta: w_l (dims[l], dims[l+1]) at
# woff[l], b_l at boff[l]. A batch is cut into a fixed number of record chunks (a function of
# the batch's size and the network only); each chunk runs forward and backward over its rows
# into its own gradient partial, and the partials are added in chunk order before the update,
# so the result is bitwise the same for any thread count. Small batches are one serial chunk.


@njit(inline="always", **JIT_FAST)
def _mb_gather(x, idx, acts, aoff, d_in):
    """The batch rows idx of x copied into the first activation level (m, d_in)."""
    m = idx.shape[0]
    a0 = acts[aoff[0]:aoff[0] + m * d_in].reshape((m, d_in))
    for i in range(m):
        r = idx[i]
        for k in range(d_in):
            a0[i, k] = x[r, k]


@njit(inline="always", **JIT_FAST)
def _mb_error(y, idx, inv, acts, aoff, dims, d1):
    """(sum(e**2), the output delta e * inv (m, O) in d1) of the last activation level."""
    n_layers = dims.shape[0] - 1
    m = idx.shape[0]
    n_out = dims[n_layers]
    pred = acts[aoff[n_layers]:aoff[n_layers] + m * n_out].reshape((m, n_out))
    cur = d1[:m * n_out].reshape((m, n_out))
    sq = 0.0
    for i in range(m):
        r = idx[i]
        for o in range(n_out):
            e = pred[i, o] - y[r, o]
            sq += float(e) * float(e)
            cur[i, o] = e * inv
    return sq, cur


@njit(inline="always", **JIT)
def _mb_layer(flat, acts, woff, boff, aoff, dims, lay, m):
    """Layer ``lay`` of a chunk of m rows: its weights (Di, Do) and bias (Do,) as views of
    ``flat`` (theta, or grad: the same layout), its input (m, Di) and output (m, Do) rows as
    views of ``acts``."""
    di, do = dims[lay], dims[lay + 1]
    w = flat[woff[lay]:woff[lay] + di * do].reshape((di, do))
    b = flat[boff[lay]:boff[lay] + do]
    inp = acts[aoff[lay]:aoff[lay] + m * di].reshape((m, di))
    out = acts[aoff[lay + 1]:aoff[lay + 1] + m * do].reshape((m, do))
    return w, b, inp, out


@njit(inline="always", **JIT)
def _mb_next_delta(d1, d2, lay, n_layers, m, di):
    """The (m, Di) buffer for the delta below layer ``lay``: d1 and d2 alternate, so that the
    delta being read (the output error lives in d1) is never the one written."""
    return (d2 if lay % 2 == (n_layers - 1) % 2 else d1)[:m * di].reshape((m, di))


@njit(**JIT_FAST)
def _mb_chunk(x, y, theta, dims, woff, boff, idx, inv, grad, acts, aoff, d1, d2):
    """Rows idx (m,) of a batch: forward, error, backward; gradient added into grad (flat);
    return sum(e**2). acts: activations of every layer (flat, level l at aoff[l], (m, dims[l]));
    d1, d2: deltas (at least m * max(dims) each)."""
    n_layers = dims.shape[0] - 1
    m = idx.shape[0]
    zero = inv - inv
    _mb_gather(x, idx, acts, aoff, dims[0])
    for lay in range(n_layers):
        di, do = dims[lay], dims[lay + 1]
        w, b, inp, out = _mb_layer(theta, acts, woff, boff, aoff, dims, lay, m)
        relu = lay < n_layers - 1
        for i in range(m):
            for j in range(do):
                out[i, j] = b[j]
            for k in range(di):
                a = inp[i, k]
                for j in range(do):
                    out[i, j] += a * w[k, j]
            if relu:
                for j in range(do):
                    u = out[i, j]
                    out[i, j] = zero if u < zero else u  # NaN passes (NaN < 0 is False)
    sq, cur = _mb_error(y, idx, inv, acts, aoff, dims, d1)
    for lay in range(n_layers - 1, -1, -1):
        di, do = dims[lay], dims[lay + 1]
        w = _mb_layer(theta, acts, woff, boff, aoff, dims, lay, m)[0]
        gw, gb, inp, _ = _mb_layer(grad, acts, woff, boff, aoff, dims, lay, m)
        for i in range(m):
            for j in range(do):
                gb[j] += cur[i, j]
            for k in range(di):
                a = inp[i, k]
                for j in range(do):
                    gw[k, j] += a * cur[i, j]
        if lay > 0:
            nxt = _mb_next_delta(d1, d2, lay, n_layers, m, di)
            for i in range(m):
                for k in range(di):
                    s = zero
                    for j in range(do):
                        s += cur[i, j] * w[k, j]
                    # The ReLU's mask on its output: closed for 0 and NaN.
                    nxt[i, k] = s if inp[i, k] > zero else zero
            cur = nxt
    return sq


@njit(**JIT_FAST)
def _mb_chunk_blas(x, y, theta, dims, woff, boff, idx, inv, grad, acts, aoff, d1, d2):
    """_mb_chunk with every layer's products through BLAS on the gathered rows (every width
    >= 1): out = inp @ w, gw = inp.T @ delta (written: each layer's gradient has one term per
    chunk and grad is zeroed), the next delta = delta @ w.T; bias, ReLU, error and mask run in
    loops over the rows while they are in cache."""
    n_layers = dims.shape[0] - 1
    m = idx.shape[0]
    zero = inv - inv
    _mb_gather(x, idx, acts, aoff, dims[0])
    for lay in range(n_layers):
        di, do = dims[lay], dims[lay + 1]
        w, b, inp, out = _mb_layer(theta, acts, woff, boff, aoff, dims, lay, m)
        np.dot(inp, w, out)
        if lay < n_layers - 1:
            for i in range(m):
                for j in range(do):
                    u = out[i, j] + b[j]
                    out[i, j] = zero if u < zero else u  # NaN passes (NaN < 0 is False)
        else:
            for i in range(m):
                for j in range(do):
                    out[i, j] += b[j]
    sq, cur = _mb_error(y, idx, inv, acts, aoff, dims, d1)
    for lay in range(n_layers - 1, -1, -1):
        di, do = dims[lay], dims[lay + 1]
        w = _mb_layer(theta, acts, woff, boff, aoff, dims, lay, m)[0]
        gw, gb, inp, _ = _mb_layer(grad, acts, woff, boff, aoff, dims, lay, m)
        np.dot(inp.T, cur, gw)
        for i in range(m):
            for j in range(do):
                gb[j] += cur[i, j]
        if lay > 0:
            nxt = _mb_next_delta(d1, d2, lay, n_layers, m, di)
            np.dot(cur, w.T, nxt)
            for i in range(m):
                for k in range(di):
                    # The ReLU's mask on its output: closed for 0 and NaN.
                    nxt[i, k] = nxt[i, k] if inp[i, k] > zero else zero
            cur = nxt
    return sq


@njit(inline="always", **JIT)
def _mb_grads_chunk(x, y, theta, dims, woff, boff, idx, inv, part, acts, d1, d2, aoff, psq,
                    c, nc, blas):
    """Chunk c of the batch idx: its gradient into part[c] (zeroed first), sum(e**2) to psq."""
    lo, hi = bounds(c, idx.shape[0], nc)
    g = part[c]
    g[:] = 0
    if blas:
        psq[c * PAD] = _mb_chunk_blas(x, y, theta, dims, woff, boff, idx[lo:hi], inv, g, acts[c],
                                      aoff, d1[c], d2[c])
    else:
        psq[c * PAD] = _mb_chunk(x, y, theta, dims, woff, boff, idx[lo:hi], inv, g, acts[c],
                                 aoff, d1[c], d2[c])


@njit(**JIT)
def _mb_grads_serial(x, y, theta, dims, woff, boff, idx, inv, part, acts, d1, d2, aoff, psq,
                     nc, blas):
    for c in range(nc):
        _mb_grads_chunk(x, y, theta, dims, woff, boff, idx, inv, part, acts, d1, d2, aoff, psq,
                        c, nc, blas)


@njit(**JIT_PARALLEL)
def _mb_grads_parallel(x, y, theta, dims, woff, boff, idx, inv, part, acts, d1, d2, aoff, psq,
                       nc, blas):
    for c in prange(nc):
        _mb_grads_chunk(x, y, theta, dims, woff, boff, idx, inv, part, acts, d1, d2, aoff, psq,
                        c, nc, blas)


@njit(**JIT)
def _mb_batch_chunks(m, work_per_row, max_chunks, min_chunk_work, min_parallel_work):
    """Record chunks of a batch of m rows: 1 (serial) below min_parallel_work, else as n_chunks."""
    if m * work_per_row < min_parallel_work:
        return 1
    return max(1, min(max_chunks, m, m * max(work_per_row, 1) // min_chunk_work))


@njit(**JIT)
def _mb_train(x, y, theta, vel, dims, woff, boff, order, batch_size, lr, momentum, losses,
              work_per_row, use_momentum, limits, inv_full, inv_last, blas, parallel):
    """Every epoch of order (E, M), batch by batch; theta (and vel) updated in place. inv_full,
    inv_last: 1 / (rows * O) of a full and of the last batch, in the arrays' dtype;
    ``parallel`` as in :func:`_mb_train_fused`."""
    n_epochs, n_visit = order.shape
    n_layers = dims.shape[0] - 1
    max_chunks, min_chunk_work, min_parallel_work = limits[0], limits[1], limits[2]
    nc_max = _mb_batch_chunks(min(batch_size, n_visit), work_per_row, max_chunks,
                              min_chunk_work, min_parallel_work)
    rows = -(-min(batch_size, n_visit) // nc_max) + 1
    widest = 0
    aoff = np.zeros(n_layers + 2, np.int64)
    for lay in range(n_layers + 1):
        widest = max(widest, dims[lay])
        aoff[lay + 1] = aoff[lay] + rows * dims[lay]
    dt = theta.dtype
    n_par = theta.shape[0]
    # Workspaces for the whole call, reused by every batch (each chunk its own rows).
    part = np.zeros((nc_max, _padded(n_par)), dt)
    acts = np.zeros((nc_max, _padded(aoff[n_layers + 1])), dt)
    d1 = np.zeros((nc_max, _padded(rows * widest)), dt)
    d2 = np.zeros((nc_max, _padded(rows * widest)), dt)
    psq = np.zeros(nc_max * PAD)
    n_out = dims[n_layers]
    for e in range(n_epochs):
        sq = 0.0
        for lo in range(0, n_visit, batch_size):
            hi = min(lo + batch_size, n_visit)
            m = hi - lo
            idx = order[e, lo:hi]
            nc = _mb_batch_chunks(m, work_per_row, max_chunks, min_chunk_work,
                                  min_parallel_work)
            inv = inv_full if m == batch_size else inv_last
            if nc > 1 and parallel:
                _mb_grads_parallel(x, y, theta, dims, woff, boff, idx, inv, part, acts, d1, d2,
                                   aoff, psq, nc, blas)
            else:
                _mb_grads_serial(x, y, theta, dims, woff, boff, idx, inv, part, acts, d1, d2,
                                 aoff, psq, nc, blas)
            for c in range(nc):
                sq += psq[c * PAD]
            for i in range(n_par):
                g = part[0, i]
                for c in range(1, nc):
                    g += part[c, i]
                if use_momentum:
                    v = momentum * vel[i] - lr * g
                    vel[i] = v
                    theta[i] = theta[i] + v
                else:
                    theta[i] = theta[i] - lr * g
        losses[e] = 0.5 * sq / (n_visit * n_out) if n_out else 0.0


# -- one hidden layer: the fused step's chunk kernels on each gathered batch ------------------
# A network with one hidden layer (the common case) runs every batch through the chunk kernels
# of mlp_train (NARROW8, WIDE or BLOCKED, config.MINIBATCH_*): the batch's rows are gathered
# into a contiguous workspace, its gradient goes into the chunk partials, and one pass adds
# them in chunk order and updates the parameters. All workspaces are allocated once per call.


@njit(**JIT)
def _reduce_and_update(wa, b1, wb, b2, vels, lr, momentum, use_momentum, part, nc, plen):
    """Sum the chunk partials in chunk order and take the step: p -= lr * g, or with momentum
    v = momentum * v - lr * g; p += v (vels: the velocities in the layout of the targets)."""
    targets = (wa.reshape(-1), wb.reshape(-1), b1, b2)
    o = 0
    for q in range(4):
        target = targets[q]
        vel = vels[q]
        for i in range(target.shape[0]):
            g = part[o + i]
            for c in range(1, nc):
                g += part[c * plen + o + i]
            if use_momentum:
                v = momentum * vel[i] - lr * g
                vel[i] = v
                target[i] = target[i] + v
            else:
                target[i] = target[i] - lr * g
        o += _padded(target.shape[0])


@njit(**JIT)
def _mb_train_fused(x, y, w1, b1, w2, b2, vels, order, batch_size, lr, momentum, losses, kind,
                    nc_full, nc_last, rows, use_momentum, inv_full, inv_last, parallel):
    """Every epoch of order (E, M) for one hidden layer; w1, b1, w2, b2 (and vels: v1 (D, H),
    v2 transposed (O, H), vb1, vb2, flat) updated in place. nc_full, nc_last: record chunks of
    a full and of the last batch (shape rules only: any thread count gives the same bits);
    ``parallel``: run a batch's chunks in a parallel region (else one after another, the same
    results), as scheduling.run decides for the whole call."""
    n_epochs, n_visit = order.shape
    d_in, n_out = x.shape[1], y.shape[1]
    dt = x.dtype
    bmax = min(batch_size, n_visit)
    nc_max = max(nc_full, nc_last)
    wa, wb, part, work, psq, plen, wlen, blk = _workspaces(x, w1, w2, nc_max, kind, rows)
    xb = np.empty((bmax, d_in), dt)
    yb = np.empty((bmax, n_out), dt)
    for e in range(n_epochs):
        sq = 0.0
        for lo in range(0, n_visit, batch_size):
            m = min(batch_size, n_visit - lo)
            for i in range(m):
                r = order[e, lo + i]
                for k in range(d_in):
                    xb[i, k] = x[r, k]
                for o in range(n_out):
                    yb[i, o] = y[r, o]
            full = m == bmax
            nc = nc_full if full else nc_last
            inv = inv_full if full else inv_last
            xm, ym = xb[:m], yb[:m]
            if nc > 1 and parallel:
                _grads_parallel(kind, xm, ym, wa, b1, wb, b2, inv, part, work, psq, nc, plen,
                                wlen, blk)
            else:
                _grads_serial(kind, xm, ym, wa, b1, wb, b2, inv, part, work, psq, nc, plen,
                              wlen, blk)
            for c in range(nc):
                sq += psq[c * PAD]
            _reduce_and_update(wa, b1, wb, b2, vels, lr, momentum, use_momentum, part, nc,
                               plen)
        losses[e] = 0.5 * sq / (n_visit * n_out) if n_out else 0.0
    _store_w2(w2, wb)


def minibatch_kind(batch: int, d_in: int, n_hidden: int, n_out: int) -> int:
    """Chunk kernel of a one-hidden-layer mini-batch step (config.MINIBATCH_BLAS_*)."""
    if d_in == 1 and n_out == 1:
        return NARROW8
    if min(d_in, n_out) >= 1 and d_in + n_out >= MINIBATCH_BLAS_MIN_WIDTH \
            and n_hidden >= MINIBATCH_BLAS_MIN_HIDDEN:
        return BLOCKED
    return WIDE


def _mb_fused(x, y, params, velocities, order, batch_size, lr, momentum, losses, limits,
              work_per_row, inv_full, inv_last, last, kind) -> None:
    """mlp_train_minibatch for one hidden layer (params w1, b1, w2, b2) with the given chunk
    kernel (None: minibatch_kind's)."""
    dt = x.dtype.type
    w1, b1, w2, b2 = params
    d_in, n_hidden = w1.shape
    n_out = w2.shape[1]
    bmax = min(batch_size, order.shape[1])
    nc_full, nc_last = (_mb_batch_chunks(m, work_per_row, *limits) for m in (bmax, last))
    if kind is None:
        kind = minibatch_kind(bmax, d_in, n_hidden, n_out)
    rows = max(1, min(mlp_block_rows(n_hidden), -(-bmax // max(nc_full, nc_last))))
    use_momentum = velocities is not None
    if use_momentum:
        vels = (np.ascontiguousarray(velocities[0]).reshape(-1),
                np.ascontiguousarray(velocities[2].T).reshape(-1),
                np.ascontiguousarray(velocities[1]), np.ascontiguousarray(velocities[3]))
    else:
        vels = (np.zeros(0, dt),) * 4
    c = [np.ascontiguousarray(p) for p in params]
    args = (x, y, c[0], c[1], c[2], c[3], vels, order, batch_size, dt(lr), dt(momentum),
            losses, kind, nc_full, nc_last, rows, use_momentum, inv_full, inv_last)
    with single_threaded_blas(kind == BLOCKED):
        _run_epochs(_mb_train_fused, max(nc_full, nc_last) > 1,
                    ("mb1", x.shape, w2.shape, order.shape, batch_size, kind), args)
    for p, q in zip(params, c, strict=True):
        if p is not q:
            p[...] = q
    if use_momentum:
        velocities[0][...] = vels[0].reshape(d_in, n_hidden)
        velocities[2][...] = vels[1].reshape(n_out, n_hidden).T
        velocities[1][...] = vels[2]
        velocities[3][...] = vels[3]


def _run_epochs(driver: Callable[..., None], chunked: bool, key: tuple,
                args: tuple) -> None:
    """A mini-batch driver over all its epochs: when its batches are cut into chunks, in
    parallel regions if scheduling.run allows them now (not in a forked child, not beside
    another thread's region, not while the machine stalls them), else serially; the results are
    the same bits either way."""
    if chunked:
        scheduling.run(_with_regions, _without_regions, key, driver, *args)
    else:
        driver(*args, False)


def _with_regions(driver: Callable[..., None], *args: object) -> None:
    driver(*args, True)


def _without_regions(driver: Callable[..., None], *args: object) -> None:
    driver(*args, False)


def _mb_layout(params: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dims [D, H1, ..., O], woff, boff) of params in the flat vector, all int64."""
    weights = params[0::2]
    dims = np.array([weights[0].shape[0]] + [w.shape[1] for w in weights], np.int64)
    sizes = np.array([p.size for p in params], np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return dims, starts[0::2].copy(), starts[1::2].copy()


def mlp_train_minibatch(x: np.ndarray, y: np.ndarray, params: list[np.ndarray],
                        velocities: list[np.ndarray] | None, order: np.ndarray, batch_size: int,
                        lr: float, momentum: float, losses: np.ndarray) -> None:
    """Epochs of mini-batch SGD (optionally momentum) of an MLP of any depth in one jitted
    call (see the protocol and the numpy reference for the exact semantics). One hidden layer
    runs the fused step's chunk kernels on each gathered batch (_mb_fused); any other depth
    the layer-by-layer chunk (_mb_chunk)."""
    train_minibatch(x, y, params, velocities, order, batch_size, lr, momentum, losses)


def train_minibatch(x: np.ndarray, y: np.ndarray, params: list[np.ndarray],
                    velocities: list[np.ndarray] | None, order: np.ndarray, batch_size: int,
                    lr: float, momentum: float, losses: np.ndarray,
                    kind: int | None = None, blas: bool | None = None) -> None:
    """mlp_train_minibatch, with the chunk kernel chosen by the caller (tools/tune.py
    minibatch) instead of by the config's thresholds: ``kind`` for one hidden layer, ``blas``
    (layer products through BLAS or row loops) for any other depth."""
    dt = x.dtype.type
    dims, woff, boff = _mb_layout(params)
    use_momentum = velocities is not None
    # Multiply-adds per record of forward and backward (three products per weight).
    work_per_row = 3 * int(np.sum(dims[:-1] * dims[1:]))
    limits = (MAX_CHUNKS, MIN_CHUNK_WORK, MINIBATCH_PARALLEL_MIN_WORK)
    n_visit, n_out = order.shape[1], y.shape[1]
    last = n_visit - (n_visit - 1) // batch_size * batch_size
    # 1 / (rows * O) in the array dtype, so that float32 stays float32 in the jitted code.
    inv_full, inv_last = (dt(1.0 / (r * n_out)) if n_out else dt(0.0)
                          for r in (min(batch_size, n_visit), last))
    if len(params) == 4:
        _mb_fused(x, y, params, velocities, order, batch_size, lr, momentum, losses, limits,
                  work_per_row, inv_full, inv_last, last, kind)
        return
    theta = np.concatenate([p.reshape(-1) for p in params])
    vel = (np.concatenate([v.reshape(-1) for v in velocities]) if use_momentum
           else np.zeros(0, x.dtype))
    if blas is None:
        # Decided once per call from the full batch (shape rules only).
        blas = bool(dims.min() >= 1 and min(batch_size, n_visit) * work_per_row
                    >= MINIBATCH_DEEP_BLAS_MIN_WORK)
    args = (x, y, theta, vel, dims, woff, boff, order, batch_size, dt(lr), dt(momentum), losses,
            work_per_row, use_momentum, np.array(limits, np.int64), inv_full, inv_last, blas)
    chunks = _mb_batch_chunks(min(batch_size, n_visit), work_per_row, *limits)
    with single_threaded_blas(blas):
        _run_epochs(_mb_train, chunks > 1,
                    ("mb", x.shape, tuple(dims), order.shape, batch_size, blas), args)
    offsets = np.concatenate([[0], np.cumsum([p.size for p in params])])
    for i, p in enumerate(params):
        p.reshape(-1)[:] = theta[offsets[i]:offsets[i + 1]]
        if use_momentum:
            velocities[i].reshape(-1)[:] = vel[offsets[i]:offsets[i + 1]]


def warmup_minibatch() -> None:
    """Compile (or load) the mini-batch drivers (one hidden layer, and deeper), serial and
    parallel, float32 and float64."""
    for dt in (np.float32, np.float64):
        x = np.zeros((3_000, 40), dt)
        y = np.zeros((3_000, 2), dt)
        order = np.arange(3_000, dtype=np.int64).reshape(1, -1)
        for widths in ((40, 30, 2), (40, 30, 30, 2)):
            params = []
            for a, b in zip(widths[:-1], widths[1:], strict=True):
                params += [np.zeros((a, b), dt), np.zeros(b, dt)]
            # serial, and parallel chunks (3000 rows x 3 x 1260 or more multiply-adds)
            for bs in (4, 3_000):
                for vel in (None, [np.zeros_like(p) for p in params]):
                    mlp_train_minibatch(x, y, params, vel, order, bs, 0.1, 0.5, np.zeros(1))

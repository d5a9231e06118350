"""Convolution, max-pool, softmax cross-entropy and momentum SGD, numba-jitted.

Layout NCHW: x (N, C, H, W), w (F, C, KH, KW), b (F,), y and dy (N, F, OH, OW). Inputs are
validated and C-contiguous (see ``kernels.protocol``); ``stride``, ``padding``, ``pool`` are
pairs of ints.

Convolution: the batch is cut into a fixed number of chunks (a function of N only); ``prange``
runs over the chunks, and each chunk walks its images one by one through a workspace of its own:
im2col of one image into ``cols`` (C*KH*KW, OH*OW), then one GEMM ``w (F, C*KH*KW) @ cols``
that lands directly in the NCHW output plane of that image (no transpose). The backward uses
the same scheme for dcols = w.T @ dy and scatters it back (col2im); weight and bias gradients
are summed per chunk and the chunks are reduced in chunk order, so results are bitwise identical
for any thread count. BLAS runs single-threaded inside the parallel region (the wrapper limits
scipy's OpenBLAS, numba's BLAS, to one thread around the call): one thread pool per pipeline.

Unit stride (the common case) takes a faster route: the image is zero-padded once, and im2col
runs over the full padded width Wp, so that every row of ``cols`` is one contiguous run of the
padded plane (a plain copy) and col2im is contiguous adds; the Wp - OW extra output columns are
dropped (forward) or fed zeros (backward). Measured 1.4-2x faster than the general loops.
Per-chunk workspaces are allocated inside the chunk: the allocator hands each thread back the
same, cache-warm block, which measured faster than one preallocated slot per chunk.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .blas import single_threaded_blas

# Below this many elements the pooling, softmax and momentum kernels run serially: a parallel
# region costs microseconds to start.
PARALLEL_MIN_WORK = 200_000
# Below this many multiply-adds (N * F * OH * OW * C * KH * KW) a convolution runs its chunk loop
# serially. A parallel region whose threads have gone to sleep between calls (a training loop
# does Python work between kernels) was measured to stall for milliseconds on a busy 2-core
# machine, while 4e6 multiply-adds take about 0.5 ms on one core: only above that does the
# second core pay for the risk.
CONV_PARALLEL_MIN_MACS = 4_000_000
# Most chunks a batch is split into (the per-chunk workspace is C*KH*KW*OH*OW floats).
MAX_CHUNKS = 16


def n_chunks(n: int) -> int:
    """How many record chunks a batch of n images is split into (a function of n only)."""
    return max(1, min(n, MAX_CHUNKS))


@njit(cache=True, nogil=True)
def _im2col(x, n, kh, kw, sh, sw, ph, pw, oh, ow, cols):
    """cols[(c, i, j), (r, s)] = x[n, c, r*sh + i - ph, s*sw + j - pw] (0 outside the image)."""
    c_in, h, wd = x.shape[1], x.shape[2], x.shape[3]
    zero = cols.dtype.type(0)
    for c in range(c_in):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                # Output columns s whose input column s*sw + j - pw lies inside [0, W).
                s_lo = max(0, (pw - j + sw - 1) // sw)
                s_hi = min(ow, (wd - 1 + pw - j) // sw + 1)
                s_hi = max(s_hi, s_lo)
                for r in range(oh):
                    src = r * sh + i - ph
                    base = r * ow
                    if src < 0 or src >= h:
                        for s in range(ow):
                            cols[row, base + s] = zero
                        continue
                    for s in range(s_lo):
                        cols[row, base + s] = zero
                    off = j - pw
                    if sw == 1:  # contiguous copy: vectorises
                        for s in range(s_lo, s_hi):
                            cols[row, base + s] = x[n, c, src, s + off]
                    else:
                        for s in range(s_lo, s_hi):
                            cols[row, base + s] = x[n, c, src, s * sw + off]
                    for s in range(s_hi, ow):
                        cols[row, base + s] = zero


@njit(cache=True, nogil=True)
def _col2im(dcols, n, kh, kw, sh, sw, ph, pw, oh, ow, dx):
    """dx[n] = sum of dcols (C*KH*KW, OH*OW) scattered back to the pixels they were read from."""
    c_in, h, wd = dx.shape[1], dx.shape[2], dx.shape[3]
    dx[n] = 0
    for c in range(c_in):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                s_lo = max(0, (pw - j + sw - 1) // sw)
                s_hi = min(ow, (wd - 1 + pw - j) // sw + 1)
                off = j - pw
                for r in range(oh):
                    dst = r * sh + i - ph
                    if dst < 0 or dst >= h:
                        continue
                    base = r * ow
                    if sw == 1:  # contiguous: vectorises
                        for s in range(s_lo, s_hi):
                            dx[n, c, dst, s + off] += dcols[row, base + s]
                    else:
                        for s in range(s_lo, s_hi):
                            dx[n, c, dst, s * sw + off] += dcols[row, base + s]


@njit(cache=True, nogil=True)
def _pad_into(x, n, ph, pw, xpad):
    """Interior of xpad (C, >= H + 2*ph, W + 2*pw) = x[n]; the zero border is left as it is."""
    c_in, h, wd = x.shape[1], x.shape[2], x.shape[3]
    for c in range(c_in):
        for r in range(h):
            for s in range(wd):
                xpad[c, r + ph, s + pw] = x[n, c, r, s]


@njit(cache=True, nogil=True)
def _im2col_s1(xpad, kh, kw, oh, cols):
    """Unit stride: cols[(c, i, j), r*Wp + s] = xpad[c, r + i, s + j] over the FULL padded width
    Wp, so that each row is one contiguous run of the flat padded plane (a plain copy). Columns
    s >= OW hold wrapped-around values that the caller ignores (forward) or multiplies by zero
    (backward)."""
    c_in, wp = xpad.shape[0], xpad.shape[2]
    length = oh * wp
    for c in range(c_in):
        plane = xpad[c].reshape(-1)
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                off = i * wp + j
                for p in range(length):
                    cols[row, p] = plane[off + p]


@njit(cache=True, nogil=True)
def _forward_chunk(x, wmat, b, sh, sw, ph, pw, kh, kw, out, lo, hi):
    """Forward of images lo..hi-1 with one workspace: im2col, then one GEMM per image."""
    f, oh, ow = out.shape[1], out.shape[2], out.shape[3]
    c_in, h, wd = x.shape[1], x.shape[2], x.shape[3]
    k = wmat.shape[1]
    if sh == 1 and sw == 1:
        wp = wd + 2 * pw
        # One spare row: the last kernel offsets read up to KW-1 values past the padded plane.
        xpad = np.zeros((c_in, h + 2 * ph + 1, wp), x.dtype)
        cols = np.empty((k, oh * wp), x.dtype)
        yfull = np.empty((f, oh * wp), x.dtype)
        for n in range(lo, hi):
            _pad_into(x, n, ph, pw, xpad)
            _im2col_s1(xpad, kh, kw, oh, cols)
            np.dot(wmat, cols, yfull)
            for q in range(f):
                bq = x.dtype.type(0) if b is None else b[q]
                for r in range(oh):
                    for s in range(ow):
                        out[n, q, r, s] = yfull[q, r * wp + s] + bq
        return
    cols = np.empty((k, oh * ow), x.dtype)
    for n in range(lo, hi):
        _im2col(x, n, kh, kw, sh, sw, ph, pw, oh, ow, cols)
        plane = out[n].reshape(f, oh * ow)
        np.dot(wmat, cols, plane)
        if b is not None:
            for q in range(f):
                bq = b[q]
                for p in range(oh * ow):
                    plane[q, p] += bq


@njit(cache=True, nogil=True)
def _backward_chunk(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, dw_part, db_part, lo, hi):
    """Backward of images lo..hi-1: dx rows written, dw/db of the chunk summed into *_part."""
    f, oh, ow = dy.shape[1], dy.shape[2], dy.shape[3]
    c_in, h, wd = x.shape[1], x.shape[2], x.shape[3]
    k = wmat.shape[1]
    wmat_t = wmat.T
    for n in range(lo, hi):
        for q in range(f):
            acc = db_part.dtype.type(0)
            for r in range(oh):
                for s in range(ow):
                    acc += dy[n, q, r, s]
            db_part[q] += acc
    if sh == 1 and sw == 1:
        wp = wd + 2 * pw
        hp = h + 2 * ph + 1
        xpad = np.zeros((c_in, hp, wp), x.dtype)
        dxpad = np.empty((c_in, hp, wp), x.dtype)
        cols = np.empty((k, oh * wp), x.dtype)
        dcols = np.empty((k, oh * wp), x.dtype)
        # dy over the full padded width; the columns s >= OW stay zero, which cancels the
        # wrapped-around columns of cols in dw and keeps them out of dx.
        dyfull = np.zeros((f, oh * wp), x.dtype)
        length = oh * wp
        for n in range(lo, hi):
            for q in range(f):
                for r in range(oh):
                    for s in range(ow):
                        dyfull[q, r * wp + s] = dy[n, q, r, s]
            _pad_into(x, n, ph, pw, xpad)
            _im2col_s1(xpad, kh, kw, oh, cols)
            dw_part += np.dot(dyfull, cols.T)
            np.dot(wmat_t, dyfull, dcols)
            dxpad[:] = 0
            for c in range(c_in):
                plane = dxpad[c].reshape(-1)
                for i in range(kh):
                    for j in range(kw):
                        row = (c * kh + i) * kw + j
                        off = i * wp + j
                        for p in range(length):
                            plane[off + p] += dcols[row, p]
            for c in range(c_in):
                for r in range(h):
                    for s in range(wd):
                        dx[n, c, r, s] = dxpad[c, r + ph, s + pw]
        return
    cols = np.empty((k, oh * ow), x.dtype)
    dcols = np.empty((k, oh * ow), x.dtype)
    for n in range(lo, hi):
        _im2col(x, n, kh, kw, sh, sw, ph, pw, oh, ow, cols)
        dplane = dy[n].reshape(f, oh * ow)
        dw_part += np.dot(dplane, cols.T)
        np.dot(wmat_t, dplane, dcols)
        _col2im(dcols, n, kh, kw, sh, sw, ph, pw, oh, ow, dx)


@njit(cache=True, nogil=True, parallel=True)
def _conv_forward_par(x, wmat, b, sh, sw, ph, pw, kh, kw, out, nch):
    n_img = x.shape[0]
    for ch in prange(nch):
        _forward_chunk(x, wmat, b, sh, sw, ph, pw, kh, kw, out,
                       ch * n_img // nch, (ch + 1) * n_img // nch)


@njit(cache=True, nogil=True)
def _conv_forward_ser(x, wmat, b, sh, sw, ph, pw, kh, kw, out, nch):
    # All images in one chunk: a serial loop gains nothing from chunks.
    _forward_chunk(x, wmat, b, sh, sw, ph, pw, kh, kw, out, 0, x.shape[0])


@njit(cache=True, nogil=True, parallel=True)
def _conv_backward_par(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, dw_parts, db_parts):
    n_img = x.shape[0]
    nch = dw_parts.shape[0]
    for ch in prange(nch):
        _backward_chunk(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, dw_parts[ch], db_parts[ch],
                        ch * n_img // nch, (ch + 1) * n_img // nch)


@njit(cache=True, nogil=True)
def _conv_backward_ser(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, dw_parts, db_parts):
    n_img = x.shape[0]
    nch = dw_parts.shape[0]
    for ch in range(nch):
        _backward_chunk(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, dw_parts[ch], db_parts[ch],
                        ch * n_img // nch, (ch + 1) * n_img // nch)


@njit(cache=True, nogil=True)
def _reduce_parts(parts, out):
    """out = parts[0] + parts[1] + ... in chunk order (deterministic)."""
    flat = out.reshape(-1)
    flat[:] = 0
    for ch in range(parts.shape[0]):
        flat += parts[ch].reshape(-1)


# -- raw protocol functions ----------------------------------------------------------------------

def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                   stride: tuple[int, int], padding: tuple[int, int], out: np.ndarray) -> None:
    """out (N, F, OH, OW) = cross-correlation of x (N, C, H, W) with w (F, C, KH, KW) + b (F,)."""
    n, f, oh, ow = out.shape
    c, kh, kw = w.shape[1:]
    nch = n_chunks(n)
    wmat = w.reshape(f, c * kh * kw)
    args = (x, wmat, b, stride[0], stride[1], padding[0], padding[1], kh, kw, out, nch)
    if n * f * oh * ow * c * kh * kw < CONV_PARALLEL_MIN_MACS or nch == 1:
        _conv_forward_ser(*args)
        return
    with single_threaded_blas():
        _conv_forward_par(*args)


def conv2d_backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray, stride: tuple[int, int],
                    padding: tuple[int, int], dx: np.ndarray, dw: np.ndarray,
                    db: np.ndarray) -> None:
    """Gradients of conv2d_forward: dx (N, C, H, W), dw (F, C, KH, KW), db (F,) (overwritten)."""
    n, f, oh, ow = dy.shape
    c, kh, kw = w.shape[1:]
    nch = n_chunks(n)
    k = c * kh * kw
    dw_parts = np.zeros((nch, f, k), x.dtype)
    db_parts = np.zeros((nch, f), x.dtype)
    args = (x, w.reshape(f, k), dy, stride[0], stride[1], padding[0], padding[1], kh, kw, dx,
            dw_parts, db_parts)
    if n * f * oh * ow * k < CONV_PARALLEL_MIN_MACS or nch == 1:
        _conv_backward_ser(*args)
    else:
        with single_threaded_blas():
            _conv_backward_par(*args)
    _reduce_parts(dw_parts, dw)
    _reduce_parts(db_parts, db)


# -- max-pool ---------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _pool_plane(x, n, c, kh, kw, sh, sw, out, argmax):
    """Max and flat argmax (row * W + col) of each window of the plane x[n, c].

    The first maximum in row-major window order wins; a NaN wins over numbers (the first NaN),
    as with np.argmax, so NaN propagates.
    """
    wd = x.shape[3]
    oh, ow = out.shape[2], out.shape[3]
    for r in range(oh):
        for s in range(ow):
            r0 = r * sh
            s0 = s * sw
            best = x[n, c, r0, s0]
            bi = r0 * wd + s0
            if best == best:  # not NaN: look for a larger value or a NaN
                done = False
                for i in range(kh):
                    for j in range(kw):
                        v = x[n, c, r0 + i, s0 + j]
                        if v > best or v != v:
                            best = v
                            bi = (r0 + i) * wd + s0 + j
                            if v != v:
                                done = True
                                break
                    if done:
                        break
            out[n, c, r, s] = best
            argmax[n, c, r, s] = bi


@njit(cache=True, nogil=True, parallel=True)
def _maxpool_forward_par(x, kh, kw, sh, sw, out, argmax):
    nc = x.shape[0] * x.shape[1]
    for q in prange(nc):
        _pool_plane(x, q // x.shape[1], q % x.shape[1], kh, kw, sh, sw, out, argmax)


@njit(cache=True, nogil=True)
def _maxpool_forward_ser(x, kh, kw, sh, sw, out, argmax):
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            _pool_plane(x, n, c, kh, kw, sh, sw, out, argmax)


@njit(cache=True, nogil=True)
def _unpool_plane(dy, argmax, q, dx):
    """dx plane q = dy plane q added at its argmax positions (planes are independent)."""
    dxp = dx[q]
    dxp[:] = 0
    dyp = dy[q]
    ap = argmax[q]
    for p in range(dyp.shape[0]):
        dxp[ap[p]] += dyp[p]


@njit(cache=True, nogil=True, parallel=True)
def _maxpool_backward_par(dy, argmax, dx):
    for q in prange(dx.shape[0]):
        _unpool_plane(dy, argmax, q, dx)


@njit(cache=True, nogil=True)
def _maxpool_backward_ser(dy, argmax, dx):
    for q in range(dx.shape[0]):
        _unpool_plane(dy, argmax, q, dx)


def maxpool2d_forward(x: np.ndarray, pool: tuple[int, int], stride: tuple[int, int],
                      out: np.ndarray, argmax: np.ndarray) -> None:
    """out (N, C, OH, OW) = window maxima of x (N, C, H, W); argmax (int64) = row * W + col."""
    args = (x, pool[0], pool[1], stride[0], stride[1], out, argmax)
    if out.size * pool[0] * pool[1] < PARALLEL_MIN_WORK:
        _maxpool_forward_ser(*args)
    else:
        _maxpool_forward_par(*args)


def maxpool2d_backward(dy: np.ndarray, argmax: np.ndarray, dx: np.ndarray) -> None:
    """dx (N, C, H, W) = dy (N, C, OH, OW) summed into the argmax positions, zero elsewhere."""
    n, c, h, wd = dx.shape
    m = dy.shape[2] * dy.shape[3]
    args = (dy.reshape(n * c, m), argmax.reshape(n * c, m), dx.reshape(n * c, h * wd))
    if dx.size < PARALLEL_MIN_WORK:
        _maxpool_backward_ser(*args)
    else:
        _maxpool_backward_par(*args)


# -- softmax cross-entropy ----------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _softmax_ce_row(logits, labels, i, dlogits, losses, inv_n):
    """Loss of row i (float64) into losses[i]; dlogits[i] = (softmax - onehot) / N."""
    k = logits.shape[1]
    m = logits[i, 0]
    for j in range(1, k):
        if logits[i, j] > m:
            m = logits[i, j]
    total = logits.dtype.type(0)
    for j in range(k):
        e = np.exp(logits[i, j] - m)
        dlogits[i, j] = e
        total += e
    log_total = np.log(total)
    lab = labels[i]
    losses[i] = np.float64(log_total) - np.float64(logits[i, lab] - m)
    scale = inv_n / total
    for j in range(k):
        dlogits[i, j] *= scale
    dlogits[i, lab] -= inv_n


@njit(cache=True, nogil=True, parallel=True)
def _softmax_ce_par(logits, labels, dlogits, losses, inv_n):
    for i in prange(logits.shape[0]):
        _softmax_ce_row(logits, labels, i, dlogits, losses, inv_n)


@njit(cache=True, nogil=True)
def _softmax_ce_ser(logits, labels, dlogits, losses, inv_n):
    for i in range(logits.shape[0]):
        _softmax_ce_row(logits, labels, i, dlogits, losses, inv_n)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, dlogits: np.ndarray) -> float:
    """Mean over N of -log softmax(logits)[label]; dlogits (N, K) its gradient. Empty: 0.0."""
    n = logits.shape[0]
    if n == 0:
        return 0.0
    losses = np.empty(n, np.float64)
    inv_n = logits.dtype.type(1.0 / n)
    if logits.size < PARALLEL_MIN_WORK:
        _softmax_ce_ser(logits, labels, dlogits, losses, inv_n)
    else:
        _softmax_ce_par(logits, labels, dlogits, losses, inv_n)
    return float(losses.sum()) / n


@njit(cache=True, nogil=True)
def _softmax_rows(logits, out, lo, hi):
    """out[i] = softmax(logits[i]) for rows lo..hi-1 (row max subtracted first)."""
    k = logits.shape[1]
    for i in range(lo, hi):
        m = logits[i, 0]
        for j in range(1, k):
            if logits[i, j] > m:
                m = logits[i, j]
        total = logits.dtype.type(0)
        for j in range(k):
            e = np.exp(logits[i, j] - m)
            out[i, j] = e
            total += e
        inv = logits.dtype.type(1) / total
        for j in range(k):
            out[i, j] *= inv


@njit(cache=True, nogil=True, parallel=True)
def _softmax_par(logits, out):
    n = logits.shape[0]
    for ch in prange(MAX_CHUNKS):
        _softmax_rows(logits, out, ch * n // MAX_CHUNKS, (ch + 1) * n // MAX_CHUNKS)


def softmax(logits: np.ndarray, out: np.ndarray) -> None:
    """out (N, K) = softmax of each row of logits (stable for large logits)."""
    if logits.size < PARALLEL_MIN_WORK:
        _softmax_rows(logits, out, 0, logits.shape[0])
    else:
        _softmax_par(logits, out)


# -- SGD with momentum --------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _momentum_ser(param, grad, velocity, lr, momentum):
    for i in range(param.shape[0]):
        vi = momentum * velocity[i] - lr * grad[i]
        velocity[i] = vi
        param[i] += vi


@njit(cache=True, nogil=True, parallel=True)
def _momentum_par(param, grad, velocity, lr, momentum):
    for i in prange(param.shape[0]):
        vi = momentum * velocity[i] - lr * grad[i]
        velocity[i] = vi
        param[i] += vi


def sgd_momentum_update(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float,
                        momentum: float) -> None:
    """velocity = momentum * velocity - lr * grad; param += velocity (1-D, in place)."""
    t = param.dtype.type
    if param.shape[0] < PARALLEL_MIN_WORK:
        _momentum_ser(param, grad, velocity, t(lr), t(momentum))
    else:
        _momentum_par(param, grad, velocity, t(lr), t(momentum))


def warmup(dtype: type) -> None:
    """Compile (or load from cache) every kernel of this module for ``dtype``, serial and
    parallel paths alike."""
    rng = np.random.default_rng(0)
    for n, c, f in ((1, 1, 1), (16, 8, 16)):   # 16*16*256*72 MACs: the parallel path
        x = rng.standard_normal((n, c, 16, 16)).astype(dtype)
        w = rng.standard_normal((f, c, 3, 3)).astype(dtype)
        b = np.zeros(f, dtype)
        y = np.empty((n, f, 16, 16), dtype)
        for bias in (b, None):
            conv2d_forward(x, w, bias, (1, 1), (1, 1), y)
        conv2d_backward(x, w, y, (1, 1), (1, 1), np.empty_like(x), np.empty_like(w),
                        np.empty_like(b))
    for shape in ((1, 1, 4, 4), (64, 16, 32, 32)):
        x = np.zeros(shape, dtype)
        out = np.empty(shape[:2] + (shape[2] // 2, shape[3] // 2), dtype)
        arg = np.empty(out.shape, np.int64)
        maxpool2d_forward(x, (2, 2), (2, 2), out, arg)
        maxpool2d_backward(out, arg, np.empty_like(x))
    for n in (2, PARALLEL_MIN_WORK // 8 + 1):
        logits = np.zeros((n, 10), dtype)
        softmax_cross_entropy(logits, np.zeros(n, np.int64), np.empty_like(logits))
        softmax(logits, np.empty_like(logits))
    for size in (2, PARALLEL_MIN_WORK):
        p = np.zeros(size, dtype)
        sgd_momentum_update(p, p.copy(), p.copy(), 0.1, 0.9)

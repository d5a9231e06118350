"""2-D convolution (NCHW cross-correlation) and its gradients, numba-jitted.

Layout: x (N, C, H, W), w (F, C, KH, KW), b (F,), y and dy (N, F, OH, OW). Inputs are
validated, C-contiguous and never empty (see ``kernels.protocol``); ``stride`` and ``padding``
are pairs of ints.

The batch is cut into a fixed number of chunks (a function of the shape only); ``prange`` runs
over the chunks, and each chunk walks its images one by one through a workspace of its own:
im2col of one image into ``cols`` (C*KH*KW, OH*OW), then one GEMM ``w (F, C*KH*KW) @ cols``
that lands directly in the NCHW output plane of that image (no transpose). The backward uses
the same scheme for dcols = w.T @ dy and scatters it back (col2im); weight and bias gradients
are summed per chunk and the chunks are added in chunk order, so results are bitwise identical
for any thread count. BLAS runs single-threaded inside the parallel region (see ``blas.py``).

Unit stride (the common case) takes a faster route: the image is zero-padded once, and im2col
runs over the full padded width Wp, so that every row of ``cols`` is one contiguous run of the
padded plane (a plain copy) and col2im is contiguous adds. The Wp - OW extra columns of each
output row hold values wrapped around from the next row: the forward drops them, and the
backward zeroes them in ``cols`` and ``dcols`` so that an inf or NaN elsewhere in x or w never
leaks into dw or dx through 0 * inf. Measured 1.4-2x faster than the general loops. Per-chunk
workspaces are allocated inside the chunk: the allocator hands each thread back the same,
cache-warm block, which measured faster than one preallocated slot per chunk.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import scheduling
from .blas import single_threaded_blas
from .chunks import bounds, n_chunks
from .config import CONV_PARALLEL_MIN_MACS, JIT, JIT_PARALLEL


@njit(inline="always", **JIT)
def _valid_cols(j, pw, sw, wd, ow):
    """Output columns [s_lo, s_hi) whose input column s*sw + j - pw lies inside [0, W)."""
    s_lo = max(0, (pw - j + sw - 1) // sw)
    s_hi = min(ow, (wd - 1 + pw - j) // sw + 1)
    return s_lo, max(s_hi, s_lo)


@njit(**JIT)
def _im2col(img, n, kh, kw, sh, sw, ph, pw, oh, ow, cols, scatter):
    """Any stride. Gather: cols[(c, i, j), (r, s)] = img[n, c, r*sh + i - ph, s*sw + j - pw]
    (0 outside the image). Scatter (col2im, the adjoint): img[n] = the sum of cols added back
    to the pixels they were read from."""
    c_in, h, wd = img.shape[1], img.shape[2], img.shape[3]
    if scatter:
        img[n] = 0
    else:
        cols[:] = 0
    for c in range(c_in):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                s_lo, s_hi = _valid_cols(j, pw, sw, wd, ow)
                for r in range(oh):
                    src = r * sh + i - ph
                    if not 0 <= src < h:
                        continue
                    for s in range(s_lo, s_hi):
                        if scatter:
                            img[n, c, src, s * sw + j - pw] += cols[row, r * ow + s]
                        else:
                            cols[row, r * ow + s] = img[n, c, src, s * sw + j - pw]


@njit(**JIT)
def _im2col_s1(x, n, ph, pw, kh, kw, oh, xpad, cols):
    """Unit stride: pad x[n] into xpad's interior (its zero border stays), then
    cols[(c, i, j), r*Wp + s] = xpad[c, r + i, s + j] over the FULL padded width Wp, so that
    each row of cols is one contiguous run of the flat padded plane (a plain copy)."""
    c_in, h, wd = x.shape[1], x.shape[2], x.shape[3]
    wp = xpad.shape[2]
    for c in range(c_in):
        for r in range(h):
            for s in range(wd):
                xpad[c, r + ph, s + pw] = x[n, c, r, s]
    length = oh * wp
    for c in range(c_in):
        plane = xpad[c].reshape(-1)
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                off = i * wp + j
                for p in range(length):
                    cols[row, p] = plane[off + p]


@njit(inline="always", **JIT)
def _zero_wrapped(a, oh, ow, wp):
    """Zero the columns r*Wp + s, s >= OW, of a (K, OH*Wp): the wrapped-around ones."""
    for k in range(a.shape[0]):
        for r in range(oh):
            for s in range(ow, wp):
                a[k, r * wp + s] = 0


@njit(**JIT)
def _forward_chunk(x, wmat, b, sh, sw, ph, pw, kh, kw, out, lo, hi):
    """Forward of images [lo, hi) with one workspace: im2col, then one GEMM per image."""
    f, oh, ow = out.shape[1], out.shape[2], out.shape[3]
    c_in, h, wd = x.shape[1], x.shape[2], x.shape[3]
    k = wmat.shape[1]
    unit = sh == 1 and sw == 1
    wp = wd + 2 * pw if unit else ow
    # One spare row: the last kernel offsets read up to KW-1 values past the padded plane.
    xpad = np.zeros((c_in, h + 2 * ph + 1, wd + 2 * pw), x.dtype)
    cols = np.empty((k, oh * wp), x.dtype)
    yfull = np.empty((f, oh * wp), x.dtype)
    for n in range(lo, hi):
        if unit:
            _im2col_s1(x, n, ph, pw, kh, kw, oh, xpad, cols)
        else:
            _im2col(x, n, kh, kw, sh, sw, ph, pw, oh, ow, cols, False)
        np.dot(wmat, cols, yfull)
        for q in range(f):
            bq = x.dtype.type(0) if b is None else b[q]
            for r in range(oh):
                for s in range(ow):
                    out[n, q, r, s] = yfull[q, r * wp + s] + bq


@njit(**JIT)
def _backward_chunk(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, need_dx, dw_part, db_part, lo, hi):
    """Backward of images [lo, hi): dx rows written (if need_dx), the chunk's dw and db summed
    into dw_part (F, C*KH*KW) and db_part (F,)."""
    f, oh, ow = dy.shape[1], dy.shape[2], dy.shape[3]
    c_in, h, wd = x.shape[1], x.shape[2], x.shape[3]
    k = wmat.shape[1]
    unit = sh == 1 and sw == 1
    wp = wd + 2 * pw if unit else ow
    hp = h + 2 * ph + 1
    xpad = np.zeros((c_in, hp, wd + 2 * pw), x.dtype)
    dxpad = np.empty((c_in, hp, wd + 2 * pw), x.dtype)
    cols = np.empty((k, oh * wp), x.dtype)
    dcols = np.empty((k, oh * wp), x.dtype)
    # dy laid out like cols' columns; with unit stride the wrapped columns s >= OW stay zero.
    dyfull = np.zeros((f, oh * wp), x.dtype)
    wmat_t = wmat.T
    for n in range(lo, hi):
        for q in range(f):
            acc = db_part.dtype.type(0)
            for r in range(oh):
                for s in range(ow):
                    v = dy[n, q, r, s]
                    dyfull[q, r * wp + s] = v
                    acc += v
            db_part[q] += acc
        if unit:
            _im2col_s1(x, n, ph, pw, kh, kw, oh, xpad, cols)
            _zero_wrapped(cols, oh, ow, wp)
        else:
            _im2col(x, n, kh, kw, sh, sw, ph, pw, oh, ow, cols, False)
        dw_part += np.dot(dyfull, cols.T)
        if not need_dx:
            continue
        np.dot(wmat_t, dyfull, dcols)
        if not unit:
            _im2col(dx, n, kh, kw, sh, sw, ph, pw, oh, ow, dcols, True)
            continue
        _zero_wrapped(dcols, oh, ow, wp)
        dxpad[:] = 0
        length = oh * wp
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


@njit(**JIT)
def _forward_serial(x, wmat, b, sh, sw, ph, pw, kh, kw, out, nch):
    for ch in range(nch):
        lo, hi = bounds(ch, x.shape[0], nch)
        _forward_chunk(x, wmat, b, sh, sw, ph, pw, kh, kw, out, lo, hi)


@njit(**JIT_PARALLEL)
def _forward_parallel(x, wmat, b, sh, sw, ph, pw, kh, kw, out, nch):
    for ch in prange(nch):
        lo, hi = bounds(ch, x.shape[0], nch)
        _forward_chunk(x, wmat, b, sh, sw, ph, pw, kh, kw, out, lo, hi)


@njit(**JIT)
def _backward_serial(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, need_dx, dw_parts, db_parts):
    for ch in range(dw_parts.shape[0]):
        lo, hi = bounds(ch, x.shape[0], dw_parts.shape[0])
        _backward_chunk(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, need_dx, dw_parts[ch],
                        db_parts[ch], lo, hi)


@njit(**JIT_PARALLEL)
def _backward_parallel(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, need_dx, dw_parts, db_parts):
    for ch in prange(dw_parts.shape[0]):
        lo, hi = bounds(ch, x.shape[0], dw_parts.shape[0])
        _backward_chunk(x, wmat, dy, sh, sw, ph, pw, kh, kw, dx, need_dx, dw_parts[ch],
                        db_parts[ch], lo, hi)


@njit(**JIT)
def _add_parts(parts, out):
    """out (K,) += parts[0] + parts[1] + ... of parts (chunks, K), in chunk order."""
    for ch in range(parts.shape[0]):
        out += parts[ch]


def _macs(x: np.ndarray, w: np.ndarray, oh: int, ow: int) -> int:
    """Multiply-adds of one pass: N * F * OH * OW * C * KH * KW."""
    return x.shape[0] * w.shape[0] * oh * ow * w.shape[1] * w.shape[2] * w.shape[3]


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                   stride: tuple[int, int], padding: tuple[int, int], out: np.ndarray) -> None:
    """out (N, F, OH, OW) = cross-correlation of x (N, C, H, W) with w (F, C, KH, KW) + b (F,)."""
    n, f, oh, ow = out.shape
    c, kh, kw = w.shape[1:]
    macs = _macs(x, w, oh, ow)
    # The forward has no reduction over images: the serial driver takes them as one chunk.
    nch = n_chunks(n, macs // n) if macs >= CONV_PARALLEL_MIN_MACS else 1
    args = (x, w.reshape(f, c * kh * kw), b, stride[0], stride[1], padding[0], padding[1],
            kh, kw, out)
    if nch > 1:
        with single_threaded_blas():
            scheduling.run(_forward_parallel, _forward_serial, (x.shape, w.shape, stride,
                                                                padding), *args, nch)
    else:
        _forward_serial(*args, 1)


def conv2d_backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray, stride: tuple[int, int],
                    padding: tuple[int, int], dx: np.ndarray | None, dw: np.ndarray,
                    db: np.ndarray) -> None:
    """dx (N, C, H, W) = the input gradient (unless None); dw (F, C, KH, KW) and db (F,)
    accumulate the weight and bias gradients."""
    n, f, oh, ow = dy.shape
    c, kh, kw = w.shape[1:]
    macs = _macs(x, w, oh, ow)
    nch = n_chunks(n, macs // n)
    k = c * kh * kw
    dw_parts = np.zeros((nch, f, k), x.dtype)
    db_parts = np.zeros((nch, f), x.dtype)
    need_dx = dx is not None
    parallel = nch > 1 and macs >= CONV_PARALLEL_MIN_MACS
    args = (x, w.reshape(f, k), dy, stride[0], stride[1], padding[0], padding[1], kh, kw,
            dx if need_dx else np.empty((0, 0, 0, 0), x.dtype), need_dx, dw_parts, db_parts)
    # BLAS is single-threaded in both drivers: the serial one may stand in for the parallel one.
    with single_threaded_blas():
        if parallel:
            scheduling.run(_backward_parallel, _backward_serial, (x.shape, w.shape, stride,
                                                                  padding, need_dx), *args)
        else:
            _backward_serial(*args)
    _add_parts(dw_parts.reshape(nch, f * k), dw.reshape(-1))
    _add_parts(db_parts, db)


def warmup(dtype: type) -> None:
    """Compile (or load from cache) both drivers of each pass for ``dtype``."""
    x = np.ones((2, 1, 4, 4), dtype)
    w = np.ones((1, 1, 3, 3), dtype)
    b = np.zeros(1, dtype)
    y = np.empty((2, 1, 4, 4), dtype)
    for run in (_forward_serial, _forward_parallel):
        for bias in (b, None):
            run(x, w.reshape(1, 9), bias, 1, 1, 1, 1, 3, 3, y, 2)
    parts = np.zeros((2, 1, 9), dtype), np.zeros((2, 1), dtype)
    for run in (_backward_serial, _backward_parallel):
        run(x, w.reshape(1, 9), y, 1, 1, 1, 1, 3, 3, np.empty_like(x), True, *parts)
    _add_parts(parts[1], b.copy())

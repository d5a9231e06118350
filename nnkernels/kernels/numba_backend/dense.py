"""Dense-layer, ReLU, squared-loss and SGD kernels, jitted with numba.

Shapes: x (N, D), w (D, H), b (H,) or None, y and dy (N, H); elementwise kernels see 1-D arrays.
Inputs are validated and C-contiguous (see ``kernels.protocol``). Three ideas carry the speed:

- Fusion: the bias add and the ReLU happen in the pass that produces each output row, and one
  pass over ``dy`` yields dx, dw and db together, instead of one numpy pass (and temporary) each.
- Two regimes: when the inner dimension D is small (the seed's D = 1), a GEMM is memory-bound
  and hand-written row loops win; from ``*_BLAS_MIN_DEPTH`` on, BLAS (``np.dot``) does the
  arithmetic and the elementwise work is applied block by block while the block is in cache.
- Determinism: parallel loops run over output rows, or over a fixed number of record chunks (a
  function of N only) whose partial sums are added in chunk order. Results are therefore
  bitwise identical for any thread count, and the serial path (used below
  ``PARALLEL_MIN_WORK``, where starting a parallel region costs more than it saves) computes
  exactly the same partial sums in the same order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .blas import single_threaded_blas

# Work (multiply-adds or elements) below which a parallel region costs more than it saves; a
# region costs 5-8 us to start on this machine, about the time of 1e5 fused multiply-adds.
PARALLEL_MIN_WORK = 100_000
# Inner dimension D from which BLAS beats the fused row loops, measured single-threaded at
# N = 10,000, H in {10, 100, 1000}, float32 and float64 (benchmarks/tune_dense.py --sweep-depth).
# The backward pass fuses three products per pass over dy, so its loops hold out longer.
FORWARD_BLAS_MIN_DEPTH = 4
BACKWARD_BLAS_MIN_DEPTH = 12
# Output rows per BLAS call: the bias/ReLU is applied to a block while it is in cache, and the
# blocks are the unit of parallel work (each calls single-threaded BLAS, see blas.py).
# Rows per block: enough for an efficient GEMM, few enough that the block's output (about
# BLAS_BLOCK_ELEMENTS values) is still in L2 when the bias and ReLU pass over it.
BLAS_BLOCK_ELEMENTS = 32_768
BLAS_BLOCK_MIN_ROWS, BLAS_BLOCK_MAX_ROWS = 32, 512
# Record chunks of the reductions over N: a function of N only, never of the thread count.
# Each chunk holds a (D, H) partial of dw, so the BLAS path (large D * H) uses fewer.
MAX_CHUNKS = 16
MAX_BLAS_CHUNKS = 4
MIN_CHUNK_WORK = 32_768

_OPTS = dict(cache=True, nogil=True)
# The row loops accumulate dot products; without reassociation LLVM cannot vectorise a float
# reduction (measured 2-5x slower). "reassoc" and "contract" (FMA) only change rounding within
# the tests' tolerances; NaN/inf semantics ("nnan", "ninf") are left alone.
_FAST = dict(_OPTS, fastmath={"reassoc", "contract"})


def n_chunks(n: int, work_per_record: int = 1, blas: bool = False) -> int:
    """Number of record chunks for a reduction over ``n`` records: a function of the shape
    only, never of the thread count, so that the summation order is fixed."""
    by_work = n * max(work_per_record, 1) // MIN_CHUNK_WORK
    return max(1, min(MAX_BLAS_CHUNKS if blas else MAX_CHUNKS, n, by_work))


@njit(**_OPTS)
def _block_rows(h):
    """Rows per BLAS block for outputs of width h."""
    return min(BLAS_BLOCK_MAX_ROWS, max(BLAS_BLOCK_MIN_ROWS, BLAS_BLOCK_ELEMENTS // max(h, 1)))


@njit(**_OPTS)
def _n_blocks(n, h):
    """Number of row blocks covering n rows of width h."""
    rows = _block_rows(h)
    return (n + rows - 1) // rows


def _parallel(work: int) -> bool:
    return work >= PARALLEL_MIN_WORK


# -- forward -------------------------------------------------------------------------------


@njit(inline="always", **_FAST)
def _forward_row(x, w, b, out, i, relu):
    """out[i] = x[i] @ w + b (then ReLU) for one row, accumulated in place in out[i]."""
    # Scalar 2-D indexing, no row views or slice assignment: a view costs more than the
    # whole row's arithmetic when H is small.
    d, h = w.shape
    for j in range(h):
        out[i, j] = 0 if b is None else b[j]
    for k in range(d):
        xik = x[i, k]
        for j in range(h):
            out[i, j] += xik * w[k, j]
    if relu:
        for j in range(h):
            # "<= 0" is False for NaN, so NaN propagates as in numpy's maximum.
            if out[i, j] <= 0:
                out[i, j] = 0


@njit(**_FAST)
def _forward_rows_serial(x, w, b, out, relu):
    for i in range(x.shape[0]):
        _forward_row(x, w, b, out, i, relu)


@njit(parallel=True, **_FAST)
def _forward_rows_parallel(x, w, b, out, relu):
    for i in prange(x.shape[0]):
        _forward_row(x, w, b, out, i, relu)


@njit(inline="always", **_OPTS)
def _forward_block(x, w, b, out, c, relu):
    """Row block c: BLAS GEMM, then bias and ReLU applied while the block is in cache."""
    rows = _block_rows(out.shape[1])
    lo = c * rows
    hi = min(lo + rows, x.shape[0])
    np.dot(x[lo:hi], w, out[lo:hi])
    if b is not None or relu:
        for i in range(lo, hi):
            for j in range(out.shape[1]):
                v = out[i, j] if b is None else out[i, j] + b[j]
                out[i, j] = 0 if (relu and v <= 0) else v


@njit(**_OPTS)
def _forward_blas_serial(x, w, b, out, relu):
    for c in range(_n_blocks(x.shape[0], w.shape[1])):
        _forward_block(x, w, b, out, c, relu)


@njit(parallel=True, **_OPTS)
def _forward_blas_parallel(x, w, b, out, relu):
    for c in prange(_n_blocks(x.shape[0], w.shape[1])):
        _forward_block(x, w, b, out, c, relu)


def _forward(x, w, b, out, relu):
    n, d = x.shape
    h = w.shape[1]
    if n == 0 or h == 0:
        return
    if d >= FORWARD_BLAS_MIN_DEPTH:
        run = _forward_blas_parallel if _n_blocks(n, h) > 1 else _forward_blas_serial
        with single_threaded_blas():
            run(x, w, b, out, relu)
    elif _parallel(n * max(d, 1) * h):
        _forward_rows_parallel(x, w, b, out, relu)
    else:
        _forward_rows_serial(x, w, b, out, relu)


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> None:
    """out (N, H) = x @ w + b."""
    _forward(x, w, b, out, False)


def linear_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                        out: np.ndarray) -> None:
    """out (N, H) = max(x @ w + b, 0), bias and ReLU fused into the pass producing each row."""
    _forward(x, w, b, out, True)


# -- backward ------------------------------------------------------------------------------


# Each record chunk c writes its own partial gradient part[c] of shape (D + 1, H): rows 0..D-1
# hold its share of dw, row D its share of db. The drivers add the partials in chunk order.


@njit(inline="always", **_FAST)
def _backward_chunk(x, w, dy, dx, part, c, need_dx):
    """One record chunk by row loops: dx rows and the partial [dw; db], in one pass over dy."""
    n, d = x.shape
    h = w.shape[1]
    nchunks = part.shape[0]
    lo = c * n // nchunks
    hi = (c + 1) * n // nchunks
    zero = dy.dtype.type(0)
    for i in range(lo, hi):
        for j in range(h):
            part[c, d, j] += dy[i, j]
        for k in range(d):
            xik = x[i, k]
            acc = zero
            for j in range(h):
                part[c, k, j] += xik * dy[i, j]
                acc += dy[i, j] * w[k, j]
            if need_dx:
                dx[i, k] = acc


@njit(inline="always", **_OPTS)
def _backward_blas_chunk(x, w, dy, dx, part, c, need_dx):
    """One record chunk through BLAS: dx rows and the partial [dw; db]."""
    n, d = x.shape
    h = w.shape[1]
    nchunks = part.shape[0]
    lo = c * n // nchunks
    hi = (c + 1) * n // nchunks
    if need_dx:
        np.dot(dy[lo:hi], w.T, dx[lo:hi])
    if h >= d:
        # x with a column of ones appended makes one GEMM yield dw and db: dy, the largest
        # operand, is read once for both instead of once more for its column sums. It is built
        # transposed, (D + 1, rows), because the plain GEMM measured 5-10% faster than the
        # transposed-operand one in scipy's OpenBLAS.
        xat = np.empty((d + 1, hi - lo), x.dtype)
        for k in range(d):
            for i in range(hi - lo):
                xat[k, i] = x[lo + i, k]
        xat[d, :] = 1
        np.dot(xat, dy[lo:hi], part[c])
    else:
        # Narrow outputs: copying the wide x would cost more than one pass over the narrow dy.
        np.dot(x[lo:hi].T, dy[lo:hi], part[c, :d])
        for i in range(lo, hi):
            for j in range(h):
                part[c, d, j] += dy[i, j]


@njit(inline="always", **_OPTS)
def _add_partials(part, dw, db):
    """dw += the partials' dw rows, db += their db row, in chunk order (deterministic)."""
    d, h = dw.shape
    for c in range(part.shape[0]):
        for k in range(d):
            for j in range(h):
                dw[k, j] += part[c, k, j]
        for j in range(h):
            db[j] += part[c, d, j]


@njit(**_FAST)
def _backward_rows_serial(x, w, dy, dx, dw, db, part, need_dx):
    for c in range(part.shape[0]):
        _backward_chunk(x, w, dy, dx, part, c, need_dx)
    _add_partials(part, dw, db)


@njit(parallel=True, **_FAST)
def _backward_rows_parallel(x, w, dy, dx, dw, db, part, need_dx):
    for c in prange(part.shape[0]):
        _backward_chunk(x, w, dy, dx, part, c, need_dx)
    _add_partials(part, dw, db)


@njit(**_OPTS)
def _backward_blas_serial(x, w, dy, dx, dw, db, part, need_dx):
    for c in range(part.shape[0]):
        _backward_blas_chunk(x, w, dy, dx, part, c, need_dx)
    _add_partials(part, dw, db)


@njit(parallel=True, **_OPTS)
def _backward_blas_parallel(x, w, dy, dx, dw, db, part, need_dx):
    for c in prange(part.shape[0]):
        _backward_blas_chunk(x, w, dy, dx, part, c, need_dx)
    _add_partials(part, dw, db)


def linear_backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray, dx: np.ndarray | None,
                    dw: np.ndarray, db: np.ndarray) -> None:
    """dx (N, D) = dy @ w.T (unless None); dw (D, H) += x.T @ dy; db (H,) += dy.sum(axis=0)."""
    n, d = x.shape
    h = w.shape[1]
    need_dx = dx is not None
    if n == 0 or (h == 0) or (d == 0 and not need_dx):
        if need_dx:
            dx[...] = 0
        return
    if dx is None:
        dx = np.empty((0, 0), dtype=x.dtype)  # never written; keeps one compiled signature
    blas = d >= BACKWARD_BLAS_MIN_DEPTH
    nchunks = n_chunks(n, d * h, blas)
    part = np.zeros((nchunks, d + 1, h), dtype=x.dtype)
    parallel = nchunks > 1 and _parallel(n * max(d, 1) * h)
    if blas:
        run = _backward_blas_parallel if parallel else _backward_blas_serial
        with single_threaded_blas():
            run(x, w, dy, dx, dw, db, part, need_dx)
    else:
        run = _backward_rows_parallel if parallel else _backward_rows_serial
        run(x, w, dy, dx, dw, db, part, need_dx)


# -- elementwise ---------------------------------------------------------------------------


# Each body works on views of its block and loops from 0: an index that runs from a block start
# that numba cannot prove non-negative keeps its wraparound check, which blocks vectorisation
# (measured 3-5x slower than np.maximum on 1e7 elements).

@njit(inline="always", **_OPTS)
def _relu_range(u, out, lo, hi):
    src, dst = u[lo:hi], out[lo:hi]
    for i in range(src.shape[0]):
        v = src[i]
        dst[i] = 0 if v <= 0 else v  # NaN is not <= 0, so it propagates


@njit(inline="always", **_OPTS)
def _relu_backward_range(da, y, out, lo, hi):
    g, m, dst = da[lo:hi], y[lo:hi], out[lo:hi]
    for i in range(dst.shape[0]):
        dst[i] = g[i] if m[i] > 0 else 0


@njit(inline="always", **_OPTS)
def _sgd_range(param, grad, lr, lo, hi):
    step = param.dtype.type(lr)
    p, g = param[lo:hi], grad[lo:hi]
    for i in range(p.shape[0]):
        p[i] -= step * g[i]


@njit(inline="always", **_FAST)
def _mse_range(pred, target, dpred, scale, lo, hi):
    """dpred = (pred - target) / scale on [lo, hi); returns the float64 sum of squares."""
    p, t, d = pred[lo:hi], target[lo:hi], dpred[lo:hi]
    s = 0.0
    for i in range(p.shape[0]):
        r = p[i] - t[i]
        s += np.float64(r) * np.float64(r)
        d[i] = r / scale
    return s


# Elementwise kernels split the array into a fixed number of blocks (see n_chunks) and run
# the blocks in parallel above PARALLEL_MIN_WORK elements. Each kernel has a serial and a
# parallel driver over the same block body.

@njit(**_OPTS)
def _relu_serial(u, out):
    _relu_range(u, out, 0, u.shape[0])


@njit(parallel=True, **_OPTS)
def _relu_parallel(u, out, nblocks):
    n = u.shape[0]
    for c in prange(nblocks):
        _relu_range(u, out, c * n // nblocks, (c + 1) * n // nblocks)


@njit(**_OPTS)
def _relu_backward_serial(da, y, out):
    _relu_backward_range(da, y, out, 0, da.shape[0])


@njit(parallel=True, **_OPTS)
def _relu_backward_parallel(da, y, out, nblocks):
    n = da.shape[0]
    for c in prange(nblocks):
        _relu_backward_range(da, y, out, c * n // nblocks, (c + 1) * n // nblocks)


@njit(**_OPTS)
def _sgd_serial(param, grad, lr):
    _sgd_range(param, grad, lr, 0, param.shape[0])


@njit(parallel=True, **_OPTS)
def _sgd_parallel(param, grad, lr, nblocks):
    n = param.shape[0]
    for c in prange(nblocks):
        _sgd_range(param, grad, lr, c * n // nblocks, (c + 1) * n // nblocks)


@njit(**_FAST)
def _mse_serial(pred, target, dpred, scale, nblocks):
    n = pred.shape[0]
    total = 0.0
    for c in range(nblocks):
        total += _mse_range(pred, target, dpred, scale, c * n // nblocks, (c + 1) * n // nblocks)
    return total


@njit(parallel=True, **_FAST)
def _mse_parallel(pred, target, dpred, scale, nblocks):
    n = pred.shape[0]
    partial = np.zeros(nblocks)
    for c in prange(nblocks):
        partial[c] = _mse_range(pred, target, dpred, scale,
                                c * n // nblocks, (c + 1) * n // nblocks)
    total = 0.0
    for c in range(nblocks):  # in block order: the same sum for any thread count
        total += partial[c]
    return total


def relu_forward(u: np.ndarray, out: np.ndarray) -> None:
    """out = max(u, 0); NaN propagates."""
    if _parallel(u.size):
        _relu_parallel(u, out, n_chunks(u.size))
    else:
        _relu_serial(u, out)


def relu_backward(da: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """out = da where y > 0 else 0."""
    if _parallel(da.size):
        _relu_backward_parallel(da, y, out, n_chunks(da.size))
    else:
        _relu_backward_serial(da, y, out)


def mse_loss(pred: np.ndarray, target: np.ndarray, reduction: str, dpred: np.ndarray) -> float:
    """Return 0.5 * mean (or sum) of (pred - target)**2; dpred = (pred - target) [/ n]."""
    n = pred.size
    if n == 0:
        return 0.0
    scale = pred.dtype.type(n if reduction == "mean" else 1)
    run = _mse_parallel if _parallel(n) else _mse_serial
    total = 0.5 * run(pred, target, dpred, scale, n_chunks(n))
    return total / n if reduction == "mean" else total


def sgd_update(param: np.ndarray, grad: np.ndarray, lr: float) -> None:
    """param -= lr * grad, in place (lr cast to the parameter dtype)."""
    if _parallel(param.size):
        _sgd_parallel(param, grad, lr, n_chunks(param.size))
    else:
        _sgd_serial(param, grad, lr)


def warmup(dtype: type) -> None:
    """Compile (or load from cache) every jitted function of this module for ``dtype``."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2)).astype(dtype)
    w = rng.standard_normal((2, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    dy = rng.standard_normal((4, 3)).astype(dtype)
    out = np.empty((4, 3), dtype)
    _n_blocks(4, 3)  # also called from Python, with Python ints
    for bias in (None, b):
        _forward_rows_serial(x, w, bias, out, True)
        _forward_rows_parallel(x, w, bias, out, True)
        _forward_blas_serial(x, w, bias, out, True)
        _forward_blas_parallel(x, w, bias, out, True)
    dx, dw, db = np.empty_like(x), np.zeros_like(w), np.zeros_like(b)
    part = np.zeros((2, 3, 3), dtype)
    for run in (_backward_rows_serial, _backward_rows_parallel, _backward_blas_serial,
                _backward_blas_parallel):
        run(x, w, dy, dx, dw, db, part, True)
    u, flat_out = dy.reshape(-1), out.reshape(-1)
    _relu_serial(u, flat_out)
    _relu_parallel(u, flat_out, 2)
    _relu_backward_serial(u, u, flat_out)
    _relu_backward_parallel(u, u, flat_out, 2)
    scale = dtype(u.size)
    _mse_serial(u, u, flat_out, scale, 2)
    _mse_parallel(u, u, flat_out, scale, 2)
    param = flat_out.copy()
    _sgd_serial(param, u, 0.1)
    _sgd_parallel(param, u, 0.1, 2)

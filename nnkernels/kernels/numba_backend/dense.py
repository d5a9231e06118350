"""Dense layers (matmul with bias, fused ReLU, the three gradients), numba-jitted.

Shapes: x (N, D), w (D, H), b (H,) or None, y and dy (N, H); inputs are validated,
C-contiguous and never empty (see ``kernels.protocol``). Three ideas carry the speed:

- Fusion: the bias add and the ReLU happen in the pass that produces each output block, and one
  pass over ``dy`` yields dx, dw and db together, instead of one numpy pass (and temporary) each.
- Two regimes per block: when the inner dimension D is small (the seed's D = 1) a GEMM is
  memory-bound and hand-written row loops win; from ``*_BLAS_MIN_DEPTH`` on, BLAS (``np.dot``,
  single-threaded, see ``blas.py``) does the arithmetic and the elementwise work is applied
  while the block is in cache.
- Determinism: the forward runs over row blocks (each output row is computed by one block); the
  backward over a fixed number of record chunks (a function of the shape only) whose partial
  sums are added in chunk order, so results are bitwise identical for any thread count, and
  the serial driver (below ``PARALLEL_MIN_WORK``) computes the same partials in the same order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import scheduling
from .blas import single_threaded_blas
from .chunks import bounds, n_chunks, use_parallel
from .config import (
    BACKWARD_BLAS_MIN_DEPTH,
    BLAS_BLOCK_ELEMENTS,
    BLAS_BLOCK_MAX_ROWS,
    BLAS_BLOCK_MIN_ROWS,
    FORWARD_BLAS_MIN_DEPTH,
    JIT_FAST,
    JIT_FAST_PARALLEL,
    MAX_BLAS_CHUNKS,
    MAX_CHUNKS,
)


def block_rows(h: int) -> int:
    """Output rows per block for outputs of width h (about BLAS_BLOCK_ELEMENTS values)."""
    return min(BLAS_BLOCK_MAX_ROWS, max(BLAS_BLOCK_MIN_ROWS, BLAS_BLOCK_ELEMENTS // max(h, 1)))


# -- forward -------------------------------------------------------------------------------


@njit(inline="always", **JIT_FAST)
def _forward_block(x, w, b, out, lo, hi, relu, blas):
    """Rows [lo, hi) of out = x @ w + b (then ReLU): by BLAS then one bias/ReLU pass while the
    block is in cache, or by row loops that accumulate in place in out."""
    d, h = w.shape
    if blas:
        np.dot(x[lo:hi], w, out[lo:hi])
        if b is None and not relu:
            return
        for i in range(lo, hi):
            for j in range(h):
                v = out[i, j] if b is None else out[i, j] + b[j]
                out[i, j] = 0 if (relu and v <= 0) else v
        return
    # Scalar 2-D indexing, no row views: a view costs more than a short row's arithmetic.
    for i in range(lo, hi):
        for j in range(h):
            out[i, j] = 0 if b is None else b[j]
        for k in range(d):
            xik = x[i, k]
            for j in range(h):
                out[i, j] += xik * w[k, j]
        if relu:
            for j in range(h):
                if out[i, j] <= 0:  # False for NaN, so NaN propagates as in np.maximum
                    out[i, j] = 0


@njit(**JIT_FAST)
def _forward_serial(x, w, b, out, relu, blas, nblocks):
    for c in range(nblocks):
        lo, hi = bounds(c, x.shape[0], nblocks)
        _forward_block(x, w, b, out, lo, hi, relu, blas)


@njit(**JIT_FAST_PARALLEL)
def _forward_parallel(x, w, b, out, relu, blas, nblocks):
    for c in prange(nblocks):
        lo, hi = bounds(c, x.shape[0], nblocks)
        _forward_block(x, w, b, out, lo, hi, relu, blas)


def _forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray,
             relu: bool) -> None:
    n, d = x.shape
    h = w.shape[1]
    blas = d >= FORWARD_BLAS_MIN_DEPTH
    nblocks = -(-n // block_rows(h))
    parallel = nblocks > 1 and (blas or use_parallel(n * max(d, 1) * h))
    args = (x, w, b, out, relu, blas, nblocks)
    with single_threaded_blas(blas):
        if parallel:
            scheduling.run(_forward_parallel, _forward_serial, (n, d, h, b is None), *args)
        else:
            _forward_serial(*args)


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> None:
    """out (N, H) = x @ w + b."""
    _forward(x, w, b, out, False)


def linear_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                        out: np.ndarray) -> None:
    """out (N, H) = max(x @ w + b, 0), bias and ReLU fused into the pass producing each block."""
    _forward(x, w, b, out, True)


# -- backward ------------------------------------------------------------------------------

# Each record chunk c writes its own partial gradient part[c] of shape (D + 1, H): rows 0..D-1
# hold its share of dw, row D its share of db. The drivers add the partials in chunk order.


@njit(inline="always", **JIT_FAST)
def _backward_chunk(x, w, dy, dx, part, c, need_dx, blas):
    """One record chunk: its dx rows and its partial [dw; db], in one pass over dy."""
    n, d = x.shape
    h = w.shape[1]
    lo, hi = bounds(c, n, part.shape[0])
    if not blas:
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
        return
    if need_dx:
        np.dot(dy[lo:hi], w.T, dx[lo:hi])
    if h >= d:
        # x with a row of ones appended (transposed: (D + 1, rows)) makes one GEMM yield dw and
        # db, so dy, the largest operand, is read once for both; the plain GEMM measured 5-10%
        # faster than the transposed-operand one in scipy's OpenBLAS.
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


@njit(inline="always", **JIT_FAST)
def _add_partials(part, dw, db):
    """dw += the partials' dw rows, db += their db row, in chunk order (deterministic)."""
    d, h = dw.shape
    for c in range(part.shape[0]):
        for k in range(d):
            for j in range(h):
                dw[k, j] += part[c, k, j]
        for j in range(h):
            db[j] += part[c, d, j]


@njit(**JIT_FAST)
def _backward_serial(x, w, dy, dx, dw, db, part, need_dx, blas):
    for c in range(part.shape[0]):
        _backward_chunk(x, w, dy, dx, part, c, need_dx, blas)
    _add_partials(part, dw, db)


@njit(**JIT_FAST_PARALLEL)
def _backward_parallel(x, w, dy, dx, dw, db, part, need_dx, blas):
    for c in prange(part.shape[0]):
        _backward_chunk(x, w, dy, dx, part, c, need_dx, blas)
    _add_partials(part, dw, db)


def linear_backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray, dx: np.ndarray | None,
                    dw: np.ndarray, db: np.ndarray) -> None:
    """dx (N, D) = dy @ w.T (unless None); dw (D, H) += x.T @ dy; db (H,) += dy.sum(axis=0)."""
    n, d = x.shape
    h = w.shape[1]
    need_dx = dx is not None
    if dx is None:
        dx = np.empty((0, 0), dtype=x.dtype)  # never written; keeps one compiled signature
    blas = d >= BACKWARD_BLAS_MIN_DEPTH
    nchunks = n_chunks(n, (d + 1) * h, MAX_BLAS_CHUNKS if blas else MAX_CHUNKS)
    part = np.zeros((nchunks, d + 1, h), dtype=x.dtype)
    parallel = nchunks > 1 and use_parallel(n * (d + 1) * h)
    args = (x, w, dy, dx, dw, db, part, need_dx, blas)
    with single_threaded_blas(blas):
        if parallel:
            scheduling.run(_backward_parallel, _backward_serial, (n, d, h, need_dx), *args)
        else:
            _backward_serial(*args)


def warmup(dtype: type) -> None:
    """Compile (or load from cache) both drivers of each pass for ``dtype``."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2)).astype(dtype)
    w = rng.standard_normal((2, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    dy = rng.standard_normal((4, 3)).astype(dtype)
    out = np.empty((4, 3), dtype)
    for run in (_forward_serial, _forward_parallel):
        for bias in (None, b):
            run(x, w, bias, out, True, False, 2)
    dx, dw, db = np.empty_like(x), np.zeros_like(w), np.zeros_like(b)
    for run in (_backward_serial, _backward_parallel):
        run(x, w, dy, dx, dw, db, np.zeros((2, 3, 3), dtype), True, False)

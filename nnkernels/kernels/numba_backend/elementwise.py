"""The loops of the elementwise kernels (ReLU, its mask, SGD steps, the squared error), behind
one pair of drivers.

Every elementwise kernel is a pass over 1-D arrays cut into a fixed number of blocks
(``chunks.n_chunks``); the blocks run in parallel above ``PARALLEL_MIN_WORK`` elements. The
kernel is chosen by an op code per block, outside the inner loop, so each op's loop compiles
and vectorises on its own while the serial and parallel drivers exist once. Arguments an op
does not use are passed as any array of the same type (never read).

Each body works on views of its block and loops from 0: an index running from a block start
that numba cannot prove non-negative keeps its wraparound check, which blocks vectorisation
(measured 3-5x slower than np.maximum on 1e7 elements). A kernel writing over its input
(``relu_forward(z, out=z)``) runs a loop that reads and writes the one view: LLVM's run-time
overlap check fails for two views of the same memory and falls back to scalar code (measured
2.7-3.6x slower on 65,536 float32 elements).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import scheduling
from .chunks import bounds, n_chunks, use_parallel
from .config import JIT, JIT_FAST, JIT_FAST_PARALLEL, JIT_PARALLEL

# Op codes of the map drivers.
RELU, RELU_MASK, SGD, MOMENTUM = 0, 1, 2, 3


@njit(inline="always", **JIT)
def _same(a, out):
    """True when out is a (written in place). The api hands an aliased output over only when
    it is laid out exactly like the input, so equal data pointers are the test; read here, in
    the jitted driver, because Python's ``__array_interface__`` costs 0.8 us an array."""
    return a.ctypes.data == out.ctypes.data


@njit(inline="always", **JIT)
def _map_block(op, a, b, out, out2, s1, s2, same, lo, hi):
    """One block [lo, hi) of the op: out (and out2) from a (and b) and the scalars s1, s2;
    ``same``: out is a (written in place)."""
    src, other, dst, dst2 = a[lo:hi], b[lo:hi], out[lo:hi], out2[lo:hi]
    if op == RELU and same:
        for i in range(dst.shape[0]):
            v = dst[i]
            dst[i] = 0 if v <= 0 else v
    elif op == RELU:  # out = max(a, 0); NaN is not <= 0, so it propagates
        for i in range(dst.shape[0]):
            v = src[i]
            dst[i] = 0 if v <= 0 else v
    elif op == RELU_MASK and same:
        for i in range(dst.shape[0]):
            dst[i] = dst[i] if other[i] > 0 else 0
    elif op == RELU_MASK:  # out = a where b > 0, else 0
        for i in range(dst.shape[0]):
            dst[i] = src[i] if other[i] > 0 else 0
    elif op == SGD:  # out (param) -= s1 (lr) * a (grad)
        for i in range(dst.shape[0]):
            dst[i] -= s1 * src[i]
    else:  # MOMENTUM: out2 (velocity) = s2 * out2 - s1 * a; out (param) += out2
        for i in range(dst.shape[0]):
            vi = s2 * dst2[i] - s1 * src[i]
            dst2[i] = vi
            dst[i] += vi


@njit(**JIT)
def _map_serial(op, a, b, out, out2, s1, s2, nblocks):
    same = _same(a, out)
    for c in range(nblocks):
        lo, hi = bounds(c, a.shape[0], nblocks)
        _map_block(op, a, b, out, out2, s1, s2, same, lo, hi)


@njit(**JIT_PARALLEL)
def _map_parallel(op, a, b, out, out2, s1, s2, nblocks):
    same = _same(a, out)
    for c in prange(nblocks):
        lo, hi = bounds(c, a.shape[0], nblocks)
        _map_block(op, a, b, out, out2, s1, s2, same, lo, hi)


def run_map(op: int, a: np.ndarray, b: np.ndarray, out: np.ndarray, out2: np.ndarray,
            s1: float = 0.0, s2: float = 0.0) -> None:
    """Run map op ``op`` over 1-D arrays of one length and dtype, serially or in parallel."""
    t = out.dtype.type
    args = (op, a, b, out, out2, t(s1), t(s2), n_chunks(a.shape[0]))
    if use_parallel(a.shape[0]):
        scheduling.run(_map_parallel, _map_serial, (op, a.shape[0]), *args)
    else:
        _map_serial(*args)


@njit(inline="always", **JIT_FAST)
def _squared_error_block(pred, target, dpred, scale, lo, hi):
    """dpred = (pred - target) / scale on [lo, hi); returns the float64 sum of squares."""
    p, t, d = pred[lo:hi], target[lo:hi], dpred[lo:hi]
    s = 0.0
    for i in range(p.shape[0]):
        r = p[i] - t[i]
        s += np.float64(r) * np.float64(r)
        d[i] = r / scale
    return s


@njit(**JIT_FAST)
def _squared_error_serial(pred, target, dpred, scale, partial):
    for c in range(partial.shape[0]):
        lo, hi = bounds(c, pred.shape[0], partial.shape[0])
        partial[c] = _squared_error_block(pred, target, dpred, scale, lo, hi)


@njit(**JIT_FAST_PARALLEL)
def _squared_error_parallel(pred, target, dpred, scale, partial):
    for c in prange(partial.shape[0]):
        lo, hi = bounds(c, pred.shape[0], partial.shape[0])
        partial[c] = _squared_error_block(pred, target, dpred, scale, lo, hi)


def squared_error(pred: np.ndarray, target: np.ndarray, dpred: np.ndarray, scale: float
                  ) -> float:
    """Sum of (pred - target)**2 in float64, block partials added in block order;
    dpred = (pred - target) / scale."""
    n = pred.shape[0]
    partial = np.zeros(n_chunks(n))
    args = (pred, target, dpred, pred.dtype.type(scale), partial)
    if use_parallel(n):
        scheduling.run(_squared_error_parallel, _squared_error_serial, n, *args)
    else:
        _squared_error_serial(*args)
    total = 0.0
    for s in partial:  # in block order: the same sum for any thread count
        total += float(s)
    return total


def warmup(dtype: type) -> None:
    """Compile (or load from cache) both drivers of each kind for ``dtype``."""
    a = np.ones(4, dtype)
    out = np.empty(4, dtype)
    t = np.dtype(dtype).type
    for run in (_map_serial, _map_parallel):
        run(RELU, a, a, out, out, t(0), t(0), 2)
    for run in (_squared_error_serial, _squared_error_parallel):
        run(a, a, out, t(1), np.zeros(2))

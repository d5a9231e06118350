"""The loops of the row-wise kernels (softmax, softmax cross-entropy), behind one pair of
drivers: rows are cut into a fixed number of chunks; each row is independent, so any schedule
gives the same bits."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import scheduling
from .chunks import bounds, n_chunks, use_parallel
from .config import JIT, JIT_PARALLEL

# Op codes.
SOFTMAX, SOFTMAX_CE = 0, 1


@njit(inline="always", **JIT)
def _exp_row(logits, i, out):
    """out[i] = exp(logits[i] - max(logits[i])); returns (the max, the row sum of out[i])."""
    k = logits.shape[1]
    m = logits[i, 0]
    for j in range(1, k):
        if logits[i, j] > m:
            m = logits[i, j]
    total = logits.dtype.type(0)
    for j in range(k):
        e = np.exp(logits[i, j] - m)
        out[i, j] = e
        total += e
    return m, total


@njit(inline="always", **JIT)
def _rows(op, logits, labels, out, losses, inv_n, lo, hi):
    """Rows [lo, hi): softmax into out, or (SOFTMAX_CE) the row's loss -log softmax[label]
    (float64) into losses and its gradient (softmax - onehot) * inv_n into out."""
    k = logits.shape[1]
    for i in range(lo, hi):
        m, total = _exp_row(logits, i, out)
        if op == SOFTMAX:
            scale = logits.dtype.type(1) / total
        else:
            lab = labels[i]
            losses[i] = np.float64(np.log(total)) - np.float64(logits[i, lab] - m)
            scale = inv_n / total
        for j in range(k):
            out[i, j] *= scale
        if op == SOFTMAX_CE:
            out[i, labels[i]] -= inv_n


@njit(**JIT)
def _rows_serial(op, logits, labels, out, losses, inv_n, nchunks):
    for c in range(nchunks):
        lo, hi = bounds(c, logits.shape[0], nchunks)
        _rows(op, logits, labels, out, losses, inv_n, lo, hi)


@njit(**JIT_PARALLEL)
def _rows_parallel(op, logits, labels, out, losses, inv_n, nchunks):
    for c in prange(nchunks):
        lo, hi = bounds(c, logits.shape[0], nchunks)
        _rows(op, logits, labels, out, losses, inv_n, lo, hi)


def run_rows(op: int, logits: np.ndarray, labels: np.ndarray, out: np.ndarray,
             losses: np.ndarray, inv_n: float) -> None:
    """Run row op ``op`` over logits (N, K), serially or in parallel by size."""
    n, k = logits.shape
    args = (op, logits, labels, out, losses, logits.dtype.type(inv_n), n_chunks(n, k))
    if use_parallel(logits.size):
        scheduling.run(_rows_parallel, _rows_serial, (op, n, k), *args)
    else:
        _rows_serial(*args)


def warmup(dtype: type) -> None:
    """Compile (or load from cache) both drivers for ``dtype``."""
    logits = np.zeros((2, 3), dtype)
    for run in (_rows_serial, _rows_parallel):
        run(SOFTMAX, logits, np.zeros(2, np.int64), np.empty_like(logits), np.empty(2),
            np.dtype(dtype).type(0.5), 2)

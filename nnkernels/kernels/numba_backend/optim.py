"""Parameter updates (plain SGD, SGD with momentum, Adam), numba-jitted. All arrays are 1-D
views of the parameters; SGD and momentum run on the map drivers of ``elementwise``, Adam on
its own serial/parallel pair (four arrays and five scalars per element)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import elementwise as ew
from . import scheduling
from .chunks import bounds, n_chunks, use_parallel
from .config import JIT, JIT_PARALLEL


def sgd_update(param: np.ndarray, grad: np.ndarray, lr: float) -> None:
    """param -= lr * grad, in place (lr cast to the parameter dtype)."""
    ew.run_map(ew.SGD, grad, grad, param, param, lr)


def sgd_momentum_update(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float,
                        momentum: float) -> None:
    """velocity = momentum * velocity - lr * grad; param += velocity (one pass, in place)."""
    ew.run_map(ew.MOMENTUM, grad, grad, param, velocity, lr, momentum)


@njit(inline="always", **JIT)
def _adam_block(p, g, m, v, b1, c1, b2, c2, step_size, bc2_sqrt, eps, lo, hi):
    """One block [lo, hi): m, v and p updated in one pass (each g read once)."""
    pp, gg, mm, vv = p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]
    for i in range(pp.shape[0]):
        gi = gg[i]
        mi = b1 * mm[i] + c1 * gi
        vi = b2 * vv[i] + c2 * (gi * gi)
        mm[i] = mi
        vv[i] = vi
        # The reference's order of operations, so that both round alike.
        pp[i] -= step_size * mi / (np.sqrt(vi) / bc2_sqrt + eps)


@njit(**JIT)
def _adam_serial(p, g, m, v, b1, c1, b2, c2, step_size, bc2_sqrt, eps, nblocks):
    for c in range(nblocks):
        lo, hi = bounds(c, p.shape[0], nblocks)
        _adam_block(p, g, m, v, b1, c1, b2, c2, step_size, bc2_sqrt, eps, lo, hi)


@njit(**JIT_PARALLEL)
def _adam_parallel(p, g, m, v, b1, c1, b2, c2, step_size, bc2_sqrt, eps, nblocks):
    for c in prange(nblocks):
        lo, hi = bounds(c, p.shape[0], nblocks)
        _adam_block(p, g, m, v, b1, c1, b2, c2, step_size, bc2_sqrt, eps, lo, hi)


def adam_update(params: list[np.ndarray], grads: list[np.ndarray], m: list[np.ndarray],
                v: list[np.ndarray], lr: float, beta1: float, beta2: float, eps: float,
                step: int) -> None:
    """Adam step ``step`` on every 1-D param: one jitted pass per array (an estimator that
    keeps its parameters in one flat buffer makes it one pass in all)."""
    for p, g, mi, vi in zip(params, grads, m, v, strict=True):
        t = p.dtype.type
        step_size = t(lr / (1.0 - beta1 ** step))
        bc2_sqrt = t(math.sqrt(1.0 - beta2 ** step))
        args = (p, g, mi, vi, t(beta1), t(1.0 - beta1), t(beta2), t(1.0 - beta2), step_size,
                bc2_sqrt, t(eps), n_chunks(p.shape[0]))
        if use_parallel(p.shape[0]):
            # Through the scheduler like every parallel driver: serial in a forked child,
            # beside another thread's region, or while the machine stalls regions.
            scheduling.run(_adam_parallel, _adam_serial, p.shape[0], *args)
        else:
            _adam_serial(*args)


def warmup(dtype: type) -> None:
    """Compile (or load from cache) both Adam drivers for ``dtype``."""
    t = np.dtype(dtype).type
    a = [np.zeros(4, dtype) for _ in range(4)]
    for run in (_adam_serial, _adam_parallel):
        run(*a, t(0.9), t(0.1), t(0.999), t(0.001), t(0.1), t(1.0), t(1e-8), 2)

"""The MLP on a chunked dataset: the gradient, and full-batch training.

A step: the parameters go to every worker once (``client.scatter(..., broadcast=True)``); each
row block's loss and gradient sums are computed on the worker that holds the block (the numba
``mlp_grad`` kernel for the squared loss of one hidden layer, else the estimators' own
forward / loss / backward kernels: any depth, the softmax cross-entropy); the partials
(parameter-sized) come back to the client and are added along the fixed pairwise tree in block
order (``arrays.tree_sum``: the bits depend on the row blocks only, not on workers or
scheduling); the client divides by the count the loss averages over and takes one step of the
in-memory fit's solver (``models.optim.Solver``: SGD, momentum, Adam). The data is validated
before any work and persisted once (``persist=True``), or regenerated block by block each step
from its graph (``persist=False``: datasets larger than the workers' memory, e.g. generated or
read from disk block by block).

A worker lost mid-fit: its blocks are recomputed from their graph by the scheduler (the result
is the same), or, when that is impossible (scattered data, too many failures), the step raises
a RuntimeError naming the iteration; the model is never silently wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import dask
import dask.array as da
import distributed
import numpy as np

from ..kernels import get_backend
from ..kernels import validation as v
from . import arrays, cluster

# Seconds to wait for one step's result before giving up (a stuck cluster, no workers).
DEFAULT_TIMEOUT = 600.0


class Step(NamedTuple):
    """Progress of one iteration of :func:`fit_mlp` or :func:`train` (passed to ``callback``)."""

    iteration: int  # counted from 0
    loss: float  # the mean loss before the step (squared: 0.5 * mean((pred - y)**2))
    seconds: float  # wall time of the step (gradient round trip and update)
    records_per_s: float


# The loss heads a step can sum (names of ``nnkernels.models.mlp.LOSS_HEADS``). Each is a mean
# over every entry of its target: N x O values (squared loss), N class codes (cross-entropy).
SQUARED, SOFTMAX_CE = "squared", "softmax_ce"


def _block_grad(xb: np.ndarray, tb: np.ndarray, params: Sequence[np.ndarray], backend: str,
                loss: str = SQUARED) -> tuple[float, tuple[np.ndarray, ...]]:
    """On a worker: one block's (loss sum, gradient sums) over its records.

    The squared loss of one hidden layer is the fused ``mlp_grad`` kernel (sums already);
    anything else (a deeper network, the softmax cross-entropy) is the estimators' own
    forward / loss / backward (``models.mlp.batch_grad``, kernels only), whose block means are
    scaled to sums here, so that blocks add up along the tree."""
    cluster.one_numba_thread()
    be = get_backend(backend)
    if loss == SQUARED and len(params) == 4:
        total, grads = be.mlp_grad(xb, tb, list(params))
        return total, tuple(grads)
    from ..models.mlp import batch_grad

    mean, grads = batch_grad(be, xb, tb, list(params), loss)
    scale = xb.dtype.type(tb.size)
    return mean * tb.size, tuple(g * scale for g in grads)


def _block_grad_pair(block: tuple[np.ndarray, np.ndarray], params: Sequence[np.ndarray],
                     backend: str, loss: str) -> tuple[float, tuple[np.ndarray, ...]]:
    return _block_grad(block[0], block[1], params, backend, loss)


def _pair(xb: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of one block, kept together on one worker."""
    return xb, yb


def _add(a: tuple[float, tuple[np.ndarray, ...]], b: tuple[float, tuple[np.ndarray, ...]]
         ) -> tuple[float, tuple[np.ndarray, ...]]:
    """A node of the tree: loss sums and gradient sums added."""
    return a[0] + b[0], arrays.add_arrays(a[1], b[1])


def check_data(X: Any, Y: Any, params: object, in_place: bool
               ) -> tuple[da.Array, da.Array, list[np.ndarray]]:
    """X (N, D), Y (N, O) as dask arrays with the same row blocks and one column block, and the
    checked params; every error before any work, with the in-memory kernels' messages."""
    X = arrays.as_dask("X", X)
    Y = arrays.as_dask("Y", Y, like=X)
    sx = v.as_float_array("x", arrays.standin(X), 2)
    sy = v.as_float_array("y", arrays.standin(Y), 2)
    params = v.check_mlp_params(params, sx, sy, in_place=in_place)
    arrays.check_row_blocks("X", X, "Y", Y)
    return arrays.one_column_block(X), arrays.one_column_block(Y), params


class _Data:
    """A dataset on the cluster: per row block, what a gradient task reads."""

    def __init__(self, client: distributed.Client, X: da.Array, Y: da.Array, persist: bool,
                 backend: str, timeout: float | None, loss: str = SQUARED) -> None:
        self.client, self.backend, self.timeout, self.loss = client, backend, timeout, loss
        xs, ys = X.to_delayed().ravel(), Y.to_delayed().ravel()
        self.persisted = persist
        if persist:
            pairs = [dask.delayed(_pair, pure=True)(a, b) for a, b in zip(xs, ys, strict=True)]
            self.blocks = client.compute(pairs)  # futures in block order, held until closed
            client.gather(self.blocks)  # persisted once: wait until every block is in memory
        else:
            self.xs, self.ys = list(xs), list(ys)

    def grad(self, params: list[np.ndarray]) -> tuple[float, tuple[np.ndarray, ...]]:
        """The loss sum and gradient sums over all blocks, added along the tree."""
        c = self.client
        [pf] = c.scatter([tuple(params)], broadcast=True, hash=False)
        if self.persisted:
            parts = [c.submit(_block_grad_pair, b, pf, self.backend, self.loss, pure=False)
                     for b in self.blocks]
        else:
            task = dask.delayed(_block_grad, pure=False)
            parts = c.compute([task(a, b, pf, self.backend, self.loss) for a, b in
                               zip(self.xs, self.ys, strict=True)])
        try:
            # The partials are small (the parameters' size): they come to the client in one
            # round trip and are added here, along the tree. A tree of tasks on the workers
            # gives the same bits but costs a scheduling hop per level (25 ms each measured on
            # a busy 2-core machine).
            deadline = None if self.timeout is None else time.monotonic() + self.timeout
            results = [f.result(timeout=None if deadline is None
                                else max(deadline - time.monotonic(), 0.001)) for f in parts]
        finally:
            for f in (pf, *parts):
                f.release()
        return arrays.tree_sum(results, _add)

    def close(self) -> None:
        if self.persisted:
            for f in self.blocks:
                f.release()


def _validated(X: Any, Y: Any, params: object, in_place: bool, persist: object
               ) -> tuple[da.Array, da.Array, list[np.ndarray], bool]:
    X, Y, params = check_data(X, Y, params, in_place)
    if persist not in (True, False, "auto"):
        raise ValueError(f"persist must be True, False or 'auto', got {persist!r}")
    return X, Y, params, persist


def _decide_persist(client: distributed.Client, X: da.Array, Y: da.Array, persist: object
                    ) -> bool:
    """'auto': persist when the data takes under half the workers' memory limits."""
    if persist != "auto":
        return bool(persist)
    limits = [w.get("memory_limit") or 0 for w in cluster.workers_info(client).values()]
    return not limits or 0 in limits or X.nbytes + Y.nbytes < 0.5 * sum(limits)


def mlp_grad(X: Any, Y: Any, params: Sequence[np.ndarray], *,
             client: distributed.Client | None = None, persist: object = False,
             timeout: float | None = DEFAULT_TIMEOUT, backend: str = "numba",
             cluster_kwargs: dict[str, Any] | None = None) -> tuple[float, list[np.ndarray]]:
    """(loss sum, [gw1, gb1, gw2, gb2]) of the MLP over chunked X (N, D), Y (N, O).

    As the in-memory ``Backend.mlp_grad``: 0.5 * sum((pred - Y)**2) and the gradient SUMS over
    the records, params only read; each row block's partial from the kernel on a worker, added
    along the fixed pairwise tree in block order. ``client``: see ``cluster.cluster``.
    """
    X, Y, params, persist = _validated(X, Y, params, False, persist)
    params = [np.array(p, order="C") for p in params]
    if X.shape[0] == 0 or Y.shape[1] == 0:
        return 0.0, [np.zeros_like(p) for p in params]
    name = get_backend(backend).name
    with cluster.cluster(client, **(cluster_kwargs or {})) as c:
        cluster.prepare_workers(c)
        data = _Data(c, X, Y, _decide_persist(c, X, Y, persist), name, timeout)
        try:
            loss, grads = data.grad(params)
        finally:
            data.close()
    return float(loss), list(grads)


def fit_mlp(X: Any, Y: Any, params: list[np.ndarray], lr: float, n_iter: int, *,
            client: distributed.Client | None = None, persist: object = "auto",
            callback: Callable[[Step], object] | None = None, verbose: bool = False,
            timeout: float | None = DEFAULT_TIMEOUT, backend: str = "numba",
            cluster_kwargs: dict[str, Any] | None = None) -> np.ndarray:
    """``n_iter`` full-batch SGD steps of the MLP of ``Backend.mlp_train`` over chunked data.

    X (N, D), Y (N, O) dask arrays (numpy ones are cut into X's row blocks) with the same row
    blocks; ``params`` = [w1, b1, w2, b2] numpy arrays, updated in place, as ``mlp_train``
    does. Returns the losses (n_iter,) float64: 0.5 * mean((pred - Y)**2) before each step.

    ``client``: the cluster (None: the current client, else a LocalCluster started for the
    fit, configured by ``cluster_kwargs``, closed after it). ``persist``: keep the data in the
    workers' memory (True), regenerate it from its graph each step (False: larger than memory),
    or 'auto' (persist when under half the workers' memory limits). ``callback(Step)`` after
    each step; ``verbose`` prints one line per step. ``timeout``: seconds per step.
    """
    from ..models.optim import Solver, flat_views, flatten

    X, Y, params, persist = _validated(X, Y, params, True, persist)
    lr = v.check_lr(lr)
    n_iter = v.check_positive_int("n_iter", n_iter, minimum=0)
    if not X.shape[0] * Y.shape[1] or not n_iter:
        return np.zeros(n_iter)  # the gradient of an empty sum is zero: nothing to learn
    shapes = [p.shape for p in params]
    theta = flatten(params, params[0].dtype)
    solver = Solver("sgd", theta.size, theta.dtype)
    hyper = {"learning_rate_init": lr, "momentum": 0.0}
    try:
        with cluster.cluster(client, **(cluster_kwargs or {})) as c:
            losses = train(c, X, Y, theta, shapes, solver, hyper, n_iter, persist=persist,
                           callback=callback, verbose=verbose, timeout=timeout,
                           backend=backend)
    finally:
        # In place, as mlp_train; after a failed step, the parameters of the last good one.
        for p, new in zip(params, flat_views(theta, shapes), strict=True):
            p[...] = new
    return np.asarray(losses)


def train(client: distributed.Client, X: da.Array, T: da.Array, theta: np.ndarray,
          shapes: Sequence[tuple[int, ...]], solver: Any, hyper: dict[str, Any], n_iter: int, *,
          loss: str = SQUARED, stop: Callable[[float, np.ndarray], bool] | None = None,
          persist: object = "auto", callback: Callable[[Step], object] | None = None,
          verbose: bool = False, timeout: float | None = DEFAULT_TIMEOUT,
          backend: str = "numba") -> list[float]:
    """Up to ``n_iter`` full-batch steps of an MLP of any depth over checked, chunked data:
    the losses before each step (means: over N x O for ``loss='squared'``, over N for
    'softmax_ce').

    X (N, D) and T (N, O) float targets or (N,) int64 class codes: dask arrays with the same
    row blocks, one column block, N >= 1. ``theta`` (flat, in place) holds [w1, b1, w2, ...]
    with ``shapes``; ``solver`` (a ``models.optim.Solver``, in place) takes each step on the
    client, as in an in-memory fit, with ``hyper`` (scikit-learn's names) and the kernels of
    ``backend``, which also compute the gradients on the workers. ``stop(loss, theta)`` after
    each step: True ends the fit (the estimators' stopping rule).
    """
    from ..models.optim import flat_views

    be = get_backend(backend)
    n = X.shape[0]
    total = T.size  # what the loss is a mean over (see SQUARED)
    inv = theta.dtype.type(1.0 / total)
    grad = np.empty_like(theta)
    losses: list[float] = []
    cluster.prepare_workers(client)
    data = _Data(client, X, T, _decide_persist(client, X, T, persist), be.name, timeout, loss)
    try:
        for it in range(n_iter):
            t0 = time.perf_counter()
            try:
                loss_sum, grads = data.grad(flat_views(theta, shapes))
            except Exception as exc:
                raise RuntimeError(
                    f"iteration {it} of {n_iter} failed on the cluster "
                    f"({type(exc).__name__}: {exc}); the parameters are those after "
                    f"iteration {it - 1}") from exc
            # The mean's gradient in the flat layout; then the in-memory fit's own solver step.
            np.concatenate([g.reshape(-1) for g in grads], out=grad)
            grad *= inv
            solver.step(be, theta, grad, hyper)
            seconds = time.perf_counter() - t0
            losses.append(float(loss_sum / total))
            step = Step(it, losses[-1], seconds, n / seconds)
            if verbose:
                print(f"iteration {it + 1}/{n_iter}: loss {step.loss:.6g}, "
                      f"{seconds * 1e3:.1f} ms, {step.records_per_s:,.0f} records/s",
                      flush=True)
            if callback is not None:
                callback(step)
            if stop is not None and stop(losses[-1], theta):
                break
    finally:
        data.close()
    return losses

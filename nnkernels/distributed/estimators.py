"""``nnkernels.models.MLPRegressor`` on dask arrays: full-batch training across a cluster,
predictions as dask arrays.

``MLPRegressor.fit(X, y)`` routes here when X or y is a dask array (``fit(..., client=...)``
picks the cluster); the estimator is fitted as in memory (standardised data, He-normal start, the
same learned attributes), with the gradient of each step computed by :func:`fit_mlp` on the
workers. One hidden layer and full batches only, like the fused in-memory path.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import distributed
import numpy as np

from . import arrays, cluster
from .training import Step, fit_mlp


def _as_2d(name: str, a: Any) -> tuple[da.Array, bool]:
    a = arrays.as_dask(name, a)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if a.ndim == 1:
        return a[:, None], True
    if a.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (N, D), got shape {a.shape}")
    return a, False


def fit_estimator(est: Any, X: Any, y: Any, client: distributed.Client | None = None,
                  **fit_kwargs: Any) -> Any:
    """Fit ``est`` (an ``MLPRegressor`` with one hidden layer, full-batch plain SGD: the fused
    in-memory path) on chunked X (N, D) and y (N,) or (N, O); returns ``est``. Attributes are
    set only once the whole fit has succeeded. ``fit_kwargs`` go to :func:`fit_mlp`."""
    hidden = est._hidden()
    if (len(hidden) != 1 or est.solver != "sgd" or est.momentum != 0
            or est.batch_size is not None or est.early_stopping):
        raise ValueError(
            f"{type(est).__name__} on dask arrays trains one hidden layer by full-batch plain "
            f"SGD (solver='sgd', momentum=0, batch_size=None, early_stopping=False); got "
            f"hidden_layer_sizes={est.hidden_layer_sizes!r}, solver={est.solver!r}, "
            f"momentum={est.momentum!r}, batch_size={est.batch_size!r}, "
            f"early_stopping={est.early_stopping!r}")
    be = est._backend()
    rng = est._rng()
    X, x_1d = _as_2d("X", X)
    if x_1d:
        raise ValueError("X must be 2-D (N, D), got a 1-D array; reshape it to (N, 1)")
    y = arrays.as_dask("y", y, like=X)
    Y, y_1d = _as_2d("y", y)
    arrays.check_row_blocks("X", X, "y", Y)
    if X.shape[0] == 0:
        raise ValueError("cannot fit on 0 records")
    dt = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    X, Y = X.astype(dt), Y.astype(dt)
    with cluster.cluster(client, **fit_kwargs.pop("cluster_kwargs", {})) as c:
        return _fit(est, X, Y, y_1d, dt, hidden, be.name, rng, c, fit_kwargs)


def _fit(est: Any, X: da.Array, Y: da.Array, y_1d: bool, dt: np.dtype, hidden: tuple[int, ...],
         backend: str, rng: np.random.Generator, client: distributed.Client,
         fit_kwargs: dict[str, Any]) -> Any:
    from ..models.base import NoImprovement
    from ..models.optim import Solver

    # The scales of the in-memory fit, from one pass over the data on the cluster (X and y
    # must be finite, as in memory).
    stats = client.gather(client.compute([X.mean(axis=0), X.std(axis=0), Y.mean(axis=0),
                                          Y.std(axis=0), da.isfinite(X).all(),
                                          da.isfinite(Y).all()]))
    x_mean, x_std, y_mean, y_std, x_ok, y_ok = stats
    if not x_ok:
        raise ValueError("X contains NaN or infinity")
    if not y_ok:
        raise ValueError("y contains NaN or infinity")
    x_mean, x_scale = _scale(x_mean, x_std)
    y_mean, y_scale = _scale(y_mean, y_std)
    Xs = ((X - x_mean) / x_scale).astype(dt)
    Ys = ((Y - y_mean) / y_scale).astype(dt)
    sizes = [X.shape[1], *hidden, Y.shape[1]]
    params = [np.ascontiguousarray(p, dtype=dt) for p in est._init_params(sizes, rng)]
    progress = _bar(est, est.max_iter)
    user_callback = fit_kwargs.pop("callback", None)

    def callback(step: Step) -> None:
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{step.loss:.4g}", refresh=False)
        if user_callback is not None:
            user_callback(step)

    try:
        losses = fit_mlp(Xs, Ys, params, est.learning_rate_init, est.max_iter, client=client,
                         callback=callback, backend=backend, **fit_kwargs)
    finally:
        if progress is not None:
            progress.close()
    est._check_losses(np.asarray(losses), 0)
    # -- every learned attribute at once: the fit has succeeded --
    n = X.shape[0]
    est.n_features_in_ = X.shape[1]
    est.coefs_, est.intercepts_ = params[0::2], params[1::2]
    est.x_mean_, est.x_scale_, est.dtype_ = x_mean, x_scale, np.dtype(dt)
    est.y_mean_, est.y_scale_, est._y_1d, est.n_outputs_ = y_mean, y_scale, y_1d, Y.shape[1]
    est._layer_sizes = sizes
    est._solver = Solver(est.solver, sum(p.size for p in params), dt)
    est._stop_state = NoImprovement(est.tol, est.n_iter_no_change, False).state()
    est.loss_curve_ = [float(v) for v in losses]
    est.best_loss_ = float(np.min(losses))
    est.validation_scores_ = est.best_validation_score_ = None
    est.n_iter_ = est.max_iter
    est.t_ = est.max_iter * n
    est.backend_ = backend
    return est


def predict_estimator(est: Any, X: Any) -> da.Array:
    """``est.predict`` block by block: a dask array with X's row blocks ((N,) or (N, O))."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    X = arrays.as_dask("X", X)
    if X.ndim not in (1, 2):
        raise ValueError(f"X must be 1-D or 2-D (N, D), got shape {X.shape}")
    X = arrays.one_column_block(X)
    n_out = est.coefs_[-1].shape[1]
    if est._y_1d:
        return X.map_blocks(est.predict, dtype=est.dtype_, chunks=(X.chunks[0],),
                            drop_axis=list(range(1, X.ndim)), meta=np.empty((0,), est.dtype_))
    if X.ndim == 1:
        return X.map_blocks(est.predict, dtype=est.dtype_, chunks=(X.chunks[0], (n_out,)),
                            new_axis=1, meta=np.empty((0, 0), est.dtype_))
    return X.map_blocks(est.predict, dtype=est.dtype_, chunks=(X.chunks[0], (n_out,)),
                        meta=np.empty((0, 0), est.dtype_))


def _scale(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As models.base.mean_scale: float64, 1 where a column is constant."""
    std = np.asarray(std, dtype=np.float64)
    return np.asarray(mean, dtype=np.float64), np.where(std > 0, std, 1.0)


def _bar(est: Any, total: int):
    if not est.verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{type(est).__name__} [dask]", unit="it", leave=True)

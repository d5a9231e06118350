"""``nnkernels.models.MLP`` on dask arrays: full-batch training across a cluster, predictions
as dask arrays.

``MLP.fit(X, y)`` routes here when X or y is a dask array (``MLP.fit(..., client=...)`` picks
the cluster); the estimator is fitted as in memory (standardised data, He-normal start, the
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
    """Fit ``est`` (an ``nnkernels.models.MLP`` with one hidden layer, full batch) on chunked
    X (N, D) or (N,) and y (N, O) or (N,); returns ``est``. ``fit_kwargs`` go to fit_mlp."""
    hidden = est._check_hidden()
    if len(hidden) != 1 or est._check_batch_size() not in (None,):
        raise ValueError(f"{type(est).__name__} on dask arrays trains one hidden layer on full "
                         f"batches; got hidden={est.hidden!r}, batch_size={est.batch_size!r}")
    lr, max_iter = est._check_lr(), est._check_max_iter()
    be = est._backend()
    rng = est._rng()
    X, _ = _as_2d("X", X)
    y = arrays.as_dask("y", y, like=X)
    Y, y_1d = _as_2d("y", y)
    arrays.check_row_blocks("X", X, "y", Y)
    if X.shape[0] == 0:
        raise ValueError("cannot fit on 0 records")
    dt = X.dtype if X.dtype in est._DTYPES else np.dtype(np.float64)
    X, Y = X.astype(dt), Y.astype(dt)
    with cluster.cluster(client, **fit_kwargs.pop("cluster_kwargs", {})) as c:
        return _fit(est, X, Y, y_1d, dt, hidden, lr, max_iter, be.name, rng, c, fit_kwargs)


def _fit(est: Any, X: da.Array, Y: da.Array, y_1d: bool, dt: np.dtype, hidden: tuple[int, ...],
         lr: float, max_iter: int, backend: str, rng: np.random.Generator,
         client: distributed.Client, fit_kwargs: dict[str, Any]) -> Any:
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
    est.dtype_ = dt
    est.n_features_in_ = X.shape[1]
    est.x_mean_, est.x_scale_ = _scale(x_mean, x_std, dt)
    est.y_mean_, est.y_scale_ = _scale(y_mean, y_std, dt)
    Xs = ((X - est.x_mean_) / est.x_scale_).astype(dt)
    Ys = ((Y - est.y_mean_) / est.y_scale_).astype(dt)
    ws, bs = est._init_params([X.shape[1], *hidden, Y.shape[1]], dt, rng)
    params = [ws[0], bs[0], ws[1], bs[1]]
    progress = _bar(est, max_iter)
    user_callback = fit_kwargs.pop("callback", None)

    def callback(step: Step) -> None:
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{step.loss:.4g}", refresh=False)
        if user_callback is not None:
            user_callback(step)

    try:
        losses = fit_mlp(Xs, Ys, params, lr, max_iter, client=client, callback=callback,
                         backend=backend, **fit_kwargs)
    finally:
        if progress is not None:
            progress.close()
    est._check_losses(losses, 0)
    est.coefs_, est.intercepts_ = ws, bs
    est.n_iter_ = max_iter
    est.loss_history_ = losses
    est.backend_ = backend
    est._finish_fit(y_1d)
    return est


def predict_estimator(est: Any, X: Any) -> da.Array:
    """``est.predict`` block by block: a dask array with X's row blocks ((N,) or (N, O))."""
    est._check_fitted()
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


def _scale(mean: np.ndarray, std: np.ndarray, dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """As models.base._mean_scale: 1 where a column is constant."""
    scale = np.where(std > 0, std, 1.0)
    return np.asarray(mean).astype(dt), scale.astype(dt)


def _bar(est: Any, total: int):
    if not est.verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{type(est).__name__} [dask]", unit="it", leave=True)

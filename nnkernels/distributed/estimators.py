"""``nnkernels.models.MLPRegressor`` / ``MLPClassifier`` on dask arrays: full-batch training
across a cluster, predictions as dask arrays.

``fit(X, y)`` routes here when X or y is a dask array (``fit(..., client=...)`` picks the
cluster). The estimator is fitted as in memory with a full batch: the same standardisation, the
same start, the same solver (SGD, with momentum, or Adam: ``models.optim.Solver``, one step per
iteration on the client), the same stopping rule on the training loss, the same learned
attributes, any depth; only each step's gradient is summed over the row blocks on the workers
(``training.train``). A classifier's classes come from one pass over y on the cluster
(``da.unique``) and its labels are encoded block by block on the workers.

What a full-batch fit on chunked data cannot honour raises ValueError naming the parameter,
before any work: mini-batches (a ``batch_size`` below N; pass ``batch_size=None``) and
``early_stopping`` (a held-out split). ``shuffle`` has no effect, as for any full-batch fit in
memory. ``partial_fit`` takes in-memory arrays only.
"""

from __future__ import annotations

import warnings
from typing import Any

import dask.array as da
import distributed
import numpy as np

from . import arrays, cluster
from .training import SOFTMAX_CE, Step, train


def _as_2d(name: str, a: Any) -> tuple[da.Array, bool]:
    """A real numeric dask array (N, D) (a 1-D one as (N, 1)), and whether it was 1-D."""
    a = arrays.as_dask(name, a)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if a.ndim == 1:
        return a[:, None], True
    if a.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (N, D), got shape {a.shape}")
    return a, False


def _labels(y: da.Array) -> da.Array:
    """A classifier's y (N,): a single column (N, 1) is raveled with scikit-learn's warning."""
    if y.ndim == 2 and y.shape[1] == 1:
        from sklearn.exceptions import DataConversionWarning

        warnings.warn("A column-vector y was passed when a 1d array was expected. Please change "
                      "the shape of y to (n_samples, ), for example using ravel().",
                      DataConversionWarning, stacklevel=4)
        return y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead.")
    return y


def check_full_batch(est: Any, n: int) -> None:
    """ValueError naming each parameter a full-batch fit across a cluster cannot honour."""
    problems = []
    if est._batch(n) < n:
        problems.append(f"batch_size={est.batch_size!r} means mini-batches of "
                        f"{est._batch(n)} of the {n} records (pass batch_size=None)")
    if est.early_stopping:
        problems.append("early_stopping=True needs a held-out validation split (pass "
                        "early_stopping=False; the stopping rule on the training loss, tol and "
                        "n_iter_no_change, applies)")
    if problems:
        raise ValueError(f"{type(est).__name__} on dask arrays trains on the full batch across "
                         f"the cluster: " + "; ".join(problems))


def fit_estimator(est: Any, X: Any, y: Any, client: distributed.Client | None = None,
                  **fit_kwargs: Any) -> Any:
    """Fit ``est`` (an ``MLPRegressor`` or ``MLPClassifier``, full batch) on chunked X (N, D)
    and y (N,) (or (N, O) for the regressor); returns ``est``. Attributes are set only once the
    whole fit has succeeded. ``fit_kwargs`` (persist, timeout, callback, cluster_kwargs) go to
    :func:`training.train` / the cluster."""
    hidden = est._hidden()
    X, x_1d = _as_2d("X", X)
    if x_1d:
        raise ValueError("X must be 2-D (N, D), got a 1-D array; reshape it to (N, 1)")
    y = arrays.as_dask("y", y, like=X)
    classifier = est._loss_name == SOFTMAX_CE
    if classifier:
        Y, y_1d = _labels(y), True
    else:
        Y, y_1d = _as_2d("y", y)
    arrays.check_row_blocks("X", X, "y", Y)
    if X.shape[0] == 0:
        raise ValueError("cannot fit on 0 records")
    check_full_batch(est, X.shape[0])
    be = est._backend()
    rng = est._rng()
    dt = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    X = X.astype(dt)
    with cluster.cluster(client, **fit_kwargs.pop("cluster_kwargs", {})) as c:
        return _fit(est, X, Y, y_1d, dt, hidden, be.name, rng, c, fit_kwargs)


def _encode(yb: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """On a worker: a block's labels as codes into ``classes`` (sorted, holding every label)."""
    return np.searchsorted(classes, yb).astype(np.int64)


def _targets(est: Any, client: distributed.Client, X: da.Array, Y: da.Array, y_1d: bool,
             dt: np.dtype) -> tuple[np.ndarray, np.ndarray, da.Array, dict[str, Any]]:
    """One pass over the data on the cluster: X's scales, the training targets (standardised
    y, or class codes computed on the workers) and the attributes they imply, with the
    in-memory fit's checks and messages."""
    classifier = est._loss_name == SOFTMAX_CE
    if classifier:
        wanted = [da.unique(Y)]
    else:
        wanted = [Y.mean(axis=0), Y.std(axis=0), da.isfinite(Y).all()]
    stats = client.gather(client.compute([X.mean(axis=0), X.std(axis=0), da.isfinite(X).all(),
                                          *wanted]))
    x_mean, x_std, x_ok = stats[:3]
    if not x_ok:
        raise ValueError("X contains NaN or infinity")
    x_mean, x_scale = _scale(x_mean, x_std)
    if classifier:
        # The in-memory checks on the (K,) distinct labels: label type, at least 2 classes.
        _, learned = est._targets(np.asarray(stats[3]), True, None, dt)
        classes = learned["classes_"]
        T = Y.map_blocks(_encode, classes, dtype=np.int64, meta=np.empty((0,), np.int64))
        return x_mean, x_scale, T, learned
    from ..models.base import check_representable

    y_mean, y_std, y_ok = stats[3:]
    if not y_ok:
        raise ValueError("y contains NaN or infinity")
    y_mean, y_scale = _scale(y_mean, y_std)
    check_representable("y", y_mean, y_scale, dt)
    T = ((Y - y_mean) / y_scale).astype(dt)
    return x_mean, x_scale, T, {"y_mean_": y_mean, "y_scale_": y_scale, "_y_1d": y_1d,
                                "n_outputs_": Y.shape[1]}


def _fit(est: Any, X: da.Array, Y: da.Array, y_1d: bool, dt: np.dtype, hidden: tuple[int, ...],
         backend: str, rng: np.random.Generator, client: distributed.Client,
         fit_kwargs: dict[str, Any]) -> Any:
    from ..models.base import NoImprovement
    from ..models.optim import Solver, flat_views, flatten, solver_hyper

    x_mean, x_scale, T, learned = _targets(est, client, X, Y, y_1d, dt)
    Xs = ((X - x_mean) / x_scale).astype(dt)
    sizes = [X.shape[1], *hidden, learned["n_outputs_"]]
    shapes = [s for a, b in zip(sizes[:-1], sizes[1:], strict=True) for s in ((a, b), (b,))]
    theta = flatten(est._init_params(sizes, rng), dt)
    solver = Solver(est.solver, theta.size, dt)
    stopper = NoImprovement(est.tol, est.n_iter_no_change, False)
    progress = _bar(est, est.max_iter)
    user_callback = fit_kwargs.pop("callback", None)

    def callback(step: Step) -> None:
        # Divergence stops the fit at once, as in memory (no more round trips on NaN).
        est._check_losses(np.array([step.loss]), step.iteration)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{step.loss:.4g}", refresh=False)
        if user_callback is not None:
            user_callback(step)

    try:
        losses = train(client, Xs, T, theta, shapes, solver, solver_hyper(est), est.max_iter,
                       loss=est._loss_name, stop=lambda loss, th: stopper.update(loss, None, th),
                       callback=callback, backend=backend, **fit_kwargs)
    finally:
        if progress is not None:
            progress.close()
    # -- every learned attribute at once: the fit has succeeded --
    params = flat_views(theta, shapes)
    for key, value in learned.items():
        setattr(est, key, value)
    n = X.shape[0]
    est.n_features_in_ = X.shape[1]
    est.coefs_, est.intercepts_ = params[0::2], params[1::2]
    est.x_mean_, est.x_scale_, est.dtype_ = x_mean, x_scale, np.dtype(dt)
    est._layer_sizes = sizes
    est._solver, est._stop_state = solver, stopper.state()
    est.loss_curve_ = list(losses)
    est.best_loss_ = float(np.min(losses))
    est.validation_scores_ = est.best_validation_score_ = None
    est.n_iter_ = len(losses)
    est.t_ = len(losses) * n
    est.backend_ = backend
    return est


def predict_estimator(est: Any, X: Any, method: str = "predict") -> da.Array:
    """``est.<method>`` ("predict" or "predict_proba") block by block: a dask array with X's
    row blocks ((N,), (N, O) or (N, K)). Shape and dtype errors raise before any work."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    X, x_1d = _as_2d("X", X)
    if x_1d:
        raise ValueError("X must be 2-D (N, D), got a 1-D array; reshape it to (N, 1)")
    if X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
                         f"{est.n_features_in_} features as input.")
    X = arrays.one_column_block(X)
    fn = getattr(est, method)
    if method == "predict_proba":
        width, dtype = est.n_outputs_, est.dtype_
    elif est._loss_name == SOFTMAX_CE:
        width, dtype = None, est.classes_.dtype
    else:
        width, dtype = (None if est._y_1d else est.n_outputs_), est.dtype_
    if width is None:
        return X.map_blocks(fn, dtype=dtype, chunks=(X.chunks[0],), drop_axis=1,
                            meta=np.empty((0,), dtype))
    return X.map_blocks(fn, dtype=dtype, chunks=(X.chunks[0], (width,)),
                        meta=np.empty((0, 0), dtype))


def _scale(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As models.base.mean_scale: float64, 1 where a column is constant."""
    std = np.asarray(std, dtype=np.float64)
    return np.asarray(mean, dtype=np.float64), np.where(std > 0, std, 1.0)


def _bar(est: Any, total: int):
    if not est.verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{type(est).__name__} [dask]", unit="it", leave=True)

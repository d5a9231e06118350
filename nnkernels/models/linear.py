"""Linear regression by full-batch gradient descent on the squared loss (the seed's first model)."""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ..kernels import Backend
from .base import (
    BACKEND_CONSTRAINT,
    FLOAT_DTYPES,
    RANDOM_STATE_CONSTRAINT,
    KernelEstimator,
    atomic,
    check_representable,
    mean_scale,
    progress,
    standardise,
)


class LinearRegression(RegressorMixin, KernelEstimator):
    """y ~ X @ coef_ + intercept_, fitted by gradient descent on 0.5 * mean squared error.

    X and y are standardised inside the estimator (``x_mean_``, ``x_scale_``, ``y_mean_``,
    ``y_scale_``, float64); the learned weights ``w_`` (D, O) and ``b_`` (O,) act in those
    units, while ``coef_`` (O, D), or (D,) for a 1-D y, and ``intercept_`` are the same model
    in the units of the data. ``loss_curve_`` holds the (standardised) loss before each
    iteration.
    """

    _lr_param = "lr"
    _parameter_constraints: dict = {
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "backend": BACKEND_CONSTRAINT,
        "random_state": RANDOM_STATE_CONSTRAINT,
        "verbose": ["verbose"],
    }

    def __init__(self, lr: float = 0.1, max_iter: int = 1000,
                 backend: str | Backend | None = None,
                 random_state: int | np.random.Generator | None = None,
                 verbose: bool = False) -> None:
        self.lr = lr
        self.max_iter = max_iter
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @atomic
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: object, y: object) -> LinearRegression:
        """Fit on X (N, D) and y (N,) or (N, O); returns self."""
        be = self._backend()
        X, y = validate_data(self, X, y, dtype=list(FLOAT_DTYPES), multi_output=True,
                             y_numeric=True)
        dt = X.dtype
        y_1d = y.ndim == 1
        y2 = y.reshape(-1, 1) if y_1d else y
        x_mean, x_scale = mean_scale(X)
        y_mean, y_scale = mean_scale(y2)
        check_representable("y", y_mean, y_scale, dt)
        Xs, ys = standardise(X, x_mean, x_scale, dt), standardise(y2, y_mean, y_scale, dt, "y")
        rng = self._rng()
        w = (rng.standard_normal((Xs.shape[1], ys.shape[1])) * 0.01).astype(dt)
        b = np.zeros(ys.shape[1], dt)
        losses = np.empty(self.max_iter)
        bar = progress(self.verbose, self.max_iter, f"{type(self).__name__} [{be.name}]")
        try:
            self._descend(be, Xs, ys, w, b, float(self.lr), losses, bar)
        finally:
            if bar is not None:
                bar.close()
        # The same model in data units: y = ((X - xm) / xs) @ w * ys + b * ys + ym.
        coef = (w / x_scale[:, None]) * y_scale
        self.w_, self.b_ = w, b
        self.coef_ = coef[:, 0] if y_1d else coef.T
        intercept = y_mean + y_scale * b - x_mean @ coef
        self.intercept_ = float(intercept[0]) if y_1d else intercept
        self.x_mean_, self.x_scale_, self.y_mean_, self.y_scale_ = x_mean, x_scale, y_mean, y_scale
        self.dtype_, self._y_1d = np.dtype(dt), y_1d
        self.n_iter_ = self.max_iter
        self.loss_curve_ = losses
        self.backend_ = be.name
        return self

    @property
    def loss_history_(self) -> np.ndarray:
        """``loss_curve_`` (the name of earlier versions)."""
        return self.loss_curve_

    def _descend(self, be: Backend, Xs: np.ndarray, ys: np.ndarray, w: np.ndarray, b: np.ndarray,
                 lr: float, losses: np.ndarray, bar) -> None:
        """len(losses) full-batch gradient steps on w (D, O), b (O,), all through the kernels."""
        (n, d), o, dt = Xs.shape, ys.shape[1], Xs.dtype
        pred, dpred = np.empty((n, o), dt), np.empty((n, o), dt)
        gw, gb = np.empty((d, o), dt), np.empty(o, dt)
        for i in range(losses.shape[0]):
            be.linear_forward(Xs, w, b, out=pred)
            loss, _ = be.mse_loss(pred, ys, out=dpred)
            if not math.isfinite(loss):
                self._check_losses(np.array([loss]), i)
            losses[i] = loss
            gw.fill(0)
            gb.fill(0)
            be.linear_backward(Xs, w, dpred, need_dx=False, dw_out=gw, db_out=gb)
            be.sgd_update(w, gw, lr)
            be.sgd_update(b, gb, lr)
            if bar is not None:
                bar.update(1)

    def predict(self, X: object) -> np.ndarray:
        """Predictions (N,) when fitted on a 1-D y, else (N, O), in the fitted dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=list(FLOAT_DTYPES))
        Xs = standardise(X, self.x_mean_, self.x_scale_, self.dtype_)
        out = self._backend().linear_forward(Xs, self.w_, self.b_)
        out = (out.astype(np.float64) * self.y_scale_ + self.y_mean_).astype(self.dtype_)
        return out.reshape(-1) if self._y_1d else out

"""Linear regression by full-batch gradient descent on the squared loss (the seed's first model)."""

from __future__ import annotations

import math

import numpy as np

from ..kernels import Backend
from .base import BaseEstimator
from .mlp import _progress


class LinearRegression(BaseEstimator):
    """y ~ X @ coef_ + intercept_, fitted by gradient descent on 0.5 * mean squared error.

    X and y are standardised inside the estimator (``x_mean_``, ``x_scale_``, ``y_mean_``,
    ``y_scale_``); the learned weights ``w_`` (D, O) and ``b_`` (O,) act in those units, while
    ``coef_`` and ``intercept_`` are the same model in the units of the data. ``loss_history_``
    holds the (standardised) loss before each iteration.
    """

    def __init__(self, lr: float = 0.1, max_iter: int = 1000, backend: str | None = None,
                 random_state: int | np.random.Generator | None = None,
                 verbose: bool = False) -> None:
        self.lr = lr
        self.max_iter = max_iter
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: object, y: object) -> LinearRegression:
        """Fit on X (N, D) or (N,) and y (N, O) or (N,); returns self."""
        lr, max_iter = self._check_lr(), self._check_max_iter()
        be = self._backend()
        rng = self._rng()
        X, y, y_1d = self._check_Xy(X, y)
        Xs, ys = self._set_scaling(X, y)
        dt = Xs.dtype
        w = (rng.standard_normal((Xs.shape[1], ys.shape[1])) * 0.01).astype(dt)
        b = np.zeros(ys.shape[1], dt)
        losses = np.empty(max_iter)
        progress = _progress(self.verbose, max_iter, f"{type(self).__name__} [{be.name}]")
        try:
            self._descend(be, Xs, ys, w, b, lr, losses, progress)
        finally:
            if progress is not None:
                progress.close()
        self.w_, self.b_ = w, b
        # The same model in data units: y = ((X - xm) / xs) @ w * ys + b * ys + ym.
        self.coef_ = (w / self.x_scale_[:, None]) * self.y_scale_
        self.intercept_ = self.y_mean_ + self.y_scale_ * b - self.x_mean_ @ self.coef_
        self.n_iter_ = max_iter
        self.loss_history_ = losses
        self.backend_ = be.name
        self._finish_fit(y_1d)
        return self

    def _descend(self, be: Backend, Xs: np.ndarray, ys: np.ndarray, w: np.ndarray, b: np.ndarray,
                 lr: float, losses: np.ndarray, progress) -> None:
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
            if progress is not None:
                progress.update(1)

    def _forward(self, Xs: np.ndarray) -> np.ndarray:
        """Standardised predictions Xs @ w_ + b_ (through the backend)."""
        return self._backend().linear_forward(Xs, self.w_, self.b_)

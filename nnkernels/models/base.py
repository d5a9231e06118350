"""What every estimator shares: hyper-parameters, backend, input checks, scaling, divergence.

Estimators follow scikit-learn's conventions: the constructor only stores its arguments (the
hyper-parameters, read back by :meth:`BaseEstimator.get_params`), ``fit`` learns attributes whose
names end in ``_`` and returns ``self``, ``predict`` and ``score`` use them. All numeric work of
training goes through the kernels of one backend (``nnkernels.kernels.get_backend``).
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import numpy as np

from ..kernels import Backend, get_backend
from ..kernels.validation import check_lr, check_positive_int


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss (the learning rate is usually too large)."""


class NotFittedError(ValueError, AttributeError):
    """``predict`` or ``score`` was called before ``fit``."""


class BaseEstimator:
    """Hyper-parameters from the constructor signature, backend resolution and input checks."""

    # Dtypes an estimator computes in: float32 input stays float32, anything else is float64.
    _DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

    @classmethod
    def _param_names(cls) -> list[str]:
        """Names of the constructor's keyword arguments (the hyper-parameters)."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters as a dict (``deep`` is accepted for scikit-learn compatibility)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseEstimator:
        """Set hyper-parameters by name; unknown names raise ValueError. Returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default
                    for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = [f"{k}={v!r}" for k, v in self.get_params().items()
                 if not _same(v, defaults.get(k, inspect.Parameter.empty))]
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- helpers for fit / predict -----------------------------------------------------------

    def _backend(self) -> Backend:
        """The backend named by ``self.backend`` (None: the default backend)."""
        return get_backend(self.backend)

    def _rng(self) -> np.random.Generator:
        """A generator seeded by ``self.random_state`` (int, Generator or None)."""
        rs = self.random_state
        if rs is not None and not isinstance(rs, (numbers.Integral, np.random.Generator)):
            raise ValueError(f"random_state must be None, an int or a numpy Generator, got {rs!r}")
        return np.random.default_rng(rs)

    def _check_lr(self) -> float:
        """``self.lr`` as a positive finite float (the kernels' own check)."""
        return check_lr(self.lr)

    def _check_max_iter(self) -> int:
        """``self.max_iter`` as an int >= 1."""
        return check_positive_int("max_iter", self.max_iter)

    def _check_X(self, X: object, fitted: bool = False) -> np.ndarray:
        """X as a C-contiguous float (N, D) array; 1-D X is one feature (N,) -> (N, 1)."""
        arr = np.asarray(X)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"X must be a real numeric array, got dtype {arr.dtype}")
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise ValueError(f"X must be 1-D or 2-D (N, D), got shape {arr.shape}")
        dtype = self.dtype_ if fitted else (
            arr.dtype if arr.dtype in self._DTYPES else np.dtype(np.float64))
        arr = np.ascontiguousarray(arr, dtype=dtype)
        if fitted and arr.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {arr.shape[1]} features, but {type(self).__name__} was "
                             f"fitted with {self.n_features_in_}")
        if not np.isfinite(arr).all():
            raise ValueError("X contains NaN or infinity")
        return arr

    def _check_Xy(self, X: object, y: object) -> tuple[np.ndarray, np.ndarray, bool]:
        """(X (N, D), y (N, O), y_was_1d) for fit; at least one record, finite values."""
        X = self._check_X(X)
        arr = np.asarray(y)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"y must be a real numeric array, got dtype {arr.dtype}")
        y_1d = arr.ndim == 1
        if y_1d:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise ValueError(f"y must be 1-D or 2-D (N, O), got shape {arr.shape}")
        if arr.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} records but y has {arr.shape[0]}")
        if X.shape[0] == 0:
            raise ValueError("cannot fit on 0 records")
        arr = np.ascontiguousarray(arr, dtype=X.dtype)
        if not np.isfinite(arr).all():
            raise ValueError("y contains NaN or infinity")
        return X, arr, y_1d

    def _set_scaling(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Learn per-column mean/scale of X and y and return both standardised.

        Gradient descent with one learning rate converges for features and targets of any
        range only when they are of order one; predictions are mapped back with the same scales.
        """
        self.dtype_ = X.dtype
        self.n_features_in_ = X.shape[1]
        self.x_mean_, self.x_scale_ = _mean_scale(X)
        self.y_mean_, self.y_scale_ = _mean_scale(y)
        return self._scale_X(X), ((y - self.y_mean_) / self.y_scale_).astype(X.dtype)

    def _scale_X(self, X: np.ndarray) -> np.ndarray:
        """X standardised with the scales learned in fit (C-contiguous, fitted dtype)."""
        return np.ascontiguousarray((X - self.x_mean_) / self.x_scale_, dtype=self.dtype_)

    def _unscale_y(self, y: np.ndarray) -> np.ndarray:
        """Map standardised predictions back to the units of y."""
        return y * self.y_scale_ + self.y_mean_

    def _check_fitted(self) -> None:
        """Raise NotFittedError unless fit has run."""
        if not hasattr(self, "loss_history_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _check_losses(self, losses: np.ndarray, first_iter: int) -> None:
        """Raise DivergenceError at the first non-finite loss (iterations counted from 0)."""
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            i = first_iter + int(bad[0])
            raise DivergenceError(
                f"{type(self).__name__} diverged: the loss became {losses[bad[0]]} at iteration "
                f"{i}; lower the learning rate (lr={self.lr!r})")

    def _finish_fit(self, y_1d: bool) -> None:
        """Record how y was shaped so that predict returns the same shape."""
        self._y_1d = y_1d

    def predict(self, X: object) -> np.ndarray:
        """Predictions for X (N, D): (N,) when fitted on a 1-D y, else (N, O)."""
        self._check_fitted()
        Xs = self._scale_X(self._check_X(X, fitted=True))
        pred = self._unscale_y(self._forward(Xs))
        return pred.reshape(-1) if self._y_1d else pred

    def score(self, X: object, y: object) -> float:
        """Coefficient of determination R^2 of predict(X) against y (averaged over outputs)."""
        pred = np.asarray(self.predict(X), dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(pred.shape)
        pred2, y2 = pred.reshape(len(pred), -1), y.reshape(len(y), -1)
        ss_res = ((y2 - pred2) ** 2).sum(axis=0)
        ss_tot = ((y2 - y2.mean(axis=0)) ** 2).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
        return float(r2.mean())

    def _forward(self, Xs: np.ndarray) -> np.ndarray:
        """Predictions in standardised units for standardised X (each estimator defines it)."""
        raise NotImplementedError


def _mean_scale(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (1 where a column is constant), in a's dtype."""
    mean = a.mean(axis=0)
    scale = a.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return mean.astype(a.dtype), scale.astype(a.dtype)


def _same(a: object, b: object) -> bool:
    """Equality for repr that tolerates arrays and odd types."""
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays: show them
        return False

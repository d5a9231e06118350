"""What every estimator shares: scikit-learn's base class, the backend, seeding, overflow-safe
standardisation, divergence and early-stopping bookkeeping.

Estimators are scikit-learn estimators (``sklearn.base.BaseEstimator`` with a mixin): the
constructor only stores its arguments, declared in ``_parameter_constraints``; ``fit`` validates
them and the data (``validate_data``), computes everything into locals and assigns the learned
attributes (names ending in ``_``) only at its end, so that a fit that raises leaves the
estimator as it was. All numeric work of training and prediction goes through the kernels of
one backend (``nnkernels.kernels.get_backend``).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions

from ..kernels import Backend, get_backend

# Dtypes an estimator computes in: float32 input stays float32, anything else becomes float64
# (the first entry: scikit-learn's ``validate_data`` converts to it).
FLOAT_DTYPES = (np.float64, np.float32)

# Constraints shared by several estimators (scikit-learn's parameter-validation vocabulary).
BACKEND_CONSTRAINT: list[Any] = [str, Backend, None]
RANDOM_STATE_CONSTRAINT: list[Any] = ["random_state", np.random.Generator]
SOLVER_CONSTRAINTS: dict[str, list[Any]] = {
    "solver": [StrOptions({"sgd", "adam"})],
    "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
    # The momentum kernel needs momentum < 1 (a velocity that never decays diverges).
    "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
    "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
    "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
    "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
    "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "tol": [Interval(numbers.Real, 0, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
    "backend": BACKEND_CONSTRAINT,
    "random_state": RANDOM_STATE_CONSTRAINT,
    "verbose": ["verbose"],
}


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss (the learning rate is usually too large)."""


class KernelEstimator(BaseEstimator):
    """Helpers of every nnkernels estimator (the backend, a seeded generator, divergence)."""

    # The hyper-parameter holding the step size, named in divergence messages.
    _lr_param = "learning_rate_init"

    def _backend(self) -> Backend:
        """The backend named by ``self.backend`` (None: the default backend)."""
        return get_backend(self.backend)

    def _rng(self) -> np.random.Generator:
        """A generator seeded by ``self.random_state`` (None, an int, a RandomState or a
        Generator, which is used as it is)."""
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):
            rs = int(rs.randint(np.iinfo(np.int32).max))
        return np.random.default_rng(rs)

    def _check_losses(self, losses: np.ndarray, first_iter: int) -> None:
        """Raise DivergenceError at the first non-finite loss (iterations counted from 0)."""
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            i = first_iter + int(bad[0])
            raise DivergenceError(
                f"{type(self).__name__} diverged: the loss became {losses[bad[0]]} at iteration "
                f"{i}; lower the learning rate ({self._lr_param}="
                f"{getattr(self, self._lr_param)!r})")


# -- standardisation ---------------------------------------------------------------------------

class SoftmaxOutputs:
    """predict_proba / predict_log_proba / predict of a classifier whose network ends in one
    logit per class: the class defines ``_class_logits(X)`` (N, K), columns ordered as
    classes_."""

    def _class_logits(self, X: object) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities (N, K) (softmax of the logits), columns ordered as classes_."""
        return self._backend().softmax(self._class_logits(X))

    def predict_log_proba(self, X: object) -> np.ndarray:
        """Logarithm of predict_proba."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: object) -> np.ndarray:
        """The most probable class of each record (N,)."""
        best = self._class_logits(X).argmax(axis=1)  # checks that the model is fitted
        return self.classes_[best]


def holdout(x: np.ndarray, targets: np.ndarray, fraction: float, rng: np.random.Generator,
            stratify: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_val, t_train, t_val): ``fraction`` of the records held out for early
    stopping (stratified by the targets for a classifier), C-contiguous."""
    from sklearn.model_selection import train_test_split

    seed = int(rng.integers(np.iinfo(np.int32).max))
    try:
        parts = train_test_split(x, targets, test_size=fraction, random_state=seed,
                                 stratify=targets if stratify else None)
    except ValueError as exc:
        raise ValueError(f"early_stopping cannot hold out validation_fraction={fraction} of "
                         f"{x.shape[0]} records: {exc}") from None
    return tuple(np.ascontiguousarray(a) for a in parts)  # type: ignore[return-value]


def mean_scale(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations of a (N, D) in float64 (scale 1 where a column is
    constant), computed on columns divided by their largest magnitude so that nothing
    overflows, whatever the range of the data."""
    a = np.asarray(a, dtype=np.float64)
    peak = np.abs(a).max(axis=0) if a.shape[0] else np.ones(a.shape[1])
    peak = np.where(peak > 0, peak, 1.0)
    unit = a / peak
    mean, std = unit.mean(axis=0) * peak, unit.std(axis=0) * peak
    return mean, np.where(std > 0, std, 1.0)


def standardise(a: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype: np.dtype,
                what: str = "X") -> np.ndarray:
    """(a - mean) / scale in float64, as a C-contiguous array of ``dtype``; ValueError when a
    value is too large for ``dtype`` after standardising (halves first: a - mean never
    overflows)."""
    z = (np.asarray(a, dtype=np.float64) * 0.5 - mean * 0.5) / scale * 2.0
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(z, dtype=dtype)
    if not np.isfinite(out).all():
        raise ValueError(f"{what} holds values that cannot be represented in {np.dtype(dtype)} "
                         "once standardised with the statistics learned in fit")
    return out


def check_representable(name: str, mean: np.ndarray, scale: np.ndarray, dtype: np.dtype
                        ) -> None:
    """Raise ValueError when a target's mean or scale does not fit into ``dtype`` (its
    predictions could not be represented)."""
    with np.errstate(over="ignore"):
        ok = np.isfinite(np.asarray(np.abs(mean) + scale, dtype=dtype)).all()
    if not ok:
        raise ValueError(f"{name} is too large to be represented in {np.dtype(dtype)}")


# -- convergence -------------------------------------------------------------------------------

class NoImprovement:
    """scikit-learn's stopping rule: count epochs whose score does not beat the best by ``tol``
    (a validation score, higher is better, or the training loss, lower is better); stop once
    the count exceeds ``n_iter_no_change``. Keeps a copy of the best parameters on validation."""

    def __init__(self, tol: float, n_iter_no_change: int, validation: bool,
                 state: dict[str, Any] | None = None) -> None:
        self.tol, self.patience, self.validation = tol, n_iter_no_change, validation
        self.best = (-np.inf if validation else np.inf) if state is None else state["best"]
        self.count = 0 if state is None else state["count"]
        self.best_params: np.ndarray | None = None

    def update(self, loss: float, score: float | None, theta: np.ndarray) -> bool:
        """Record one epoch; True when training should stop."""
        if self.validation:
            assert score is not None
            self.count = self.count + 1 if score < self.best + self.tol else 0
            if score > self.best:
                self.best, self.best_params = score, theta.copy()
        else:
            self.count = self.count + 1 if loss > self.best - self.tol else 0
            self.best = min(self.best, loss)
        return self.count > self.patience

    def state(self) -> dict[str, Any]:
        """What a later partial_fit continues from."""
        return {"best": self.best, "count": self.count}


def progress(verbose: bool, total: int, desc: str, unit: str = "it"):
    """A tqdm bar over the iterations when ``verbose``, else None."""
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=True)





def atomic(method):
    """Decorate fit / partial_fit: on any exception the estimator's attributes are put back as
    they were (scikit-learn's ``validate_data`` sets ``n_features_in_`` before the fit proper
    runs, and a fit that fails half-way must not leave new scaling with old weights)."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return wrapper

__all__ = ["DivergenceError", "KernelEstimator", "NotFittedError", "SoftmaxOutputs", "atomic",
           "mean_scale",
           "standardise"]

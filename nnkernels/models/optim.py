"""Parameters in one flat buffer, and the solvers that update it with one kernel call a step.

Every estimator keeps its weights and biases as views of one 1-D buffer ``theta`` and its
gradients as views of a buffer of the same layout, so that a solver step is a single kernel
call over all parameters (``sgd_update``, ``sgd_momentum_update`` or ``adam_update``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..kernels import Backend


def flat_views(buffer: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """C-contiguous views of consecutive slices of a 1-D buffer, one per shape."""
    views, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        views.append(buffer[start:start + size].reshape(shape))
        start += size
    return views


def flatten(arrays: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """A new 1-D buffer holding the arrays one after another (the layout of flat_views)."""
    if not arrays:
        return np.zeros(0, dtype)
    return np.concatenate([np.asarray(a, dtype=dtype).reshape(-1) for a in arrays])


class Solver:
    """The state of one optimizer over a flat parameter vector: nothing (plain SGD), a velocity
    (SGD with momentum) or Adam's moments and step count. Hyper-parameters are read at each
    step, so that ``set_params`` between ``partial_fit`` calls takes effect."""

    def __init__(self, solver: str, size: int, dtype: np.dtype) -> None:
        self.solver = solver
        self.step_count = 0
        self.buffers: dict[str, np.ndarray] = (
            {"m": np.zeros(size, dtype), "v": np.zeros(size, dtype)} if solver == "adam"
            else {"velocity": np.zeros(size, dtype)})

    def copy(self) -> Solver:
        """An independent copy (a fit works on a copy; the estimator keeps the old state
        until the fit succeeds)."""
        new = object.__new__(Solver)
        new.solver, new.step_count = self.solver, self.step_count
        new.buffers = {k: b.copy() for k, b in self.buffers.items()}
        return new

    def step(self, be: Backend, theta: np.ndarray, grad: np.ndarray, hyper: dict[str, Any]
             ) -> None:
        """One update of theta (1-D, in place) along grad: a single kernel call."""
        lr = hyper["learning_rate_init"]
        if self.solver == "adam":
            self.step_count += 1
            be.adam_update(theta, grad, self.buffers["m"], self.buffers["v"], lr,
                           hyper["beta_1"], hyper["beta_2"], hyper["epsilon"],
                           step=self.step_count)
        elif hyper["momentum"] > 0:
            be.sgd_momentum_update(theta, grad, self.buffers["velocity"], lr, hyper["momentum"])
        else:
            be.sgd_update(theta, grad, lr)


def solver_hyper(est: Any) -> dict[str, Any]:
    """The solver's hyper-parameters of an estimator, by scikit-learn's names."""
    return {k: getattr(est, k) for k in ("learning_rate_init", "momentum", "beta_1", "beta_2",
                                         "epsilon")}

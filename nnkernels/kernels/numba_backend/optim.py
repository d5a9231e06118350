"""Parameter updates (plain SGD, SGD with momentum), numba-jitted (loops in ``elementwise``).
All arrays are 1-D views of the parameters."""

from __future__ import annotations

import numpy as np

from . import elementwise as ew


def sgd_update(param: np.ndarray, grad: np.ndarray, lr: float) -> None:
    """param -= lr * grad, in place (lr cast to the parameter dtype)."""
    ew.run_map(ew.SGD, grad, grad, param, param, lr)


def sgd_momentum_update(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float,
                        momentum: float) -> None:
    """velocity = momentum * velocity - lr * grad; param += velocity (one pass, in place)."""
    ew.run_map(ew.MOMENTUM, grad, grad, param, velocity, lr, momentum)

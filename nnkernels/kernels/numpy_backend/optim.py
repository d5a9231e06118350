"""Parameter updates (plain SGD, SGD with momentum) in plain numpy (the reference)."""

from __future__ import annotations

import numpy as np


def sgd_update(param: np.ndarray, grad: np.ndarray, lr: float) -> None:
    """param -= lr * grad, in place."""
    param -= param.dtype.type(lr) * grad


def sgd_momentum_update(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float,
                        momentum: float) -> None:
    """velocity = momentum * velocity - lr * grad; param += velocity (both in place)."""
    t = param.dtype.type
    # The new velocity is computed whole before anything is written, so the formula holds
    # even when grad is one of the updated arrays.
    velocity[...] = t(momentum) * velocity - t(lr) * grad
    param += velocity

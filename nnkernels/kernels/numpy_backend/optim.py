"""Parameter updates (plain SGD, SGD with momentum, Adam) in plain numpy (the reference)."""

from __future__ import annotations

import math

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


def adam_update(params: list[np.ndarray], grads: list[np.ndarray], m: list[np.ndarray],
                v: list[np.ndarray], lr: float, beta1: float, beta2: float, eps: float,
                step: int) -> None:
    """Adam step ``step`` (1-based) on every 1-D param, as torch.optim.Adam writes it:
    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g**2;
    param -= lr / (1 - b1**step) * m / (sqrt(v) / sqrt(1 - b2**step) + eps)."""
    for p, g, mi, vi in zip(params, grads, m, v, strict=True):
        t = p.dtype.type
        step_size = t(lr / (1.0 - beta1 ** step))
        bc2_sqrt = t(math.sqrt(1.0 - beta2 ** step))
        mi[...] = t(beta1) * mi + t(1.0 - beta1) * g
        vi[...] = t(beta2) * vi + t(1.0 - beta2) * (g * g)
        p -= step_size * mi / (np.sqrt(vi) / bc2_sqrt + t(eps))

"""Squared loss and softmax cross-entropy with their gradients, numba-jitted (loops in
``elementwise`` and ``rowwise``)."""

from __future__ import annotations

import numpy as np

from . import elementwise as ew
from . import rowwise as rw


def mse_loss(pred: np.ndarray, target: np.ndarray, reduction: str, dpred: np.ndarray) -> float:
    """Return 0.5 * mean (or sum) of (pred - target)**2; dpred = (pred - target) [/ n]."""
    n = pred.shape[0]
    total = 0.5 * ew.squared_error(pred, target, dpred, n if reduction == "mean" else 1)
    return total / n if reduction == "mean" else total


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, dlogits: np.ndarray) -> float:
    """Mean over N of -log softmax(logits)[label]; dlogits (N, K) its gradient."""
    n = logits.shape[0]
    losses = np.empty(n)
    rw.run_rows(rw.SOFTMAX_CE, logits, labels, dlogits, losses, 1.0 / n)
    return float(losses.sum()) / n

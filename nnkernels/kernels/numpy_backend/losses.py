"""Squared loss and softmax cross-entropy with their gradients in plain numpy (the reference)."""

from __future__ import annotations

import numpy as np


def mse_loss(pred: np.ndarray, target: np.ndarray, reduction: str, dpred: np.ndarray) -> float:
    """Return 0.5 * mean (or sum) of (pred - target)**2; dpred = (pred - target) [/ n]."""
    np.subtract(pred, target, out=dpred)
    loss = 0.5 * float(np.sum(np.square(dpred, dtype=np.float64)))
    if reduction == "mean":
        loss /= dpred.size
        dpred /= dpred.dtype.type(dpred.size)
    return loss


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, dlogits: np.ndarray) -> float:
    """Return the mean over N of -log softmax(logits)[label]; dlogits (N, K) its gradient.

    logits (N, K), labels (N,) int64 in [0, K). Shifting by the row max keeps exp() finite for
    large logits.
    """
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    nll = np.log(sums[:, 0]) - shifted[np.arange(n), labels]   # -log softmax at the label
    loss = float(np.sum(nll, dtype=np.float64)) / n
    np.divide(exp, sums, out=dlogits)
    dlogits[np.arange(n), labels] -= 1
    dlogits /= dlogits.dtype.type(n)
    return loss

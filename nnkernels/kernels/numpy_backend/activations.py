"""ReLU, its backward mask and softmax in plain numpy (the reference)."""

from __future__ import annotations

import numpy as np


def relu_forward(u: np.ndarray, out: np.ndarray) -> None:
    """out = max(u, 0); NaN propagates."""
    np.maximum(u, 0, out=out)


def relu_backward(da: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """out = da where y > 0 else 0 (y may be the pre-activation or the activation)."""
    # np.where, not da * mask: NaN * 0 would leak NaN where the mask is closed.
    np.copyto(out, np.where(y > 0, da, da.dtype.type(0)))


def softmax(logits: np.ndarray, out: np.ndarray) -> None:
    """out (N, K) = exp(logits - row max) / row sum: class probabilities, stable if large."""
    np.subtract(logits, logits.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)

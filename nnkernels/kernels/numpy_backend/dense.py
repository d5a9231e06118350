"""Dense-layer, ReLU, squared-loss and SGD kernels in plain numpy (the reference).

Shapes: x (N, D), w (D, H), b (H,) or None, y and dy (N, H). Inputs are validated and
C-contiguous; results are written into the given buffers (see ``kernels.protocol``).
"""

from __future__ import annotations

import numpy as np


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> None:
    """out (N, H) = x @ w + b."""
    np.matmul(x, w, out=out)
    if b is not None:
        out += b


def linear_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                        out: np.ndarray) -> None:
    """out (N, H) = max(x @ w + b, 0)."""
    linear_forward(x, w, b, out)
    np.maximum(out, 0, out=out)


def linear_backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray, dx: np.ndarray | None,
                    dw: np.ndarray, db: np.ndarray) -> None:
    """dx (N, D) = dy @ w.T (unless None); dw (D, H) += x.T @ dy; db (H,) += dy.sum(axis=0)."""
    if dx is not None:
        np.matmul(dy, w.T, out=dx)
    dw += x.T @ dy
    db += dy.sum(axis=0)


def relu_forward(u: np.ndarray, out: np.ndarray) -> None:
    """out = max(u, 0); NaN propagates."""
    np.maximum(u, 0, out=out)


def relu_backward(da: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """out = da where y > 0 else 0 (y may be the pre-activation or the activation)."""
    # np.where, not da * mask: NaN * 0 would leak NaN where the mask is closed.
    np.copyto(out, np.where(y > 0, da, da.dtype.type(0)))


def mse_loss(pred: np.ndarray, target: np.ndarray, reduction: str, dpred: np.ndarray) -> float:
    """Return 0.5 * mean (or sum) of (pred - target)**2; dpred = (pred - target) [/ n]."""
    np.subtract(pred, target, out=dpred)
    if dpred.size == 0:
        return 0.0
    loss = 0.5 * float(np.sum(np.square(dpred, dtype=np.float64)))
    if reduction == "mean":
        loss /= dpred.size
        dpred /= dpred.dtype.type(dpred.size)
    return loss


def sgd_update(param: np.ndarray, grad: np.ndarray, lr: float) -> None:
    """param -= lr * grad, in place."""
    param -= param.dtype.type(lr) * grad

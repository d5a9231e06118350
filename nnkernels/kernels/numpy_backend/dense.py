"""Dense layers (matmul with bias, fused ReLU, the three gradients) in plain numpy (the reference).

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

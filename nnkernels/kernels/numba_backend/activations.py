"""ReLU, its backward mask and softmax, numba-jitted (loops in ``elementwise`` and
``rowwise``). Elementwise kernels see 1-D arrays; softmax sees logits (N, K)."""

from __future__ import annotations

import numpy as np

from . import elementwise as ew
from . import rowwise as rw

_NO_LABELS = np.zeros(0, np.int64)
_NO_LOSSES = np.zeros(0)


def relu_forward(u: np.ndarray, out: np.ndarray) -> None:
    """out = max(u, 0); NaN propagates."""
    ew.run_map(ew.RELU, u, u, out, out)


def relu_backward(da: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """out = da where y > 0 else 0."""
    ew.run_map(ew.RELU_MASK, da, y, out, out)


def softmax(logits: np.ndarray, out: np.ndarray) -> None:
    """out (N, K) = softmax of each row of logits (row max subtracted first)."""
    rw.run_rows(rw.SOFTMAX, logits, _NO_LABELS, out, _NO_LOSSES, 0.0)

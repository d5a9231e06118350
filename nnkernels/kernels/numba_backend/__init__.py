"""The numba backend: jitted CPU kernels, compiled once and cached on disk (``cache=True``)."""

from __future__ import annotations

import numpy as np

from . import conv, dense, training
from .conv import (
    conv2d_backward,
    conv2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
    sgd_momentum_update,
    softmax,
    softmax_cross_entropy,
)
from .dense import (
    linear_backward,
    linear_forward,
    linear_relu_forward,
    mse_loss,
    relu_backward,
    relu_forward,
    sgd_update,
)
from .training import mlp_train

name = "numba"


def warmup() -> None:
    """Compile (or load from cache) every jitted path for float32 and float64.

    Each path is called directly, below and above its size thresholds, so that no later call,
    whatever its size, compiles.
    """
    for dtype in (np.float32, np.float64):
        dense.warmup(dtype)
        conv.warmup(dtype)
    training.warmup()


__all__ = [
    "name",
    "warmup",
    "linear_forward",
    "linear_relu_forward",
    "linear_backward",
    "relu_forward",
    "relu_backward",
    "mse_loss",
    "sgd_update",
    "sgd_momentum_update",
    "conv2d_forward",
    "conv2d_backward",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "softmax",
    "softmax_cross_entropy",
    "mlp_train",
]

"""The numba backend: jitted CPU kernels, compiled once and cached on disk.

One module per kernel family, as in the numpy reference (dense, activations, losses, optim,
conv, pool, training); the loops shared by several kernels live in ``elementwise`` and
``rowwise``, every tunable in ``config``, the chunking rules in ``chunks``, and the BLAS thread
control in ``blas``.
"""

from __future__ import annotations

import numpy as np

from . import conv, dense, elementwise, optim, pool, rowwise, training
from .activations import relu_backward, relu_forward, softmax
from .conv import conv2d_backward, conv2d_forward
from .dense import linear_backward, linear_forward, linear_relu_forward
from .losses import mse_loss, softmax_cross_entropy
from .optim import adam_update, sgd_momentum_update, sgd_update
from .pool import maxpool2d_backward, maxpool2d_forward
from .training import mlp_grad, mlp_train, mlp_train_minibatch

name = "numba"


def warmup() -> None:
    """Compile (or load from cache) every jitted driver, serial and parallel, for float32 and
    float64, so that no later call, whatever its size, compiles."""
    for dtype in (np.float32, np.float64):
        for module in (dense, elementwise, rowwise, optim, conv, pool):
            module.warmup(dtype)
    training.warmup()
    training.warmup_grad()


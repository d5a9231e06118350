"""The numpy reference backend: short, obviously correct, the truth the others are tested against.

It never imports numba, so it can be run and read without it.
"""

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

name = "numpy"


def warmup() -> None:
    """Nothing to compile."""


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

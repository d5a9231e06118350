"""The numpy reference backend: short, obviously correct, the truth the others are tested against.

It never imports numba, so it can be run and read without it.
"""

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
    "mlp_train",
]

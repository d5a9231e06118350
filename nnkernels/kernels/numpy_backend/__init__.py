"""The numpy reference backend: short, obviously correct, the truth the others are tested against.

One module per kernel family, as in every backend: dense, activations, losses, optim, conv,
pool, training. It never imports numba, so it can be run and read without it.
"""

from .activations import relu_backward, relu_forward, softmax
from .conv import conv2d_backward, conv2d_forward
from .dense import linear_backward, linear_forward, linear_relu_forward
from .losses import mse_loss, softmax_cross_entropy
from .optim import adam_update, sgd_momentum_update, sgd_update
from .pool import maxpool2d_backward, maxpool2d_forward
from .training import mlp_grad, mlp_train, mlp_train_minibatch

name = "numpy"


def warmup() -> None:
    """Nothing to compile."""


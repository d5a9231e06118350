"""Full-batch training of a one-hidden-layer MLP, composed from the plain dense kernels.

This is the reference the numba backend's fused ``mlp_train`` is tested against: each step is
the textbook sequence forward (linear_relu_forward, linear_forward), loss (mse_loss, mean),
backward (linear_backward twice, relu_backward) and update (sgd_update on every parameter).
"""

from __future__ import annotations

import numpy as np

from .activations import relu_backward
from .dense import linear_backward, linear_forward, linear_relu_forward
from .losses import mse_loss
from .optim import sgd_update


def mlp_train(x: np.ndarray, y: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
              b2: np.ndarray, lr: float, losses: np.ndarray) -> None:
    """len(losses) SGD steps of pred = relu(x @ w1 + b1) @ w2 + b2; x (N, D), y (N, O).

    w1 (D, H), b1 (H,), w2 (H, O), b2 (O,) are updated in place; losses[i] = 0.5 * mean of
    (pred - y)**2 before step i.
    """
    n = x.shape[0]
    h, o = w2.shape
    dt = x.dtype
    # Workspaces, allocated once per call and reused by every step.
    hidden = np.empty((n, h), dt)
    pred = np.empty((n, o), dt)
    dpred = np.empty((n, o), dt)
    dhidden = np.empty((n, h), dt)
    params = (w1, b1, w2, b2)
    grads = tuple(np.empty_like(p) for p in params)
    dw1, db1, dw2, db2 = grads
    for i in range(losses.shape[0]):
        linear_relu_forward(x, w1, b1, hidden)
        linear_forward(hidden, w2, b2, pred)
        losses[i] = mse_loss(pred.reshape(-1), y.reshape(-1), "mean", dpred.reshape(-1))
        for g in grads:
            g.fill(0)  # linear_backward accumulates into dw and db
        linear_backward(hidden, w2, dpred, dhidden, dw2, db2)
        relu_backward(dhidden.reshape(-1), hidden.reshape(-1), dhidden.reshape(-1))
        linear_backward(x, w1, dhidden, None, dw1, db1)
        for p, g in zip(params, grads, strict=True):
            sgd_update(p.reshape(-1), g.reshape(-1), lr)


def mlp_grad(x: np.ndarray, y: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray,
             b2: np.ndarray, gw1: np.ndarray, gb1: np.ndarray, gw2: np.ndarray,
             gb2: np.ndarray) -> float:
    """Return 0.5 * sum((pred - y)**2) and add its gradient (sums over the records, not means)
    into gw1, gb1, gw2, gb2: forward, loss (mse_loss, sum), backward, no update."""
    n = x.shape[0]
    h, o = w2.shape
    dt = x.dtype
    hidden = np.empty((n, h), dt)
    pred = np.empty((n, o), dt)
    dpred = np.empty((n, o), dt)
    dhidden = np.empty((n, h), dt)
    linear_relu_forward(x, w1, b1, hidden)
    linear_forward(hidden, w2, b2, pred)
    loss = mse_loss(pred.reshape(-1), y.reshape(-1), "sum", dpred.reshape(-1))
    linear_backward(hidden, w2, dpred, dhidden, gw2, gb2)
    relu_backward(dhidden.reshape(-1), hidden.reshape(-1), dhidden.reshape(-1))
    linear_backward(x, w1, dhidden, None, gw1, gb1)
    return loss

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
from .optim import sgd_momentum_update, sgd_update


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


def mlp_train_minibatch(x: np.ndarray, y: np.ndarray, params: list[np.ndarray],
                        velocities: list[np.ndarray] | None, order: np.ndarray, batch_size: int,
                        lr: float, momentum: float, losses: np.ndarray) -> None:
    """Epochs of mini-batch SGD of an MLP of any depth, composed from the plain kernels.

    params = [w1 (D, H1), b1 (H1,), ..., wL (H_{L-1}, O), bL (O,)], ReLU between layers, linear
    output; updated in place (with ``velocities``, same shapes, when momentum > 0). Epoch e
    visits the records x[order[e]] (order (E, M) int64) in batches of ``batch_size`` (the last
    one may be smaller); each batch steps along the gradient of 0.5 * mean((pred - y)**2) over
    its records and outputs. losses (E,) float64: 0.5 * mean over the epoch's M * O squared
    errors, each measured before its batch's step.
    """
    n_layers = len(params) // 2
    weights, biases = params[0::2], params[1::2]
    n_out = y.shape[1]
    grads = [np.empty_like(p) for p in params]
    for e in range(order.shape[0]):
        total = 0.0
        for lo in range(0, order.shape[1], batch_size):
            idx = order[e, lo:lo + batch_size]
            xb, yb = x[idx], y[idx]
            acts = [xb]
            for i in range(n_layers):
                out = np.empty((xb.shape[0], weights[i].shape[1]), x.dtype)
                forward = linear_relu_forward if i < n_layers - 1 else linear_forward
                forward(acts[-1], weights[i], biases[i], out)
                acts.append(out)
            delta = np.empty_like(acts[-1])
            loss = mse_loss(acts[-1].reshape(-1), yb.reshape(-1), "mean", delta.reshape(-1))
            total += loss * yb.shape[0]
            for g in grads:
                g.fill(0)  # linear_backward accumulates into dw and db
            for i in range(n_layers - 1, -1, -1):
                dx = None if i == 0 else np.empty_like(acts[i])
                linear_backward(acts[i], weights[i], delta, dx, grads[2 * i], grads[2 * i + 1])
                if dx is not None:
                    relu_backward(dx.reshape(-1), acts[i].reshape(-1), dx.reshape(-1))
                delta = dx
            for j, (p, g) in enumerate(zip(params, grads, strict=True)):
                if velocities is None:
                    sgd_update(p.reshape(-1), g.reshape(-1), lr)
                else:
                    sgd_momentum_update(p.reshape(-1), g.reshape(-1),
                                        velocities[j].reshape(-1), lr, momentum)
        losses[e] = total / order.shape[1] if n_out else 0.0

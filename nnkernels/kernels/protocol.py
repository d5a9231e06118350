"""The backend protocol: what a backend module must implement, and the contract of the kernels.

A backend is a module (``numpy_backend``, ``numba_backend``, ...) with a ``name``, a
``warmup()`` and the kernels below, one module per kernel family with the same names in every
backend: ``dense``, ``activations``, ``losses``, ``optim``, ``conv``, ``pool``, ``training``.
They are *raw* kernels: ``api.Backend`` has already checked every argument (``validation``),
so a kernel may assume

- all float arrays share one dtype, float32 or float64, and are base-class ``np.ndarray``,
  C-contiguous and writeable (read-only inputs arrive as copies, so that numba compiles one
  specialisation per dtype; a kernel never writes its inputs all the same);
- shapes fit: ``x`` (N, D), ``w`` (D, H), ``b`` (H,) or None, ``dy`` (N, H);
- elementwise kernels get 1-D (raveled) arrays of equal length;
- the work is not empty: there is at least one output element and, for reductions over
  records, at least one record (``api`` decides empty calls the same way for every backend:
  empty results, zero gradients, loss 0.0). Inner dimensions may be 0 (D = 0, H = 0 in
  ``mlp_train``), which kernels must handle;
- output buffers are preallocated, of the right shape and dtype, C-contiguous, and share no
  memory with the inputs (except elementwise kernels, where ``out`` may *be* an input);
- ``lr`` is a positive finite Python float, ``momentum`` a Python float in [0, 1); so are
  Adam's ``beta1``, ``beta2`` (in [0, 1)) and ``eps`` (> 0); ``step`` is an int >= 1;
- convolution and pooling arrays are NCHW: x (N, C, H, W), w (F, C, KH, KW), y (N, F, OH, OW);
  ``stride``, ``padding``, ``pool`` are pairs of ints in [0, 2**31) for which the output has at
  least one pixel; ``labels`` and pooling ``argmax`` are int64 arrays with valid values.

One rule for outputs, in every kernel: results are written into the given buffers. A backward
**overwrites** the gradient of its input (``dx``) and **accumulates into** the gradients of its
parameters (``dw``, ``db``: ``+=``), so that mini-batches and record chunks add up without
copies; ``api`` hands a zeroed buffer to a caller who gave none. A ``dx`` of None means "not
needed": the kernel skips that work.

Adding a backend means writing one module that satisfies this protocol and registering it in
``nnkernels.kernels``; nothing else changes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class KernelBackend(Protocol):
    """Raw kernels of one backend (see the module docstring for the assumptions)."""

    name: str

    def linear_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                       out: np.ndarray) -> None:
        """out (N, H) = x (N, D) @ w (D, H) + b (H,)."""

    def linear_relu_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                            out: np.ndarray) -> None:
        """out (N, H) = max(x @ w + b, 0), fused into one pass over the output."""

    def linear_backward(self, x: np.ndarray, w: np.ndarray, dy: np.ndarray,
                        dx: np.ndarray | None, dw: np.ndarray, db: np.ndarray) -> None:
        """dx (N, D) = dy @ w.T (skipped when None); dw (D, H) += x.T @ dy; db (H,) += dy.sum(0)."""

    def relu_forward(self, u: np.ndarray, out: np.ndarray) -> None:
        """out = max(u, 0) elementwise; NaN propagates."""

    def relu_backward(self, da: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
        """out = da where y > 0, else 0."""

    def mse_loss(self, pred: np.ndarray, target: np.ndarray, reduction: str,
                 dpred: np.ndarray) -> float:
        """Return 0.5 * mean (or sum) of (pred - target)**2 and write its gradient into dpred."""

    def sgd_update(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        """param -= lr * grad, in place."""

    def sgd_momentum_update(self, param: np.ndarray, grad: np.ndarray, velocity: np.ndarray,
                            lr: float, momentum: float) -> None:
        """velocity = momentum * velocity - lr * grad; param += velocity (1-D, in place)."""

    def adam_update(self, params: list[np.ndarray], grads: list[np.ndarray],
                    m: list[np.ndarray], v: list[np.ndarray], lr: float, beta1: float,
                    beta2: float, eps: float, step: int) -> None:
        """Adam step ``step`` (>= 1) on each 1-D param with its grad and moments m, v (in
        place), with torch.optim.Adam's bias correction: m = b1 m + (1 - b1) g,
        v = b2 v + (1 - b2) g**2, param -= lr / (1 - b1**step) * m
        / (sqrt(v) / sqrt(1 - b2**step) + eps). Lists of equal length, shapes agree
        pairwise, no array shares memory with another."""

    def conv2d_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                       stride: tuple[int, int], padding: tuple[int, int],
                       out: np.ndarray) -> None:
        """out (N, F, OH, OW) = cross-correlation of zero-padded x (N, C, H, W) with
        w (F, C, KH, KW), plus b (F,)."""

    def conv2d_backward(self, x: np.ndarray, w: np.ndarray, dy: np.ndarray,
                        stride: tuple[int, int], padding: tuple[int, int],
                        dx: np.ndarray | None, dw: np.ndarray, db: np.ndarray) -> None:
        """dx (N, C, H, W) = the input gradient (skipped when None); dw (F, C, KH, KW) and
        db (F,) += the weight and bias gradients."""

    def maxpool2d_forward(self, x: np.ndarray, pool: tuple[int, int], stride: tuple[int, int],
                          out: np.ndarray, argmax: np.ndarray) -> None:
        """out (N, C, OH, OW) = window maxima of x; argmax (int64) = row * W + col of each."""

    def maxpool2d_backward(self, dy: np.ndarray, argmax: np.ndarray, dx: np.ndarray) -> None:
        """dx (N, C, H, W) = dy (N, C, OH, OW) added at the argmax positions, zero elsewhere."""

    def softmax(self, logits: np.ndarray, out: np.ndarray) -> None:
        """out (N, K) = softmax of each row of logits (N, K): class probabilities."""

    def softmax_cross_entropy(self, logits: np.ndarray, labels: np.ndarray,
                              dlogits: np.ndarray) -> float:
        """Return mean -log softmax(logits (N, K))[labels (N,)]; write its gradient to dlogits."""

    def mlp_train(self, x: np.ndarray, y: np.ndarray, w1: np.ndarray, b1: np.ndarray,
                  w2: np.ndarray, b2: np.ndarray, lr: float, losses: np.ndarray) -> None:
        """len(losses) full-batch SGD steps of the MLP y ~ relu(x @ w1 + b1) @ w2 + b2.

        x (N, D), y (N, O), w1 (D, H), b1 (H,), w2 (H, O), b2 (O,) updated in place; losses
        (n_iter,) float64 receives 0.5 * mean((pred - y)**2) over N * O, measured before each
        step, whose gradient the step follows (N * O >= 1, n_iter >= 1).
        """

    def mlp_grad(self, x: np.ndarray, y: np.ndarray, w1: np.ndarray, b1: np.ndarray,
                 w2: np.ndarray, b2: np.ndarray, gw1: np.ndarray, gb1: np.ndarray,
                 gw2: np.ndarray, gb2: np.ndarray) -> float:
        """Return the loss SUM 0.5 * sum((pred - y)**2) (float64) of the records of x (N, D),
        y (N, O) under the MLP of ``mlp_train``, and ACCUMULATE its gradient sums (not means)
        into gw1 (D, H), gb1 (H,), gw2 (H, O), gb2 (O,); the parameters are not changed
        (N * O >= 1). Chunks of records add up: one call over all records equals the sum of
        calls over its pieces (up to rounding)."""


    def mlp_train_minibatch(self, x: np.ndarray, y: np.ndarray, params: list[np.ndarray],
                            velocities: list[np.ndarray] | None, order: np.ndarray,
                            batch_size: int, lr: float, momentum: float,
                            losses: np.ndarray) -> None:
        """Epochs of mini-batch SGD of the MLP relu(... relu(x @ w1 + b1) ...) @ wL + bL.

        params [w1 (D, H1), b1 (H1,), ..., wL (H_{L-1}, O), bL (O,)] (L >= 1) updated in
        place; velocities: None (plain SGD, momentum 0) or one array per parameter (momentum
        > 0: v = momentum * v - lr * g; p += v). order (E, M) int64, values in [0, N): epoch e
        runs batches order[e, k:k + batch_size] (the last may be smaller; M >= 1, O >= 1),
        each stepping along the gradient of 0.5 * mean((pred - y)**2) over its records and
        outputs. losses (E,) float64: 0.5 * mean of epoch e's M * O squared errors, each
        measured before its batch's step.
        """

    def warmup(self) -> None:
        """Compile (or load from cache) everything, so that later calls never compile."""

"""Convolution, max-pool, softmax cross-entropy and momentum SGD in plain numpy (the reference).

Layout NCHW: x (N, C, H, W), w (F, C, KH, KW), b (F,), y and dy (N, F, OH, OW) with
OH = (H + 2*ph - KH) // sh + 1 and OW likewise. Convolution is cross-correlation (no kernel flip),
as in every deep-learning library. Inputs are validated and C-contiguous; ``stride``, ``padding``
and ``pool`` are pairs of ints; results go into the given buffers (see ``kernels.protocol``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """x (N, C, H, W) with ph zero rows and pw zero columns on each side."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _windows(xp: np.ndarray, kh: int, kw: int, stride: tuple[int, int]) -> np.ndarray:
    """Read-only view (N, C, OH, OW, KH, KW) of every kernel-sized window of padded xp."""
    sh, sw = stride
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def _im2col(x: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
            padding: tuple[int, int]) -> np.ndarray:
    """Columns (N*OH*OW, C*KH*KW): one row per output pixel, holding its receptive field."""
    win = _windows(_pad(x, padding), kh, kw, stride)
    n, c, oh, ow = win.shape[:4]
    # The one copy: rows ordered (n, oh, ow), columns (c, kh, kw) to match w.reshape(F, -1).
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                   stride: tuple[int, int], padding: tuple[int, int], out: np.ndarray) -> None:
    """out (N, F, OH, OW) = cross-correlation of x (N, C, H, W) with w (F, C, KH, KW) + b (F,)."""
    n, f, oh, ow = out.shape
    kh, kw = w.shape[2:]
    cols = _im2col(x, kh, kw, stride, padding)
    y = cols @ w.reshape(f, -1).T                       # (N*OH*OW, F)
    if b is not None:
        y += b
    out[...] = y.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)


def conv2d_backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray, stride: tuple[int, int],
                    padding: tuple[int, int], dx: np.ndarray, dw: np.ndarray,
                    db: np.ndarray) -> None:
    """Gradients of conv2d_forward: dx (N, C, H, W), dw (F, C, KH, KW), db (F,) (overwritten)."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = dy.shape[2:]
    (sh, sw), (ph, pw) = stride, padding
    cols = _im2col(x, kh, kw, stride, padding)          # (N*OH*OW, C*KH*KW)
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, f)   # (N*OH*OW, F), rows like cols
    db[...] = dy.sum(axis=(0, 2, 3))
    dw[...] = (dy_rows.T @ cols).reshape(w.shape)
    dcols = (dy_rows @ w.reshape(f, -1)).reshape(n, oh, ow, c, kh, kw)
    # col2im: every kernel offset (i, j) scatters one strided sub-grid of the padded input.
    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += dcols[..., i, j].transpose(0, 3, 1, 2)
    dx[...] = dxp[:, :, ph:ph + h, pw:pw + wd]


def maxpool2d_forward(x: np.ndarray, pool: tuple[int, int], stride: tuple[int, int],
                      out: np.ndarray, argmax: np.ndarray) -> None:
    """out (N, C, OH, OW) = max over each pool window of x (N, C, H, W); argmax (int64, same
    shape) = flat index ``row * W + col`` into the (H, W) plane of the chosen element.

    Ties go to the first element in row-major window order; a NaN in a window wins (first NaN),
    like ``np.argmax``, so NaN propagates.
    """
    kh, kw = pool
    sh, sw = stride
    oh, ow = out.shape[2:]
    win = _windows(x, kh, kw, stride)                  # (N, C, OH, OW, KH, KW)
    flat = win.reshape(win.shape[:4] + (kh * kw,))      # copies: the view is not reshapeable
    k = np.argmax(flat, axis=-1)
    out[...] = np.take_along_axis(flat, k[..., None], axis=-1)[..., 0]
    rows = np.arange(oh)[:, None] * sh + k // kw
    cols = np.arange(ow)[None, :] * sw + k % kw
    argmax[...] = rows * x.shape[3] + cols


def maxpool2d_backward(dy: np.ndarray, argmax: np.ndarray, dx: np.ndarray) -> None:
    """dx (N, C, H, W) = dy (N, C, OH, OW) routed to the argmax of each window (summed where
    overlapping windows chose the same element), zero elsewhere."""
    n, c, h, wd = dx.shape
    dx[...] = 0
    planes = dx.reshape(n * c, h * wd)
    m = dy.shape[2] * dy.shape[3]
    idx = argmax.reshape(n * c, m)
    # np.add.at accumulates repeated indices (overlapping windows); plain fancy += would not.
    np.add.at(planes, (np.arange(n * c)[:, None], idx), dy.reshape(n * c, m))


def softmax(logits: np.ndarray, out: np.ndarray) -> None:
    """out (N, K) = exp(logits - row max) / row sum: class probabilities, stable if large."""
    np.subtract(logits, logits.max(axis=1, keepdims=True) if logits.size else 0, out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, dlogits: np.ndarray) -> float:
    """Return the mean over N of -log softmax(logits)[label]; dlogits (N, K) its gradient.

    logits (N, K), labels (N,) int64 in [0, K). Shifting by the row max keeps exp() finite for
    large logits. An empty batch has loss 0.0.
    """
    n = logits.shape[0]
    if n == 0:
        return 0.0
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    nll = np.log(sums[:, 0]) - shifted[np.arange(n), labels]   # -log softmax at the label
    loss = float(np.sum(nll, dtype=np.float64)) / n
    np.divide(exp, sums, out=dlogits)
    dlogits[np.arange(n), labels] -= 1
    dlogits /= dlogits.dtype.type(n)
    return loss


def sgd_momentum_update(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float,
                        momentum: float) -> None:
    """velocity = momentum * velocity - lr * grad; param += velocity (both in place)."""
    t = param.dtype.type
    velocity *= t(momentum)
    velocity -= t(lr) * grad
    param += velocity

"""2-D convolution (NCHW cross-correlation) and its gradients in plain numpy (the reference).

Layout NCHW: x (N, C, H, W), w (F, C, KH, KW), b (F,), y and dy (N, F, OH, OW) with
OH = (H + 2*ph - KH) // sh + 1 and OW likewise. Convolution is cross-correlation (no kernel flip),
as in every deep-learning library. Inputs are validated and C-contiguous; ``stride``, ``padding``
are pairs of ints; results go into the given buffers (see ``kernels.protocol``).
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


def windows(xp: np.ndarray, kh: int, kw: int, stride: tuple[int, int]) -> np.ndarray:
    """Read-only view (N, C, OH, OW, KH, KW) of every kernel-sized window of padded xp."""
    sh, sw = stride
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def _im2col(x: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
            padding: tuple[int, int]) -> np.ndarray:
    """Columns (N*OH*OW, C*KH*KW): one row per output pixel, holding its receptive field."""
    win = windows(_pad(x, padding), kh, kw, stride)
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
                    padding: tuple[int, int], dx: np.ndarray | None, dw: np.ndarray,
                    db: np.ndarray) -> None:
    """dx (N, C, H, W) = the input gradient (unless None); dw (F, C, KH, KW) += the weight
    gradient; db (F,) += the bias gradient."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = dy.shape[2:]
    (sh, sw), (ph, pw) = stride, padding
    cols = _im2col(x, kh, kw, stride, padding)          # (N*OH*OW, C*KH*KW)
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, f)   # (N*OH*OW, F), rows like cols
    db += dy.sum(axis=(0, 2, 3))
    dw += (dy_rows.T @ cols).reshape(w.shape)
    if dx is None:
        return
    dcols = (dy_rows @ w.reshape(f, -1)).reshape(n, oh, ow, c, kh, kw)
    # col2im: every kernel offset (i, j) scatters one strided sub-grid of the padded input.
    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += dcols[..., i, j].transpose(0, 3, 1, 2)
    dx[...] = dxp[:, :, ph:ph + h, pw:pw + wd]

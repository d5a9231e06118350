"""2-D max-pooling and its backward in plain numpy (the reference). NCHW layout."""

from __future__ import annotations

import numpy as np

from .conv import windows


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
    win = windows(x, kh, kw, stride)                  # (N, C, OH, OW, KH, KW)
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

"""Useful FLOPs and compulsory memory traffic of each benchmarked kernel: the roofline's inputs.

The report divides these counts by the median time to quote GFLOP/s and GB/s, and compares them
with the machine's measured peaks (``nnkernels machine``). The counts are properties of the
*operation*, not of an implementation: a backend that materialises temporaries moves more bytes
than counted here, and that shows as a lower GB/s, not as a different count.

Conventions: a fused multiply-add is 2 FLOPs; comparisons (ReLU's max, its mask) are not
FLOPs; compulsory traffic counts each input read once and each output written once (an
accumulated output, ``dw_out += ...``, is read and written), with ``s`` bytes per element;
write-allocate reads are not counted (as in STREAM). Shapes: x (N, D), w (D, H), b (H,), the
elementwise kernels on (N, H) arrays; mlp_train per training step with w1 (D, H), w2 (H, O);
conv2d with x (N, C, H, W), w (F, C, k, k) and output (N, F, OH, OW), P = N * F * OH * OW.

=======================  ==========================  =========================================
kernel                   useful FLOPs                compulsory traffic (elements of s bytes)
=======================  ==========================  =========================================
linear_forward           2NDH + NH                   ND + DH + H + NH
linear_relu_forward      2NDH + NH                   ND + DH + H + NH
linear_backward          4NDH + NH                   2ND + NH + 3DH + 2H (dw, db accumulated)
relu_forward             0                           2NH
relu_backward            0                           3NH
mse_loss                 4NH                         3NH (pred, target in; gradient out)
sgd_update               2NH                         3NH (param, grad in; param out)
mlp_train (per step)     4NDH + 6NHO + 2NH + 6NO     ND + NO + 2Q, Q = DH + H + HO + O
                         + 2Q
conv2d_forward           2PCk^2 + P                  NCHW + FCk^2 + F + P
conv2d_forward_backward  6PCk^2 + 2P                 2NCHW + 2FCk^2 + 2F + 2P
=======================  ==========================  =========================================

FLOPs: the GEMM terms (2 per multiply-add), the bias adds (NH), ReLU's max not counted; the
backward pass is dx, dw and db; mse_loss is sub, square and sum plus the gradient's scale;
mlp_train is forward, loss, backward (no dx) and the SGD update of the Q parameters;
conv2d_forward_backward is the forward, dx, dw and db. Traffic of conv2d_forward_backward: x, w,
b and dy read, y, dx, dw and db written.

mlp_train's compulsory traffic is what a fused step must move (the records and the
parameters): the numba kernel keeps the (N, H) activations out of memory, the numpy reference
does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _dims(info: Mapping[str, Any]) -> dict[str, int]:
    """Integer dimensions from a benchmark's extra_info (missing ones count as 1)."""
    out = {}
    for key in ("N", "H", "D_in", "D_out", "C", "W", "F", "k", "stride", "pad"):
        v = info.get(key, 1)
        out[key] = int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 1
    return out


def counts(kernel: str, info: Mapping[str, Any]) -> tuple[float, float] | None:
    """(useful FLOPs, compulsory bytes) per op of ``kernel`` in the cell ``info``; None when
    the kernel or its dtype is unknown."""
    try:
        s = np.dtype(str(info.get("dtype"))).itemsize
    except TypeError:
        return None
    d = _dims(info)
    n, h = d["N"], d["H"]
    if kernel in ("conv2d_forward", "conv2d_forward_backward"):
        c, w, f, k = d["C"], d["W"], d["F"], d["k"]
        oh = (h + 2 * d["pad"] - k) // max(d["stride"], 1) + 1
        ow = (w + 2 * d["pad"] - k) // max(d["stride"], 1) + 1
        p, x, wt = n * f * oh * ow, n * c * h * w, f * c * k * k
        if kernel == "conv2d_forward":
            return 2.0 * p * c * k * k + p, s * (x + wt + f + p)
        return 6.0 * p * c * k * k + 2 * p, s * (2 * x + 2 * wt + 2 * f + 2 * p)
    dd, o = d["D_in"], d["D_out"]
    nh = n * h
    table = {
        "linear_forward": (2.0 * n * dd * h + nh, n * dd + dd * h + h + nh),
        "linear_relu_forward": (2.0 * n * dd * h + nh, n * dd + dd * h + h + nh),
        "linear_backward": (4.0 * n * dd * h + nh, 2 * n * dd + nh + 3 * dd * h + 2 * h),
        "relu_forward": (0.0, 2 * nh),
        "relu_backward": (0.0, 3 * nh),
        "mse_loss": (4.0 * nh, 3 * nh),
        "sgd_update": (2.0 * nh, 3 * nh),
    }
    if kernel == "mlp_train":
        q = dd * h + h + h * o + o
        return (4.0 * n * dd * h + 6 * n * h * o + 2 * nh + 6 * n * o + 2 * q,
                float(s * (n * dd + n * o + 2 * q)))
    if kernel not in table:
        return None
    flops, elems = table[kernel]
    return flops, float(s * elems)


def attainable_gflops(intensity: float, peak_gflops: float, peak_gbs: float) -> float:
    """The roofline: min(peak FLOP rate, arithmetic intensity (FLOP/byte) x bandwidth)."""
    return min(peak_gflops, intensity * peak_gbs)

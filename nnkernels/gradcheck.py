"""Central finite differences, for checking hand-written backward passes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Gradient of the scalar ``f()`` with respect to ``x`` (modified in place, then restored).

    Central differences: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), one entry at a time.
    Use float64: float32 has too few digits for a useful finite difference.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("x must be contiguous so that it can be perturbed in place")
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        f_plus = f()
        flat[i] = saved - eps
        f_minus = f()
        flat[i] = saved
        gflat[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def check_gradient(f: Callable[[], float], x: np.ndarray, analytic: np.ndarray,
                   eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7) -> float:
    """Assert that ``analytic`` matches the finite-difference gradient of ``f`` w.r.t. ``x``.

    Returns the largest relative error |a - n| / max(|a| + |n|, atol) for reporting.
    """
    numeric = numerical_gradient(f, x, eps)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)
    denom = np.maximum(np.abs(analytic) + np.abs(numeric), atol)
    return float(np.max(np.abs(analytic - numeric) / denom, initial=0.0))

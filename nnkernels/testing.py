"""Helpers for testing kernels: tolerances by dtype and input layouts (used by the test suite)."""

from __future__ import annotations

import numpy as np

# Relative tolerance per dtype for results that went through different summation orders.
RTOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-10}

LAYOUTS = ("C", "F", "strided")


def assert_close(actual: np.ndarray, expected: np.ndarray, reduction_size: int = 1) -> None:
    """Assert equal shapes and dtypes, and values within the dtype's tolerance.

    The absolute tolerance scales with the largest magnitude in ``expected`` and with the square
    root of the length of the sums that produced it, since backends sum in different orders.
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    rtol = RTOL[expected.dtype]
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max(initial=0.0)))
    atol = rtol * scale * np.sqrt(max(1, reduction_size))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def with_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """The same values as ``a`` in another memory layout: C order, Fortran order, or a view with
    a step (every other element of a larger buffer)."""
    if layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")

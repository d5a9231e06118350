"""Helpers for testing kernels: the tolerance table and input layouts (used by the test suite)."""

from __future__ import annotations

import numpy as np

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)

# The one tolerance table: (rtol, atol) per kind of computation and dtype. ``assert_close``
# multiplies atol by a scale (default: the largest magnitude in the expected result) and by the
# square root of the length of the sums behind each result.
TOLERANCES: dict[str, dict[np.dtype, tuple[float, float]]] = {
    # Results that went through different summation orders (matmuls, convolutions, reductions).
    "sum": {_F32: (2e-4, 2e-4), _F64: (1e-10, 1e-10)},
    # Losses and parameters after a few fused training steps (mlp_train against the composed
    # reference): values of order one, so a small absolute floor.
    "train": {_F32: (2e-4, 2e-5), _F64: (1e-10, 1e-12)},
    # Softmax cross-entropy against the float64 textbook formula (log-sum-exp per row).
    "softmax_cross_entropy": {_F32: (1e-4, 1e-4), _F64: (1e-10, 1e-10)},
    # Row-wise softmax against the float64 textbook formula.
    "softmax": {_F32: (1e-5, 1e-5), _F64: (1e-12, 1e-12)},
    # A few roundings per element, no sums (momentum SGD against its formula).
    "elementwise": {_F32: (1e-6, 1e-6), _F64: (1e-14, 1e-14)},
}

# Relative tolerance per dtype for results that went through different summation orders.
RTOL = {dt: rtol for dt, (rtol, _) in TOLERANCES["sum"].items()}

LAYOUTS = ("C", "F", "strided")


def tolerance(dtype: object, kind: str = "sum", reduction_size: int = 1,
              scale: float = 1.0) -> dict[str, float]:
    """``rtol`` and ``atol`` (keyword arguments of ``np.testing.assert_allclose``) for results of
    ``dtype`` computed by a ``kind`` of computation (a key of ``TOLERANCES``): atol is the table's
    times ``scale`` times the square root of ``reduction_size``."""
    rtol, atol = TOLERANCES[kind][np.dtype(dtype)]
    return {"rtol": rtol, "atol": atol * scale * float(np.sqrt(max(1, reduction_size)))}


def assert_close(actual: object, expected: object, reduction_size: int = 1, *,
                 kind: str = "sum", scale: float | None = None,
                 dtype: object = None) -> None:
    """Assert equal shapes and values within the tolerance of ``TOLERANCES[kind]``.

    The absolute tolerance scales with ``scale`` (default: the largest finite magnitude in
    ``expected``, at least 1; pass 1 for a fixed atol, 0 for none) and with the square root of
    the length of the sums that produced the result, since backends sum in different orders.
    The tolerance is that of ``dtype``; without it, that of ``expected``, whose dtype ``actual``
    must then have. Give ``dtype`` to compare against a float64 reference (the caller checks
    ``actual``'s dtype).
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if dtype is None:
        assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
        dtype = expected.dtype
    if scale is None:
        finite = np.abs(expected[np.isfinite(expected)])
        scale = max(1.0, float(finite.max(initial=0.0)))
    np.testing.assert_allclose(actual, expected,
                               **tolerance(dtype, kind, reduction_size, scale))


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

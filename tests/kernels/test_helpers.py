"""The testing helpers themselves: finite differences (nnkernels.gradcheck) and the tolerance
table and layouts (nnkernels.testing)."""

from __future__ import annotations

import numpy as np
import pytest

from nnkernels.gradcheck import check_gradient, numerical_gradient
from nnkernels.testing import LAYOUTS, RTOL, TOLERANCES, assert_close, tolerance, with_layout


def test_numerical_gradient_restores_input() -> None:
    """The finite-difference helper perturbs in place and must leave x as it found it."""
    x = np.arange(6.0).reshape(2, 3)
    before = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(x**2)), x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-6)


def test_check_gradient_catches_a_wrong_gradient() -> None:
    x = np.ones(3)
    with pytest.raises(AssertionError):
        check_gradient(lambda: float(np.sum(x**2)), x, 3 * x)


def test_tolerance_table() -> None:
    """Every kind has both dtypes; RTOL is the "sum" row; atol scales as documented."""
    for rows in TOLERANCES.values():
        assert set(rows) == {np.dtype(np.float32), np.dtype(np.float64)}
    assert RTOL == {dt: r for dt, (r, _) in TOLERANCES["sum"].items()}
    assert tolerance(np.float32, "train") == {"rtol": 2e-4, "atol": 2e-5}
    assert tolerance(np.float64, reduction_size=4, scale=3.0) == {"rtol": 1e-10, "atol": 6e-10}


def test_assert_close() -> None:
    e = np.array([0.0, 100.0])
    assert_close(e + [1e-9, 0.0], e)                  # atol scales with max |expected|
    with pytest.raises(AssertionError):
        assert_close(e + [1e-9, 0.0], e, scale=0)     # no atol: 0 vs 1e-9 fails
    with pytest.raises(AssertionError):
        assert_close(e.astype(np.float32), e)          # dtypes must agree ...
    assert_close(e.astype(np.float32), e, dtype=np.float32)  # ... unless dtype is given
    with pytest.raises(AssertionError):
        assert_close(e[:1], e)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_with_layout(layout) -> None:
    a = np.arange(12.0).reshape(3, 4)
    b = with_layout(a, layout)
    np.testing.assert_array_equal(b, a)
    assert b.flags.c_contiguous == (layout == "C")
    assert b.flags.f_contiguous == (layout == "F")
    with pytest.raises(ValueError, match="unknown layout"):
        with_layout(a, "diagonal")

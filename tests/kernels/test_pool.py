"""maxpool2d_forward / maxpool2d_backward of every backend: naive loops (ties, overlapping
windows), finite differences, layouts, empty inputs, NaN and validation."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nnkernels.gradcheck import check_gradient
from nnkernels.testing import LAYOUTS, with_layout

from .helpers import assert_same_error


def naive_maxpool(x, pool, stride):
    """Loops: max of each window and its flat (row * W + col) index, first maximum wins."""
    (kh, kw), (sh, sw) = pool, stride
    n, c, h, wd = x.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    y, idx = np.zeros((n, c, oh, ow), x.dtype), np.zeros((n, c, oh, ow), np.int64)
    for a in range(n):
        for ch in range(c):
            for r in range(oh):
                for s in range(ow):
                    best, where = -np.inf, None
                    for i in range(kh):
                        for j in range(kw):
                            v = x[a, ch, r * sh + i, s * sw + j]
                            if where is None or v > best:
                                best, where = v, (r * sh + i) * wd + s * sw + j
                    y[a, ch, r, s], idx[a, ch, r, s] = best, where
    return y, idx


# (N, C, H, W, pool, stride)
POOL_SHAPES = [
    (2, 3, 8, 8, 2, None),
    (1, 1, 5, 7, (2, 3), None),          # rectangular, leftover rows/columns dropped
    (2, 2, 7, 7, 3, 2),                  # overlapping windows
    (2, 2, 6, 9, (2, 3), (1, 2)),
    (1, 2, 4, 4, 4, 1),                  # window equal to the input
    (0, 3, 4, 4, 2, None),               # empty batch
    (2, 0, 4, 4, 2, None),               # no channels
    (64, 16, 16, 16, 2, None),           # large enough for the parallel path
]


# -- agreement with naive loops ------------------------------------------------------------------

@pytest.mark.parametrize("shape", POOL_SHAPES, ids=str)
def test_maxpool_matches_naive_loops(backend, dtype, shape):
    n, c, h, wd, pool, stride = shape
    # Rounded values create ties, which must go to the first element of the window.
    x = np.round(np.random.default_rng(0).standard_normal((n, c, h, wd)) * 2).astype(dtype)
    y, idx = backend.maxpool2d_forward(x, pool, stride)
    pool2 = pool if isinstance(pool, tuple) else (pool, pool)
    stride2 = pool2 if stride is None else (stride if isinstance(stride, tuple)
                                            else (stride, stride))
    ref_y, ref_idx = naive_maxpool(x, pool2, stride2)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(idx, ref_idx)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx = backend.maxpool2d_backward(dy, idx, x.shape)
    want = np.zeros((n * c, h * wd), dtype)
    for q in range(n * c):
        for p, i in enumerate(ref_idx.reshape(n * c, y.shape[2] * y.shape[3])[q]):
            want[q, i] += dy.reshape(n * c, -1)[q, p]   # overlapping windows accumulate
    np.testing.assert_allclose(dx, want.reshape(x.shape), rtol=1e-6)


# -- gradients (central finite differences, float64) ---------------------------------------------

@pytest.mark.parametrize(("pool", "stride"), [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_maxpool_backward_finite_differences(backend, pool, stride):
    # Distinct, well-separated values: the max is not at a kink of the finite difference.
    x = np.random.default_rng(2).permutation(2 * 2 * 7 * 8).astype(np.float64).reshape(
        2, 2, 7, 8) * 0.1
    y, idx = backend.maxpool2d_forward(x, pool, stride)
    g = np.random.default_rng(3).standard_normal(y.shape)

    def loss():
        return float(np.sum(backend.maxpool2d_forward(x, pool, stride)[0] * g))

    check_gradient(loss, x, backend.maxpool2d_backward(g, idx, x.shape))


# -- layouts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(backend, reference, layout, dtype):
    """x, dy and argmax in C order, Fortran order or strided: the results of C-ordered inputs."""
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 8)).astype(dtype)
    y, idx = reference.maxpool2d_forward(x, 3, 2)
    got_y, got_idx = backend.maxpool2d_forward(with_layout(x, layout), 3, 2)
    np.testing.assert_array_equal(got_y, y)
    np.testing.assert_array_equal(got_idx, idx)
    dy = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
    dx = backend.maxpool2d_backward(with_layout(dy, layout), with_layout(idx, layout), x.shape)
    np.testing.assert_array_equal(dx, reference.maxpool2d_backward(dy, idx, x.shape))


# -- empty inputs (N = 0 and C = 0 are in POOL_SHAPES) --------------------------------------------

def test_maxpool_backward_empty(backend, dtype):
    dx = backend.maxpool2d_backward(np.zeros((0, 3, 2, 2), dtype), np.zeros((0, 3, 2, 2),
                                    np.int64), (0, 3, 4, 4))
    assert dx.shape == (0, 3, 4, 4) and dx.dtype == dtype


# -- NaN -----------------------------------------------------------------------------------------

def test_maxpool_nan_propagates(backend):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    y, idx = backend.maxpool2d_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 4
    np.testing.assert_array_equal(y[0, 0, 1], [13.0, 15.0])


@pytest.mark.parametrize("pool,stride", [(2, 2), (2, 1), (3, 2), ((1, 3), 1)], ids=str)
def test_maxpool_ties_and_nans_pick_the_first(backend, reference, dtype, pool, stride):
    """Ties and NaNs everywhere (small integers, a NaN in one value of eight): the first maximum
    or the first NaN in row-major window order, as np.argmax, for the 2 x 2 tree and the scan."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (3, 4, 7, 9)).astype(dtype)
    x[rng.random(x.shape) < 0.125] = np.nan
    y, idx = backend.maxpool2d_forward(x, pool, stride)
    y_ref, idx_ref = reference.maxpool2d_forward(x, pool, stride)
    np.testing.assert_array_equal(idx, idx_ref)
    np.testing.assert_array_equal(y, y_ref)


# -- validation: the same error from every backend, naming the argument --------------------------

X = np.zeros((2, 3, 4, 4))
# maxpool2d_forward(X, 2): zeros, and each window's first element (checked below).
Y = np.zeros((2, 3, 2, 2))
IDX = np.ascontiguousarray(np.broadcast_to(np.array([[0, 2], [8, 10]]), (2, 3, 2, 2)))

# (call, exception, words the message must contain)
BAD_CALLS = [
    (lambda be: be.maxpool2d_forward(X, 5), ValueError,
     [re.compile("pool of size .* is larger than the padded input")]),
    (lambda be: be.maxpool2d_forward(X, 0), ValueError, ["pool must be >= 1"]),
    (lambda be: be.maxpool2d_forward(X, 2, (0, 1)), ValueError, ["stride must be >= 1"]),
    (lambda be: be.maxpool2d_forward(np.zeros((3, 4, 4)), 2), ValueError, ["x must be 4-D"]),
    (lambda be: be.maxpool2d_forward(np.zeros((2, 3, 4, 4), np.int32), 2), TypeError,
     ["x must be a float32 or float64"]),
    (lambda be: be.maxpool2d_backward(Y, IDX.astype(np.int32), X.shape), TypeError,
     ["argmax must be the int64 array"]),
    (lambda be: be.maxpool2d_backward(Y, IDX[:, :, :1], X.shape), ValueError,
     ["argmax has shape"]),
    (lambda be: be.maxpool2d_backward(Y, IDX + 16, X.shape), ValueError,
     ["argmax holds indices outside"]),
    (lambda be: be.maxpool2d_backward(Y, IDX, (2, 3, 4)), ValueError, ["x_shape must be a shape"]),
    (lambda be: be.maxpool2d_backward(Y, IDX, (2, 4, 4, 4)), ValueError, ["N and C must agree"]),
    (lambda be: be.maxpool2d_backward(Y[0], IDX, X.shape), ValueError, ["dy must be 4-D"]),
]


def test_argmax_fixture_is_that_of_the_forward(reference):
    """The argmax the table's calls pass is the one maxpool2d_forward returns for X."""
    y, idx = reference.maxpool2d_forward(X, 2)
    np.testing.assert_array_equal(idx, IDX)
    np.testing.assert_array_equal(y, Y)


@pytest.mark.parametrize("call,exc,words", BAD_CALLS)
def test_bad_input_raises_same_error_everywhere(call, exc, words) -> None:
    assert_same_error(call, exc, words)

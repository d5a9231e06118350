"""conv2d_forward / conv2d_backward of every backend: naive loops and the numpy reference
(hypothesis over shapes, strides, padding, dtypes), a large batch on the parallel path, finite
differences, layouts, empty inputs, NaN and validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkernels.gradcheck import check_gradient
from nnkernels.testing import LAYOUTS, assert_close, with_layout

from .helpers import assert_same_error, conv_case

DTYPES = (np.float32, np.float64)


def naive_conv_forward(x, w, b, stride, padding):
    """Deliberately plain loops: y[n,f,r,s] = b[f] + sum_cij xpad[n,c,r*sh+i,s*sw+j] w[f,c,i,j]."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, f, oh, ow))
    for a in range(n):
        for k in range(f):
            for r in range(oh):
                for s in range(ow):
                    total = 0.0 if b is None else float(b[k])
                    for ch in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                total += xp[a, ch, r * sh + i, s * sw + j] * w[k, ch, i, j]
                    y[a, k, r, s] = total
    return y


def naive_conv_backward(x, w, dy, stride, padding):
    """The same loops, each product's gradient added to both of its factors."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    dxp, dw = np.zeros_like(xp), np.zeros(w.shape)
    for a in range(n):
        for k in range(f):
            for r in range(dy.shape[2]):
                for s in range(dy.shape[3]):
                    g = dy[a, k, r, s]
                    for ch in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                dxp[a, ch, r * sh + i, s * sw + j] += g * w[k, ch, i, j]
                                dw[k, ch, i, j] += g * xp[a, ch, r * sh + i, s * sw + j]
    db = dy.sum(axis=(0, 2, 3))
    return dxp[:, :, ph:ph + h, pw:pw + wd], dw, db


# (N, C, H, W, F, KH, KW, stride, padding)
SHAPES = [
    (2, 3, 7, 7, 4, 3, 3, 1, 1),
    (1, 1, 5, 5, 1, 3, 3, 1, 0),            # N = C = F = 1
    (2, 2, 6, 9, 3, 2, 4, 1, 0),            # rectangular image and kernel
    (3, 2, 9, 8, 2, 3, 2, 2, 1),            # stride 2
    (2, 1, 10, 11, 3, 3, 3, 3, 2),          # stride 3, padding 2
    (2, 2, 7, 6, 2, 3, 3, (1, 2), (2, 0)),  # stride and padding as pairs
    (2, 3, 4, 5, 2, 4, 5, 1, 0),            # kernel equal to the input: one output pixel
    (1, 2, 3, 3, 2, 5, 7, 2, (1, 2)),       # kernel equal to the padded input
    (2, 2, 5, 5, 1, 1, 1, 2, 2),            # 1x1 kernel reading only padding at the edge
    (0, 2, 5, 5, 3, 3, 3, 1, 1),            # empty batch
    (2, 3, 0, 5, 4, 1, 3, 1, 1),            # no image rows: the output sees only padding
    (2, 2, 3, 0, 2, 3, 1, 1, (0, 1)),       # no image columns
]


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


# -- agreement with naive loops and the reference ------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_conv2d_matches_naive_loops(backend, dtype, shape):
    x, w, b, stride, padding = conv_case(shape, dtype)
    y = backend.conv2d_forward(x, w, b, stride, padding)
    assert y.dtype == dtype
    ref = naive_conv_forward(x, w, b, pair(stride), pair(padding))
    assert_close(y, ref, scale=1, dtype=dtype)
    assert_close(backend.conv2d_forward(x, w, None, stride, padding),
                 naive_conv_forward(x, w, None, pair(stride), pair(padding)), scale=1,
                 dtype=dtype)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = backend.conv2d_backward(x, w, dy, stride, padding)
    assert (dx.dtype, dw.dtype, db.dtype) == (dtype, dtype, dtype)
    for got, want in zip((dx, dw, db), naive_conv_backward(x, w, dy, pair(stride),
                                                            pair(padding)), strict=True):
        assert_close(got, want, scale=1, dtype=dtype)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 3), c=st.integers(1, 4), h=st.integers(1, 12), wd=st.integers(1, 12),
       f=st.integers(1, 5), kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3),
       sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       dtype=st.sampled_from(DTYPES), bias=st.booleans())
def test_conv2d_matches_numpy_reference(backend, reference, n, c, h, wd, f, kh, kw, sh, sw, ph,
                                        pw, dtype, bias):
    kh, kw = min(kh, h + 2 * ph), min(kw, wd + 2 * pw)
    x, w, b, _, _ = conv_case((n, c, h, wd, f, kh, kw, 1, 0), dtype)
    b = b if bias else None
    y = backend.conv2d_forward(x, w, b, (sh, sw), (ph, pw))
    assert_close(y, reference.conv2d_forward(x, w, b, (sh, sw), (ph, pw)), scale=1)
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    for got, want in zip(backend.conv2d_backward(x, w, dy, (sh, sw), (ph, pw)),
                         reference.conv2d_backward(x, w, dy, (sh, sw), (ph, pw)), strict=True):
        assert_close(got, want, scale=1)


def test_conv2d_large_batch_parallel_path_matches_reference(backend, reference):
    # Big enough for the numba backend's chunked parallel path; float32 like the benchmarks.
    x, w, b, stride, padding = conv_case((24, 8, 16, 16, 16, 3, 3, 1, 1), np.float32)
    y = backend.conv2d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(y, reference.conv2d_forward(x, w, b, stride, padding), rtol=1e-4,
                               atol=1e-4)
    dy = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    for got, want in zip(backend.conv2d_backward(x, w, dy, stride, padding),
                         reference.conv2d_backward(x, w, dy, stride, padding), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


# -- gradients (central finite differences, float64) ---------------------------------------------

@pytest.mark.parametrize("shape", [(2, 2, 5, 6, 3, 3, 2, 2, 1), (1, 1, 4, 4, 2, 4, 4, 1, 0)],
                         ids=str)
def test_conv2d_backward_finite_differences(backend, shape):
    x, w, b, stride, padding = conv_case(shape, np.float64, seed=5)
    g = np.random.default_rng(6).standard_normal(backend.conv2d_forward(x, w, b, stride,
                                                                          padding).shape)

    def loss():
        return float(np.sum(backend.conv2d_forward(x, w, b, stride, padding) * g))

    dx, dw, db = backend.conv2d_backward(x, w, g, stride, padding)
    check_gradient(loss, x, dx)
    check_gradient(loss, w, dw)
    check_gradient(loss, b, db)


# -- layouts -------------------------------------------------------------------------------------

def test_conv2d_noncontiguous_inputs(backend):
    x, w, b, stride, padding = conv_case((2, 3, 6, 7, 4, 3, 3, 1, 1), np.float64)
    x_t = np.ascontiguousarray(x.transpose(3, 2, 1, 0)).transpose(3, 2, 1, 0)  # F-ordered view
    w_s = np.repeat(w, 2, axis=3)[..., ::2]                                     # strided view
    assert not x_t.flags.c_contiguous and not w_s.flags.c_contiguous
    want = naive_conv_forward(x, w, b, (1, 1), (1, 1))
    assert_close(backend.conv2d_forward(x_t, w_s, b, 1, 1), want, scale=0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(backend, reference, layout, dtype):
    """x, w, b and dy in C order, Fortran order or strided: the results of C-ordered inputs."""
    x, w, b, stride, padding = conv_case((3, 2, 7, 6, 3, 3, 2, 2, 1), dtype, seed=8)
    y = reference.conv2d_forward(x, w, b, stride, padding)
    dy = np.random.default_rng(9).standard_normal(y.shape).astype(dtype)
    lx, lw, lb, ldy = (with_layout(a, layout) for a in (x, w, b, dy))
    assert_close(backend.conv2d_forward(lx, lw, lb, stride, padding), y, scale=1)
    for got, want in zip(backend.conv2d_backward(lx, lw, ldy, stride, padding),
                         reference.conv2d_backward(x, w, dy, stride, padding), strict=True):
        assert_close(got, want, scale=1)


# -- empty inputs (N = 0, H = 0, W = 0 are in SHAPES) ---------------------------------------------

def test_conv2d_empty_batch_gradients(backend, dtype):
    x, w, b, stride, padding = conv_case((0, 2, 5, 5, 3, 3, 3, 1, 1), dtype)
    dx, dw, db = backend.conv2d_backward(x, w, np.zeros((0, 3, 5, 5), dtype), stride, padding)
    assert dx.shape == (0, 2, 5, 5) and dx.dtype == dtype
    np.testing.assert_array_equal(dw, np.zeros(w.shape))
    np.testing.assert_array_equal(db, np.zeros(3))


# -- NaN -----------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_conv2d_nan_propagates(backend):
    x, w, b, _, _ = conv_case((1, 1, 5, 5, 1, 3, 3, 1, 0), np.float64)
    x[0, 0, 2, 2] = np.nan
    y = backend.conv2d_forward(x, w, b)
    assert np.isnan(y).all()        # every 3x3 window of a 5x5 image covers the centre
    x[0, 0, 2, 2] = np.inf
    w[0, 0, 0, 0] = 0.0             # inf * 0 = NaN where the kernel corner meets it
    assert np.isnan(backend.conv2d_forward(x, w, b)[0, 0, 2, 2])


# -- validation: the same error from every backend, naming the argument --------------------------

BAD_CONV = [
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 2, 3, 3))),
     ValueError, "x has 3 channels but w has 2"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 6, 3))),
     ValueError, "larger than the padded input"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 8, 3)), padding=1),
     ValueError, "larger than the padded input"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 3, 3)), stride=0),
     ValueError, "stride must be >= 1"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 3, 3)), stride=(1, 0)),
     ValueError, "stride must be >= 1"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 3, 3)), padding=-1),
     ValueError, "padding must be >= 0"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 3, 3)), padding=(1, 2, 3)),
     ValueError, "padding must be an int or a pair"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 3, 3)), stride=1.5),
     ValueError, "stride must be an int or a pair"),
    (dict(x=np.zeros((3, 5, 5)), w=np.zeros((4, 3, 3, 3))), ValueError, "x must be 4-D"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((3, 3, 3))), ValueError, "w must be 4-D"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 3, 3)), b=np.zeros(3)),
     ValueError, "b has 3 entries but w has 4 filters"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((4, 3, 3, 3)), b=np.zeros((4, 1))),
     ValueError, "b must be 1-D"),
    (dict(x=np.zeros((2, 3, 5, 5), np.float32), w=np.zeros((4, 3, 3, 3))),
     TypeError, "x has dtype float32 but w has dtype float64"),
    (dict(x=np.zeros((2, 3, 5, 5), np.int64), w=np.zeros((4, 3, 3, 3))),
     TypeError, "x must be a float32 or float64"),
    (dict(x=np.zeros((2, 3, 5, 5)), w=np.zeros((0, 3, 3, 3))),
     ValueError, "w must have F, C, KH, KW >= 1"),
]


@pytest.mark.parametrize(("kwargs", "exc", "msg"), BAD_CONV, ids=lambda p: str(p)[:40])
def test_conv2d_bad_input(kwargs, exc, msg):
    assert_same_error(lambda be: be.conv2d_forward(**kwargs), exc, [msg])
    if "b" in kwargs:
        return  # conv2d_backward takes no bias
    # dy of the right shape: the error must come from x, w, stride or padding.
    dy = np.zeros((2, 4, 3, 3))
    assert_same_error(lambda be: be.conv2d_backward(dy=dy, **kwargs), exc, [msg])


X, W, B = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4)

BAD_CALLS = [
    # padding 0: the output is 3x3
    (lambda be: be.conv2d_backward(X, W, np.zeros((2, 4, 5, 5))), ValueError,
     ["dy has shape (2, 4, 5, 5) but the conv2d output"]),
    (lambda be: be.conv2d_backward(X, W, np.zeros((2, 4, 9))), ValueError, ["dy must be 4-D"]),
    (lambda be: be.conv2d_backward(X, W, np.zeros((2, 4, 3, 3), np.float32)), TypeError,
     ["x has dtype float64 but dy has dtype float32"]),
    (lambda be: be.conv2d_forward(X, W, B, 1, 1, out=np.empty((2, 4, 5, 4))), ValueError,
     ["out has shape"]),
    (lambda be: be.conv2d_forward(X, W, B, 1, 1, out=np.empty((2, 4, 5, 5), np.float32)),
     TypeError, ["out has dtype"]),
]


@pytest.mark.parametrize("call,exc,words", BAD_CALLS)
def test_bad_input_raises_same_error_everywhere(call, exc, words) -> None:
    assert_same_error(call, exc, words)

"""conv2d forward/backward of every backend against a naive loop version and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkernels import available_backends, get_backend
from nnkernels.gradcheck import check_gradient

BACKENDS = available_backends()
DTYPES = (np.float32, np.float64)
TOL = {np.float32: {"rtol": 2e-4, "atol": 2e-4}, np.float64: {"rtol": 1e-10, "atol": 1e-10}}


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
]


def make_case(shape, dtype, seed=0):
    n, c, h, wd, f, kh, kw, stride, padding = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, w, b, stride, padding


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_conv2d_matches_naive_loops(backend, dtype, shape):
    be = get_backend(backend)
    x, w, b, stride, padding = make_case(shape, dtype)
    y = be.conv2d_forward(x, w, b, stride, padding)
    assert y.dtype == dtype
    ref = naive_conv_forward(x, w, b, pair(stride), pair(padding))
    np.testing.assert_allclose(y, ref, **TOL[dtype])
    np.testing.assert_allclose(be.conv2d_forward(x, w, None, stride, padding),
                               naive_conv_forward(x, w, None, pair(stride), pair(padding)),
                               **TOL[dtype])
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = be.conv2d_backward(x, w, dy, stride, padding)
    assert (dx.dtype, dw.dtype, db.dtype) == (dtype, dtype, dtype)
    for got, want in zip((dx, dw, db), naive_conv_backward(x, w, dy, pair(stride),
                                                            pair(padding)), strict=True):
        np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 3), c=st.integers(1, 4), h=st.integers(1, 12), wd=st.integers(1, 12),
       f=st.integers(1, 5), kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3),
       sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       dtype=st.sampled_from(DTYPES), bias=st.booleans())
def test_conv2d_matches_numpy_reference(backend, n, c, h, wd, f, kh, kw, sh, sw, ph, pw, dtype,
                                        bias):
    kh, kw = min(kh, h + 2 * ph), min(kw, wd + 2 * pw)
    x, w, b, _, _ = make_case((n, c, h, wd, f, kh, kw, 1, 0), dtype)
    b = b if bias else None
    ref, be = get_backend("numpy"), get_backend(backend)
    y = be.conv2d_forward(x, w, b, (sh, sw), (ph, pw))
    np.testing.assert_allclose(y, ref.conv2d_forward(x, w, b, (sh, sw), (ph, pw)), **TOL[dtype])
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    for got, want in zip(be.conv2d_backward(x, w, dy, (sh, sw), (ph, pw)),
                         ref.conv2d_backward(x, w, dy, (sh, sw), (ph, pw)), strict=True):
        np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_large_batch_parallel_path_matches_reference(backend):
    # Big enough for the numba backend's chunked parallel path; float32 like the benchmarks.
    x, w, b, stride, padding = make_case((24, 8, 16, 16, 16, 3, 3, 1, 1), np.float32)
    ref, be = get_backend("numpy"), get_backend(backend)
    y = be.conv2d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(y, ref.conv2d_forward(x, w, b, stride, padding), rtol=1e-4,
                               atol=1e-4)
    dy = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    for got, want in zip(be.conv2d_backward(x, w, dy, stride, padding),
                         ref.conv2d_backward(x, w, dy, stride, padding), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(2, 2, 5, 6, 3, 3, 2, 2, 1), (1, 1, 4, 4, 2, 4, 4, 1, 0)],
                         ids=str)
def test_conv2d_backward_finite_differences(backend, shape):
    be = get_backend(backend)
    x, w, b, stride, padding = make_case(shape, np.float64, seed=5)
    g = np.random.default_rng(6).standard_normal(be.conv2d_forward(x, w, b, stride,
                                                                     padding).shape)

    def loss():
        return float(np.sum(be.conv2d_forward(x, w, b, stride, padding) * g))

    dx, dw, db = be.conv2d_backward(x, w, g, stride, padding)
    check_gradient(loss, x, dx)
    check_gradient(loss, w, dw)
    check_gradient(loss, b, db)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_noncontiguous_inputs_and_out(backend):
    be = get_backend(backend)
    x, w, b, stride, padding = make_case((2, 3, 6, 7, 4, 3, 3, 1, 1), np.float64)
    x_t = np.ascontiguousarray(x.transpose(3, 2, 1, 0)).transpose(3, 2, 1, 0)  # F-ordered view
    w_s = np.repeat(w, 2, axis=3)[..., ::2]                                     # strided view
    assert not x_t.flags.c_contiguous and not w_s.flags.c_contiguous
    want = naive_conv_forward(x, w, b, (1, 1), (1, 1))
    np.testing.assert_allclose(be.conv2d_forward(x_t, w_s, b, 1, 1), want, rtol=1e-10)
    out = np.full((2, 4, 6, 7), np.nan)
    assert be.conv2d_forward(x, w, b, 1, 1, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-10)
    with pytest.raises(ValueError, match="out has shape"):
        be.conv2d_forward(x, w, b, 1, 1, out=np.empty((2, 4, 6, 6)))
    with pytest.raises(TypeError, match="out has dtype"):
        be.conv2d_forward(x, w, b, 1, 1, out=np.empty((2, 4, 6, 7), np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_does_not_mutate_inputs(backend):
    be = get_backend(backend)
    x, w, b, stride, padding = make_case((3, 2, 6, 6, 3, 3, 3, 1, 1), np.float32)
    dy = np.ones((3, 3, 6, 6), np.float32)
    copies = [a.copy() for a in (x, w, b, dy)]
    be.conv2d_forward(x, w, b, stride, padding)
    be.conv2d_backward(x, w, dy, stride, padding)
    for a, c in zip((x, w, b, dy), copies, strict=True):
        np.testing.assert_array_equal(a, c)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_nan_propagates(backend):
    be = get_backend(backend)
    x, w, b, _, _ = make_case((1, 1, 5, 5, 1, 3, 3, 1, 0), np.float64)
    x[0, 0, 2, 2] = np.nan
    y = be.conv2d_forward(x, w, b)
    assert np.isnan(y).all()        # every 3x3 window of a 5x5 image covers the centre
    x[0, 0, 2, 2] = np.inf
    w[0, 0, 0, 0] = 0.0             # inf * 0 = NaN where the kernel corner meets it
    assert np.isnan(be.conv2d_forward(x, w, b)[0, 0, 2, 2])


def test_conv2d_numba_bitwise_equal_for_any_thread_count():
    numba = pytest.importorskip("numba")
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    be = get_backend("numba")
    # 24*16*256*72 multiply-adds: above the numba backend's parallel threshold.
    x, w, b, stride, padding = make_case((24, 8, 16, 16, 16, 3, 3, 1, 1), np.float32)
    dy = np.random.default_rng(4).standard_normal((24, 16, 16, 16)).astype(np.float32)
    before = numba.get_num_threads()
    try:
        results = []
        for threads in (1, numba.config.NUMBA_NUM_THREADS, 1):
            numba.set_num_threads(threads)
            results.append((be.conv2d_forward(x, w, b, stride, padding),
                            *be.conv2d_backward(x, w, dy, stride, padding)))
    finally:
        numba.set_num_threads(before)
    for other in results[1:]:
        for a, c in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, c)


# -- bad input: the same error from every backend ------------------------------------------------

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


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kwargs", "exc", "msg"), BAD_CONV, ids=lambda p: str(p)[:40])
def test_conv2d_bad_input(backend, kwargs, exc, msg):
    be = get_backend(backend)
    with pytest.raises(exc, match=msg):
        be.conv2d_forward(**kwargs)
    if "b" in kwargs:
        return  # conv2d_backward takes no bias
    # dy of the right shape: the error must come from x, w, stride or padding.
    dy = np.zeros((2, 4, 3, 3))
    with pytest.raises(exc, match=msg):
        be.conv2d_backward(dy=dy, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_backward_bad_dy(backend):
    be = get_backend(backend)
    x, w = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"dy has shape \(2, 4, 5, 5\) but the conv2d output"):
        be.conv2d_backward(x, w, np.zeros((2, 4, 5, 5)))       # padding 0: output is 3x3
    with pytest.raises(ValueError, match="dy must be 4-D"):
        be.conv2d_backward(x, w, np.zeros((2, 4, 9)))
    with pytest.raises(TypeError, match="x has dtype float64 but dy has dtype float32"):
        be.conv2d_backward(x, w, np.zeros((2, 4, 3, 3), np.float32))

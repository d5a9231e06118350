"""max-pool, softmax cross-entropy and momentum SGD of every backend: loops, finite differences,
errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkernels import available_backends, get_backend
from nnkernels.gradcheck import check_gradient

BACKENDS = available_backends()
DTYPES = (np.float32, np.float64)


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
    (64, 16, 16, 16, 2, None),           # large enough for the parallel path
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", POOL_SHAPES, ids=str)
def test_maxpool_matches_naive_loops(backend, dtype, shape):
    n, c, h, wd, pool, stride = shape
    be = get_backend(backend)
    # Rounded values create ties, which must go to the first element of the window.
    x = np.round(np.random.default_rng(0).standard_normal((n, c, h, wd)) * 2).astype(dtype)
    y, idx = be.maxpool2d_forward(x, pool, stride)
    pool2 = pool if isinstance(pool, tuple) else (pool, pool)
    stride2 = pool2 if stride is None else (stride if isinstance(stride, tuple)
                                            else (stride, stride))
    ref_y, ref_idx = naive_maxpool(x, pool2, stride2)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(idx, ref_idx)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx = be.maxpool2d_backward(dy, idx, x.shape)
    want = np.zeros((n * c, h * wd), dtype)
    for q in range(n * c):
        for p, i in enumerate(ref_idx.reshape(n * c, y.shape[2] * y.shape[3])[q]):
            want[q, i] += dy.reshape(n * c, -1)[q, p]   # overlapping windows accumulate
    np.testing.assert_allclose(dx, want.reshape(x.shape), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("pool", "stride"), [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_maxpool_backward_finite_differences(backend, pool, stride):
    be = get_backend(backend)
    # Distinct, well-separated values: the max is not at a kink of the finite difference.
    x = np.random.default_rng(2).permutation(2 * 2 * 7 * 8).astype(np.float64).reshape(
        2, 2, 7, 8) * 0.1
    y, idx = be.maxpool2d_forward(x, pool, stride)
    g = np.random.default_rng(3).standard_normal(y.shape)

    def loss():
        return float(np.sum(be.maxpool2d_forward(x, pool, stride)[0] * g))

    check_gradient(loss, x, be.maxpool2d_backward(g, idx, x.shape))


@pytest.mark.parametrize("backend", BACKENDS)
def test_maxpool_nan_propagates_and_inputs_untouched(backend):
    be = get_backend(backend)
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    x_copy = x.copy()
    y, idx = be.maxpool2d_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 4
    np.testing.assert_array_equal(y[0, 0, 1], [13.0, 15.0])
    np.testing.assert_array_equal(x, x_copy)
    dy = np.ones_like(y)
    idx_copy = idx.copy()
    be.maxpool2d_backward(dy, idx, x.shape)
    np.testing.assert_array_equal(idx, idx_copy)
    np.testing.assert_array_equal(dy, np.ones_like(y))


@pytest.mark.parametrize("backend", BACKENDS)
def test_maxpool_bad_input(backend):
    be = get_backend(backend)
    x = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match="pool of size .* is larger than the padded input"):
        be.maxpool2d_forward(x, 5)
    with pytest.raises(ValueError, match="pool must be >= 1"):
        be.maxpool2d_forward(x, 0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        be.maxpool2d_forward(x, 2, (0, 1))
    with pytest.raises(ValueError, match="x must be 4-D"):
        be.maxpool2d_forward(np.zeros((3, 4, 4)), 2)
    with pytest.raises(TypeError, match="x must be a float32 or float64"):
        be.maxpool2d_forward(np.zeros((2, 3, 4, 4), np.int32), 2)
    y, idx = be.maxpool2d_forward(x, 2)
    with pytest.raises(TypeError, match="argmax must be the int64 array"):
        be.maxpool2d_backward(y, idx.astype(np.int32), x.shape)
    with pytest.raises(ValueError, match="argmax has shape"):
        be.maxpool2d_backward(y, idx[:, :, :1], x.shape)
    with pytest.raises(ValueError, match="argmax holds indices outside"):
        be.maxpool2d_backward(y, idx + 16, x.shape)
    with pytest.raises(ValueError, match="x_shape must be a shape"):
        be.maxpool2d_backward(y, idx, (2, 3, 4))
    with pytest.raises(ValueError, match="N and C must agree"):
        be.maxpool2d_backward(y, idx, (2, 4, 4, 4))
    with pytest.raises(ValueError, match="dy must be 4-D"):
        be.maxpool2d_backward(y[0], idx, x.shape)


# -- softmax cross-entropy -------------------------------------------------------------------------

def naive_softmax_ce(logits, labels):
    """Per row in float64 through math.log-sum-exp, the textbook way."""
    z = logits.astype(np.float64)
    lse = z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1))
    loss = float(np.mean(lse - z[np.arange(len(z)), labels]))
    grad = np.exp(z - lse[:, None])
    grad[np.arange(len(z)), labels] -= 1
    return loss, grad / len(z)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 12), scale=st.sampled_from([1.0, 30.0, 1e4]),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_softmax_ce_matches_naive(backend, n, k, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * scale).astype(dtype)
    labels = rng.integers(0, k, n)
    loss, grad = get_backend(backend).softmax_cross_entropy(logits, labels)
    want_loss, want_grad = naive_softmax_ce(logits, labels)
    assert isinstance(loss, float) and np.isfinite(loss) and grad.dtype == dtype
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(loss, want_loss, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol / n)


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_ce_large_logits_stable(backend):
    be = get_backend(backend)
    logits = np.array([[1e4, 0.0, -1e4], [3e38, 3e38, 0.0]], np.float32)
    loss, grad = be.softmax_cross_entropy(logits, [0, 2])
    assert np.isfinite(loss) and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, 0.5 * 3e38, rtol=1e-5)   # row 2: -log(exp(-3e38) / 2)
    np.testing.assert_allclose(grad, [[0, 0, 0], [0.25, 0.25, -0.5]], atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_ce_finite_differences_and_parallel_path(backend):
    be = get_backend(backend)
    rng = np.random.default_rng(7)
    logits, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    _, grad = be.softmax_cross_entropy(logits, labels)
    check_gradient(lambda: be.softmax_cross_entropy(logits, labels)[0], logits, grad)
    big = rng.standard_normal((30_000, 10)).astype(np.float32)   # above numba's serial threshold
    big_labels = rng.integers(0, 10, 30_000)
    got = be.softmax_cross_entropy(big, big_labels)
    want = get_backend("numpy").softmax_cross_entropy(big, big_labels)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_ce_empty_nan_out_and_untouched(backend):
    be = get_backend(backend)
    loss, grad = be.softmax_cross_entropy(np.zeros((0, 4)), np.zeros(0, np.int64))
    assert loss == 0.0 and grad.shape == (0, 4)
    logits = np.array([[1.0, np.nan], [1.0, 2.0]])
    labels = np.array([0, 1])
    copies = logits.copy(), labels.copy()
    out = np.empty((2, 2))
    loss, grad = be.softmax_cross_entropy(logits, labels, out=out)
    assert grad is out and np.isnan(loss) and np.isnan(grad[0]).all()
    assert np.isfinite(grad[1]).all()
    np.testing.assert_array_equal(logits, copies[0])
    np.testing.assert_array_equal(labels, copies[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_ce_bad_input(backend):
    be = get_backend(backend)
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        be.softmax_cross_entropy(logits, [0, 1, 4])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        be.softmax_cross_entropy(logits, [0, -1, 2])
    with pytest.raises(ValueError, match="labels has 2 entries but logits has 3 rows"):
        be.softmax_cross_entropy(logits, [0, 1])
    with pytest.raises(ValueError, match="labels must be 1-D"):
        be.softmax_cross_entropy(logits, [[0], [1], [2]])
    with pytest.raises(TypeError, match="labels must be an integer array"):
        be.softmax_cross_entropy(logits, [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="labels must be an integer array"):
        be.softmax_cross_entropy(logits, [True, False, True])
    with pytest.raises(ValueError, match="logits must be 2-D"):
        be.softmax_cross_entropy(np.zeros(4), [0])
    with pytest.raises(ValueError, match="logits must have at least one column"):
        be.softmax_cross_entropy(np.zeros((3, 0)), [0, 0, 0])
    with pytest.raises(TypeError, match="logits must be a float32 or float64"):
        be.softmax_cross_entropy(np.zeros((3, 4), np.int64), [0, 0, 0])


# -- SGD with momentum -----------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [0, 7, 250_001])
def test_sgd_momentum_matches_formula(backend, dtype, size):
    rng = np.random.default_rng(8)
    param = rng.standard_normal(size).astype(dtype)
    grad = rng.standard_normal(size).astype(dtype)
    vel = rng.standard_normal(size).astype(dtype)
    want_v = dtype(0.9) * vel - dtype(0.05) * grad
    want_p = param + want_v
    grad_copy = grad.copy()
    assert get_backend(backend).sgd_momentum_update(param, grad, vel, 0.05, 0.9) is None
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(vel, want_v, rtol=tol, atol=tol)
    np.testing.assert_allclose(param, want_p, rtol=tol, atol=tol)
    assert param.dtype == dtype and vel.dtype == dtype
    np.testing.assert_array_equal(grad, grad_copy)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sgd_momentum_noncontiguous_param(backend):
    be = get_backend(backend)
    base = np.arange(12.0).reshape(3, 4)
    param, vel = base.T, np.zeros((4, 3))        # param is a non-contiguous view: updated in place
    be.sgd_momentum_update(param, np.ones((4, 3)), vel, 0.5, 0.0)
    np.testing.assert_array_equal(base, np.arange(12.0).reshape(3, 4) - 0.5)
    np.testing.assert_array_equal(vel, -0.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sgd_momentum_bad_input(backend):
    be = get_backend(backend)
    p, g, v = np.zeros(3), np.zeros(3), np.zeros(3)
    for momentum in (1.0, -0.1, float("nan"), True, "0.9"):
        with pytest.raises(ValueError, match="momentum must be a number in"):
            be.sgd_momentum_update(p, g, v, 0.1, momentum)
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        be.sgd_momentum_update(p, g, v, 0.0, 0.9)
    with pytest.raises(ValueError, match="param has shape .* but velocity has shape"):
        be.sgd_momentum_update(p, g, np.zeros(4), 0.1, 0.9)
    with pytest.raises(TypeError, match="param has dtype float64 but velocity has dtype float32"):
        be.sgd_momentum_update(p, g, np.zeros(3, np.float32), 0.1, 0.9)
    with pytest.raises(TypeError, match="velocity must be a numpy.ndarray"):
        be.sgd_momentum_update(p, g, [0.0, 0.0, 0.0], 0.1, 0.9)
    with pytest.raises(ValueError, match="must not share memory"):
        be.sgd_momentum_update(p, g, p, 0.1, 0.9)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 9, 30_000])
def test_softmax_matches_naive_and_is_stable(backend, dtype, n):
    be = get_backend(backend)
    rng = np.random.default_rng(9)
    logits = (rng.standard_normal((n, 7)) * 50).astype(dtype)
    if n:
        logits[0] = [1e4, 1e4, -1e4, 0, 0, 0, 0]
    copy = logits.copy()
    p = be.softmax(logits)
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True)) if n else z
    want = e / e.sum(axis=1, keepdims=True) if n else z
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert p.dtype == dtype and p.shape == logits.shape
    np.testing.assert_allclose(p, want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(logits, copy)
    if n:
        np.testing.assert_allclose(p[0, :2], 0.5, rtol=tol)
        assert be.softmax(logits, out=logits) is logits      # in place is allowed
        np.testing.assert_allclose(logits, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_bad_input_and_nan(backend):
    be = get_backend(backend)
    p = be.softmax(np.array([[np.nan, 1.0], [1.0, 1.0]]))
    assert np.isnan(p[0]).all() and np.allclose(p[1], 0.5)
    with pytest.raises(ValueError, match="logits must be 2-D"):
        be.softmax(np.zeros(3))
    with pytest.raises(ValueError, match="logits must have at least one column"):
        be.softmax(np.zeros((2, 0)))
    with pytest.raises(TypeError, match="logits must be a float32 or float64"):
        be.softmax(np.zeros((2, 2), np.int8))

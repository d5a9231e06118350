"""Every dense kernel of every backend against the numpy reference (and the reference against
plain numpy expressions), over shapes, dtypes and memory layouts drawn by hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnkernels
from nnkernels.testing import LAYOUTS, assert_close, with_layout

from ..conftest import BACKENDS


@st.composite
def dense_case(draw: st.DrawFn, max_n: int = 300) -> dict:
    """x (N, D), w (D, H), b (H,) or None, dy (N, H), each in a drawn layout and dtype."""
    n = draw(st.one_of(st.sampled_from([0, 1]), st.integers(0, max_n)))
    d = draw(st.one_of(st.just(1), st.integers(1, 24)))  # 24 crosses the BLAS threshold
    h = draw(st.one_of(st.just(1), st.integers(1, 40)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def arr(*shape: int) -> np.ndarray:
        return with_layout(rng.standard_normal(shape).astype(dtype), draw(st.sampled_from(LAYOUTS)))

    b = arr(h) if draw(st.booleans()) else None
    return dict(x=arr(n, d), w=arr(d, h), b=b, dy=arr(n, h))


# Shapes above the parallel and BLAS thresholds, so every jitted path is compared too.
LARGE = [(20_000, 1, 10), (4_000, 3, 64), (6_000, 8, 40), (3_000, 20, 50), (1_000, 64, 300)]


def _large(n: int, d: int, h: int, dtype: type) -> dict:
    rng = np.random.default_rng(n + d + h)
    return dict(x=rng.standard_normal((n, d)).astype(dtype),
                w=rng.standard_normal((d, h)).astype(dtype),
                b=rng.standard_normal(h).astype(dtype),
                dy=rng.standard_normal((n, h)).astype(dtype))


def check_dense(case: dict, backend: nnkernels.Backend, reference: nnkernels.Backend) -> None:
    """All dense kernels of ``backend`` equal the reference's on ``case``."""
    x, w, b, dy = case["x"], case["w"], case["b"], case["dy"]
    n, d = x.shape
    y = reference.linear_forward(x, w, b)
    assert_close(backend.linear_forward(x, w, b), y, d)
    assert_close(backend.linear_relu_forward(x, w, b), np.maximum(y, 0), d)
    got = backend.linear_backward(x, w, dy)
    want = reference.linear_backward(x, w, dy)
    for g, e, k in zip(got, want, (w.shape[1], n, n), strict=True):
        assert_close(g, e, k)
    assert backend.linear_backward(x, w, dy, need_dx=False)[0] is None
    u = case["dy"]
    assert_close(backend.relu_forward(u), reference.relu_forward(u))
    assert_close(backend.relu_backward(x @ w, u), reference.relu_backward(x @ w, u))
    for reduction in ("mean", "sum"):
        loss, dpred = backend.mse_loss(y, u, reduction)
        ref_loss, ref_dpred = reference.mse_loss(y, u, reduction)
        assert isinstance(loss, float)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
        assert_close(dpred, ref_dpred)
    p1, p2 = np.array(w), np.array(w)
    grad = np.flip(w)  # a view with negative strides
    backend.sgd_update(p1, grad, 0.25)
    reference.sgd_update(p2, grad, 0.25)
    assert_close(p1, p2)


@pytest.mark.parametrize("name", BACKENDS)
@given(case=dense_case())
def test_backends_match_reference(name: str, case: dict) -> None:
    check_dense(case, nnkernels.get_backend(name), nnkernels.get_backend("numpy"))


@pytest.mark.parametrize("shape", LARGE, ids=str)
def test_large_shapes_match_reference(backend, reference, shape, dtype) -> None:
    check_dense(_large(*shape, dtype), backend, reference)


@given(case=dense_case(max_n=50))
def test_reference_matches_plain_numpy(case: dict) -> None:
    """The reference is itself checked against the textbook formulas, computed in float64."""
    ref = nnkernels.get_backend("numpy")
    dtype = case["x"].dtype
    x, w, b, dy = (None if a is None else np.asarray(a, np.float64)
                   for a in (case["x"], case["w"], case["b"], case["dy"]))
    y = x @ w + (0 if b is None else b)
    assert_close(ref.linear_forward(case["x"], case["w"], case["b"]), y.astype(dtype), x.shape[1])
    dx, dw, db = ref.linear_backward(case["x"], case["w"], case["dy"])
    assert_close(dx, (dy @ w.T).astype(dtype), w.shape[1])
    assert_close(dw, (x.T @ dy).astype(dtype), x.shape[0])
    assert_close(db, dy.sum(axis=0).astype(dtype), x.shape[0])
    loss, dpred = ref.mse_loss(case["dy"], np.zeros_like(case["dy"]), "sum")
    np.testing.assert_allclose(loss, 0.5 * np.sum(dy**2), rtol=1e-6)


def test_elementwise_any_shape(backend, reference, dtype) -> None:
    """ReLU, loss and SGD are elementwise: any number of dimensions, results in that shape."""
    rng = np.random.default_rng(3)
    u = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    t = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    assert backend.relu_forward(u).shape == u.shape
    assert_close(backend.relu_backward(t, u), reference.relu_backward(t, u))
    assert_close(backend.mse_loss(u, t)[1], reference.mse_loss(u, t)[1])


def test_large_elementwise(backend, reference, dtype) -> None:
    """Above the parallel threshold the elementwise kernels still match."""
    rng = np.random.default_rng(4)
    u = rng.standard_normal(300_001).astype(dtype)
    t = rng.standard_normal(300_001).astype(dtype)
    assert_close(backend.relu_forward(u), reference.relu_forward(u))
    assert_close(backend.relu_backward(t, u), reference.relu_backward(t, u))
    loss, d = backend.mse_loss(u, t)
    ref_loss, ref_d = reference.mse_loss(u, t)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-9)
    assert_close(d, ref_d)
    p, q = u.copy(), u.copy()
    backend.sgd_update(p, t, 0.1)
    reference.sgd_update(q, t, 0.1)
    assert_close(p, q)


def test_empty_batch(backend, dtype) -> None:
    """N = 0: correctly shaped empty results, zero gradients, zero loss."""
    x, w = np.zeros((0, 3), dtype), np.ones((3, 4), dtype)
    dy = np.zeros((0, 4), dtype)
    assert backend.linear_forward(x, w, np.ones(4, dtype)).shape == (0, 4)
    assert backend.linear_relu_forward(x, w).shape == (0, 4)
    dx, dw, db = backend.linear_backward(x, w, dy)
    assert dx.shape == (0, 3) and dx.dtype == dtype
    np.testing.assert_array_equal(dw, np.zeros((3, 4)))
    np.testing.assert_array_equal(db, np.zeros(4))
    loss, dpred = backend.mse_loss(dy, dy)
    assert loss == 0.0 and dpred.shape == (0, 4)
    assert backend.relu_forward(dy).shape == (0, 4)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_and_inf_propagate(backend, dtype) -> None:
    """NaN and inf in the data flow through to the results like numpy's; nothing crashes."""
    x = np.array([[np.nan, 1.0], [np.inf, 0.0], [1.0, 2.0]], dtype)
    w = np.array([[1.0, -1.0], [0.5, 2.0]], dtype)
    y = backend.linear_forward(x, w)
    assert np.isnan(y[0]).all() and np.isposinf(y[1, 0]) and np.isneginf(y[1, 1])
    r = backend.linear_relu_forward(x, w)
    assert np.isnan(r[0]).all() and np.isposinf(r[1, 0]) and r[1, 1] == 0
    assert np.isnan(backend.relu_forward(np.array([np.nan, -1.0], dtype))[0])
    loss, d = backend.mse_loss(np.array([np.nan, 1.0], dtype), np.zeros(2, dtype))
    assert np.isnan(loss) and np.isnan(d[0]) and d[1] == 0.5
    loss, _ = backend.mse_loss(np.array([np.inf], dtype), np.zeros(1, dtype))
    assert np.isposinf(loss)
    _, dw, db = backend.linear_backward(x, w, np.ones((3, 2), dtype))
    assert np.isnan(dw[0]).all() and np.isnan(db).sum() == 0
    p = np.ones(2, dtype)
    backend.sgd_update(p, np.array([np.nan, np.inf], dtype), 0.1)
    assert np.isnan(p[0]) and np.isneginf(p[1])


def test_relu_backward_mask(backend, dtype) -> None:
    """The mask is y > 0: zero where y <= 0 even when da is NaN or inf there."""
    da = np.array([np.nan, np.inf, 2.0, 3.0, np.nan], dtype)
    y = np.array([-1.0, 0.0, 0.0, 1.0, 5.0], dtype)
    out = backend.relu_backward(da, y)
    np.testing.assert_array_equal(out[:4], np.array([0, 0, 0, 3.0], dtype))
    assert np.isnan(out[4])

"""Dense kernels (linear_forward, linear_relu_forward, linear_backward) of every backend: the
numpy reference (and the reference against plain numpy) over shapes, dtypes and layouts drawn by
hypothesis, finite differences, validation, layouts, empty inputs, NaN and inf."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import nnkernels
from nnkernels.gradcheck import check_gradient
from nnkernels.testing import LAYOUTS, assert_close, with_layout

from .helpers import LARGE, assert_same_error, dense_case, large_case


def check_dense(case: dict, backend: nnkernels.Backend, reference: nnkernels.Backend) -> None:
    """The dense kernels of ``backend`` equal the reference's on ``case``."""
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


# -- agreement with the reference ----------------------------------------------------------------

@given(case=dense_case())
def test_backends_match_reference(backend, reference, case: dict) -> None:
    check_dense(case, backend, reference)


@pytest.mark.parametrize("shape", LARGE, ids=str)
def test_large_shapes_match_reference(backend, reference, shape, dtype) -> None:
    check_dense(large_case(*shape, dtype), backend, reference)


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


# -- layouts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(backend, reference, layout, dtype) -> None:
    """Every input in C order, Fortran order or strided: the results of C-ordered inputs."""
    case = large_case(40, 5, 7, dtype)
    check_dense({k: with_layout(a, layout) for k, a in case.items()}, backend, reference)
    x, w, b, dy = (case[k] for k in ("x", "w", "b", "dy"))
    lx, lw, lb, ldy = (with_layout(a, layout) for a in (x, w, b, dy))
    assert_close(backend.linear_forward(lx, lw, lb), backend.linear_forward(x, w, b), 5)
    for got, want, k in zip(backend.linear_backward(lx, lw, ldy),
                            backend.linear_backward(x, w, dy), (7, 40, 40), strict=True):
        assert_close(got, want, k)


# -- empty inputs --------------------------------------------------------------------------------

def test_empty_batch(backend, dtype) -> None:
    """N = 0: correctly shaped empty results, zero gradients."""
    x, w = np.zeros((0, 3), dtype), np.ones((3, 4), dtype)
    dy = np.zeros((0, 4), dtype)
    assert backend.linear_forward(x, w, np.ones(4, dtype)).shape == (0, 4)
    assert backend.linear_relu_forward(x, w).shape == (0, 4)
    dx, dw, db = backend.linear_backward(x, w, dy)
    assert dx.shape == (0, 3) and dx.dtype == dtype
    np.testing.assert_array_equal(dw, np.zeros((3, 4)))
    np.testing.assert_array_equal(db, np.zeros(4))


@pytest.mark.parametrize("need_dx", [True, False])
def test_no_input_features(backend, dtype, need_dx) -> None:
    """D = 0: the output is the bias; db is still the column sums of dy, dx and dw empty."""
    x, w, b = np.zeros((3, 0), dtype), np.zeros((0, 2), dtype), np.array([1.0, -2.0], dtype)
    dy = np.arange(6, dtype=dtype).reshape(3, 2)
    np.testing.assert_array_equal(backend.linear_forward(x, w, b), np.tile(b, (3, 1)))
    np.testing.assert_array_equal(backend.linear_relu_forward(x, w, b), [[1.0, 0.0]] * 3)
    np.testing.assert_array_equal(backend.linear_forward(x, w), np.zeros((3, 2)))
    dx, dw, db = backend.linear_backward(x, w, dy, need_dx=need_dx)
    assert dw.shape == (0, 2) and dw.dtype == dtype
    assert (dx is None) if not need_dx else (dx.shape == (3, 0) and dx.dtype == dtype)
    np.testing.assert_array_equal(db, dy.sum(axis=0))


def test_no_outputs(backend, dtype) -> None:
    """H = 0: empty outputs; dx is zero (no output depends on x), dw and db empty."""
    x, w = np.ones((3, 2), dtype), np.ones((2, 0), dtype)
    assert backend.linear_forward(x, w, np.ones(0, dtype)).shape == (3, 0)
    assert backend.linear_relu_forward(x, w).shape == (3, 0)
    dx, dw, db = backend.linear_backward(x, w, np.ones((3, 0), dtype))
    np.testing.assert_array_equal(dx, np.zeros((3, 2)))
    assert dx.dtype == dtype and dw.shape == (2, 0) and db.shape == (0,)


# -- NaN and inf ---------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_and_inf_propagate(backend, dtype) -> None:
    """NaN and inf in the data flow through to the results like numpy's; nothing crashes."""
    x = np.array([[np.nan, 1.0], [np.inf, 0.0], [1.0, 2.0]], dtype)
    w = np.array([[1.0, -1.0], [0.5, 2.0]], dtype)
    y = backend.linear_forward(x, w)
    assert np.isnan(y[0]).all() and np.isposinf(y[1, 0]) and np.isneginf(y[1, 1])
    r = backend.linear_relu_forward(x, w)
    assert np.isnan(r[0]).all() and np.isposinf(r[1, 0]) and r[1, 1] == 0
    _, dw, db = backend.linear_backward(x, w, np.ones((3, 2), dtype))
    assert np.isnan(dw[0]).all() and np.isnan(db).sum() == 0


# -- gradients (central finite differences, float64) ---------------------------------------------

SHAPES = [(1, 1, 1), (5, 1, 10), (7, 3, 4), (6, 20, 3)]  # D = 20 takes the BLAS path


@pytest.mark.parametrize("n,d,h", SHAPES)
def test_linear_backward_finite_differences(backend, n: int, d: int, h: int) -> None:
    """L = sum(g * (x @ w + b)) has dL/dx = g @ w.T, dL/dw = x.T @ g, dL/db = g.sum(0)."""
    rng = np.random.default_rng(n * 100 + d * 10 + h)
    x, w, b = rng.standard_normal((n, d)), rng.standard_normal((d, h)), rng.standard_normal(h)
    g = rng.standard_normal((n, h))

    def loss() -> float:
        return float(np.sum(g * backend.linear_forward(x, w, b)))

    dx, dw, db = backend.linear_backward(x, w, g)
    check_gradient(loss, x, dx)
    check_gradient(loss, w, dw)
    check_gradient(loss, b, db)


@pytest.mark.parametrize("n,d,h", SHAPES)
def test_linear_relu_chain_finite_differences(backend, n: int, d: int, h: int) -> None:
    """relu_backward composed with linear_backward is the gradient of the fused forward."""
    rng = np.random.default_rng(7 + n + d + h)
    x, w, b = rng.standard_normal((n, d)), rng.standard_normal((d, h)), rng.standard_normal(h)
    g = rng.standard_normal((n, h))

    def loss() -> float:
        return float(np.sum(g * backend.linear_relu_forward(x, w, b)))

    y = backend.linear_relu_forward(x, w, b)
    dx, dw, db = backend.linear_backward(x, w, backend.relu_backward(g, y))
    check_gradient(loss, x, dx)
    check_gradient(loss, w, dw)
    check_gradient(loss, b, db)


# -- validation: the same error from every backend, naming the argument --------------------------

rng = np.random.default_rng(0)
X = rng.standard_normal((5, 3))
W = rng.standard_normal((3, 4))
B = rng.standard_normal(4)
DY = rng.standard_normal((5, 4))

# (call, exception, words the message must contain)
BAD_CALLS = [
    (lambda be: be.linear_forward(X[0], W), ValueError, ["x must be 2-D", "(3,)"]),
    (lambda be: be.linear_forward(X, W[0]), ValueError, ["w must be 2-D"]),
    (lambda be: be.linear_forward(X, W.T), ValueError, ["x has 3 columns but w has 4 rows"]),
    (lambda be: be.linear_forward(X, W, B[:3]), ValueError,
     ["b has 3 entries but w has 4 columns"]),
    (lambda be: be.linear_forward(X, W, B[None]), ValueError, ["b must be 1-D"]),
    (lambda be: be.linear_relu_forward(X, W.T), ValueError, ["x has 3 columns but w has 4 rows"]),
    (lambda be: be.linear_forward(X.astype(int), W), TypeError, ["x", "int64"]),
    (lambda be: be.linear_forward(X, W > 0), TypeError, ["w", "bool"]),
    (lambda be: be.linear_forward(X.astype(complex), W), TypeError, ["x", "complex128"]),
    (lambda be: be.linear_forward(X.astype(object), W), TypeError, ["x", "object"]),
    (lambda be: be.linear_forward(X.astype(np.float16), W), TypeError, ["float16"]),
    (lambda be: be.linear_forward(X.astype(np.float32), W), TypeError,
     ["x has dtype float32 but w has dtype float64"]),
    (lambda be: be.linear_forward(X, W, B.astype(np.float32)), TypeError,
     ["x has dtype float64 but b has dtype float32"]),
    (lambda be: be.linear_backward(X, W, DY[:4]), ValueError, ["dy has 4 rows but x has 5 rows"]),
    (lambda be: be.linear_backward(X, W, DY[:, :3]), ValueError,
     ["dy has 3 columns but w has 4 columns"]),
    (lambda be: be.linear_backward(X, W, DY.astype(np.float32)), TypeError, ["dy", "float32"]),
    (lambda be: be.linear_backward(X, W, DY, dw_out=np.zeros((4, 3))), ValueError,
     ["dw_out has shape (4, 3)", "(3, 4)"]),
    (lambda be: be.linear_backward(X, W, DY, db_out=np.zeros(4, np.float32)), TypeError,
     ["db_out has dtype float32"]),
    (lambda be: be.linear_backward(X, W, DY, need_dx=False, dx_out=np.zeros((5, 3))),
     ValueError, ["dx_out was given but need_dx is False"]),
]


@pytest.mark.parametrize("call,exc,words", BAD_CALLS)
def test_bad_input_raises_same_error_everywhere(call, exc, words) -> None:
    assert_same_error(call, exc, words)

"""Activations (relu_forward, relu_backward, softmax) of every backend: the numpy reference over
shapes, dtypes and layouts drawn by hypothesis, plain formulas, finite differences, validation,
layouts, empty inputs, NaN and inf."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import nnkernels
from nnkernels.gradcheck import check_gradient
from nnkernels.testing import LAYOUTS, assert_close, with_layout

from .helpers import LARGE, assert_same_error, dense_case, large_case


def check_relu(case: dict, backend: nnkernels.Backend, reference: nnkernels.Backend) -> None:
    """relu_forward and relu_backward of ``backend`` equal the reference's on ``case``."""
    x, w, u = case["x"], case["w"], case["dy"]
    assert_close(backend.relu_forward(u), reference.relu_forward(u))
    assert_close(backend.relu_backward(x @ w, u), reference.relu_backward(x @ w, u))


# -- agreement with the reference ----------------------------------------------------------------

@given(case=dense_case())
def test_relu_matches_reference(backend, reference, case: dict) -> None:
    check_relu(case, backend, reference)


@pytest.mark.parametrize("shape", LARGE, ids=str)
def test_relu_large_shapes_match_reference(backend, reference, shape, dtype) -> None:
    check_relu(large_case(*shape, dtype), backend, reference)


def test_relu_any_shape(backend, reference, dtype) -> None:
    """ReLU is elementwise: any number of dimensions, results in that shape."""
    rng = np.random.default_rng(3)
    u = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    t = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    assert backend.relu_forward(u).shape == u.shape
    assert_close(backend.relu_backward(t, u), reference.relu_backward(t, u))


def test_relu_large_elementwise(backend, reference, dtype) -> None:
    """Above the parallel threshold the ReLU kernels still match."""
    rng = np.random.default_rng(4)
    u = rng.standard_normal(300_001).astype(dtype)
    t = rng.standard_normal(300_001).astype(dtype)
    assert_close(backend.relu_forward(u), reference.relu_forward(u))
    assert_close(backend.relu_backward(t, u), reference.relu_backward(t, u))


@pytest.mark.parametrize("n", [0, 1, 9, 30_000])
def test_softmax_matches_naive_and_is_stable(backend, dtype, n):
    rng = np.random.default_rng(9)
    logits = (rng.standard_normal((n, 7)) * 50).astype(dtype)
    if n:
        logits[0] = [1e4, 1e4, -1e4, 0, 0, 0, 0]
    copy = logits.copy()
    p = backend.softmax(logits)
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True)) if n else z
    want = e / e.sum(axis=1, keepdims=True) if n else z
    assert p.dtype == dtype and p.shape == logits.shape
    assert_close(p, want, kind="softmax", scale=1, dtype=dtype)
    np.testing.assert_array_equal(logits, copy)
    if n:
        assert_close(p[0, :2], np.full(2, 0.5), kind="softmax", scale=0, dtype=dtype)
        assert backend.softmax(logits, out=logits) is logits      # in place is allowed
        assert_close(logits, want, kind="softmax", scale=1, dtype=dtype)


# -- layouts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(backend, reference, layout, dtype) -> None:
    """Inputs in C order, Fortran order or strided: the results of C-ordered inputs."""
    rng = np.random.default_rng(5)
    u, t = (rng.standard_normal((6, 9)).astype(dtype) for _ in range(2))
    lu, lt = with_layout(u, layout), with_layout(t, layout)
    np.testing.assert_array_equal(backend.relu_forward(lu), reference.relu_forward(u))
    np.testing.assert_array_equal(backend.relu_backward(lt, lu), reference.relu_backward(t, u))
    assert_close(backend.softmax(lu), reference.softmax(u), kind="softmax", scale=1)


# -- empty inputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(0, 4), (3, 0), (0,), (2, 0, 3)], ids=str)
def test_relu_empty(backend, dtype, shape) -> None:
    u = np.zeros(shape, dtype)
    for got in (backend.relu_forward(u), backend.relu_backward(u, u)):
        assert got.shape == shape and got.dtype == dtype


def test_softmax_empty_batch(backend, dtype) -> None:
    p = backend.softmax(np.zeros((0, 3), dtype))
    assert p.shape == (0, 3) and p.dtype == dtype


# -- NaN and inf ---------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [7, 300_001], ids=["serial", "parallel"])
def test_relu_in_place_equals_out_of_place(backend, dtype, n) -> None:
    """out= the input (a loop of its own in numba): the same values, NaN included."""
    rng = np.random.default_rng(5)
    u, da = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    u[::97] = np.nan
    expected_fwd, expected_bwd = backend.relu_forward(u), backend.relu_backward(da, u)
    z, d = u.copy(), da.copy()
    assert backend.relu_forward(z, out=z) is z
    assert backend.relu_backward(d, u, out=d) is d
    np.testing.assert_array_equal(z, expected_fwd)
    np.testing.assert_array_equal(d, expected_bwd)


def test_relu_nan_propagates(backend, dtype) -> None:
    assert np.isnan(backend.relu_forward(np.array([np.nan, -1.0], dtype))[0])


def test_relu_backward_mask(backend, dtype) -> None:
    """The mask is y > 0: zero where y <= 0 even when da is NaN or inf there."""
    da = np.array([np.nan, np.inf, 2.0, 3.0, np.nan], dtype)
    y = np.array([-1.0, 0.0, 0.0, 1.0, 5.0], dtype)
    out = backend.relu_backward(da, y)
    np.testing.assert_array_equal(out[:4], np.array([0, 0, 0, 3.0], dtype))
    assert np.isnan(out[4])


def test_softmax_nan(backend):
    p = backend.softmax(np.array([[np.nan, 1.0], [1.0, 1.0]]))
    assert np.isnan(p[0]).all() and np.allclose(p[1], 0.5)


# -- gradients (central finite differences, float64) ---------------------------------------------

def test_relu_backward_finite_differences(backend) -> None:
    rng = np.random.default_rng(11)
    u = rng.standard_normal((4, 6))
    u[np.abs(u) < 1e-3] = 0.5  # keep away from the kink, where the derivative does not exist
    g = rng.standard_normal((4, 6))
    check_gradient(lambda: float(np.sum(g * backend.relu_forward(u))), u,
                   backend.relu_backward(g, u))


# -- validation: the same error from every backend, naming the argument --------------------------

X = np.random.default_rng(0).standard_normal((5, 3))
DY = np.random.default_rng(1).standard_normal((5, 4))


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


# (call, exception, words the message must contain)
BAD_CALLS = [
    (lambda be: be.relu_forward(X.astype(np.int32)), TypeError, ["u", "int32"]),
    (lambda be: be.relu_forward(X, out=np.zeros((5, 4))), ValueError, ["out has shape (5, 4)"]),
    (lambda be: be.relu_forward(X, out=np.zeros((5, 3), np.float32)), TypeError,
     ["out has dtype float32"]),
    (lambda be: be.relu_forward(X, out=[0.0] * 15), TypeError, ["out must be a numpy.ndarray"]),
    (lambda be: be.relu_forward(X, out=_read_only(X)), ValueError, ["out is read-only"]),
    (lambda be: be.relu_backward(DY, X), ValueError,
     ["da has shape (5, 4) but y has shape (5, 3)"]),
    (lambda be: be.softmax(np.zeros(3)), ValueError, ["logits must be 2-D"]),
    (lambda be: be.softmax(np.zeros((2, 0))), ValueError,
     ["logits must have at least one column"]),
    (lambda be: be.softmax(np.zeros((2, 2), np.int8)), TypeError,
     ["logits must be a float32 or float64"]),
]


@pytest.mark.parametrize("call,exc,words", BAD_CALLS)
def test_bad_input_raises_same_error_everywhere(call, exc, words) -> None:
    assert_same_error(call, exc, words)

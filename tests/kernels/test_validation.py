"""The shared validation layer: every bad input raises the stated error, with the same message
from every backend, before any work; inputs are never mutated; the out= contract holds."""

from __future__ import annotations

import numpy as np
import pytest

import nnkernels

from ..conftest import BACKENDS

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
    (lambda be: be.relu_forward(X.astype(np.int32)), TypeError, ["u", "int32"]),
    (lambda be: be.relu_forward(X, out=np.zeros((5, 4))), ValueError, ["out has shape (5, 4)"]),
    (lambda be: be.relu_forward(X, out=np.zeros((5, 3), np.float32)), TypeError,
     ["out has dtype float32"]),
    (lambda be: be.relu_forward(X, out=[0.0] * 15), TypeError, ["out must be a numpy.ndarray"]),
    (lambda be: be.relu_backward(DY, X), ValueError,
     ["da has shape (5, 4) but y has shape (5, 3)"]),
    (lambda be: be.mse_loss(DY, DY[:, :2]), ValueError, ["pred has shape", "target has shape"]),
    (lambda be: be.mse_loss(DY, DY.astype(np.float32)), TypeError, ["target has dtype float32"]),
    (lambda be: be.mse_loss(DY, DY, "max"), ValueError, ["reduction", "'max'"]),
    (lambda be: be.sgd_update(W.copy(), W, 0.0), ValueError, ["lr must be a positive finite"]),
    (lambda be: be.sgd_update(W.copy(), W, -0.1), ValueError, ["lr", "-0.1"]),
    (lambda be: be.sgd_update(W.copy(), W, float("nan")), ValueError, ["lr", "nan"]),
    (lambda be: be.sgd_update(W.copy(), W, float("inf")), ValueError, ["lr", "inf"]),
    (lambda be: be.sgd_update(W.copy(), W, "0.1"), ValueError, ["lr", "'0.1'"]),
    (lambda be: be.sgd_update(W.copy(), W, True), ValueError, ["lr", "True"]),
    (lambda be: be.sgd_update(W.tolist(), W, 0.1), TypeError, ["param must be a numpy.ndarray"]),
    (lambda be: be.sgd_update(W.astype(int), W, 0.1), TypeError, ["param", "int64"]),
    (lambda be: be.sgd_update(W.copy(), W.T, 0.1), ValueError, ["param has shape (3, 4)"]),
    (lambda be: be.sgd_update(W.copy(), W.astype(np.float32), 0.1), TypeError, ["grad"]),
]


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


BAD_CALLS += [
    (lambda be: be.sgd_update(_read_only(W), W, 0.1), ValueError, ["param is read-only"]),
    (lambda be: be.relu_forward(X, out=_read_only(X)), ValueError, ["out is read-only"]),
]


@pytest.mark.parametrize("call,exc,words", BAD_CALLS)
def test_bad_input_raises_same_error_everywhere(call, exc, words) -> None:
    messages = set()
    for name in BACKENDS:
        with pytest.raises(exc) as info:
            call(nnkernels.get_backend(name))
        for word in words:
            assert word in str(info.value), (word, str(info.value))
        messages.add(str(info.value))
    assert len(messages) == 1, messages


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown or unavailable backend 'gpu'.*numpy"):
        nnkernels.get_backend("gpu")


def test_inputs_are_not_mutated(backend) -> None:
    arrays = {"x": X.copy(), "w": W.copy(), "b": B.copy(), "dy": DY.copy()}
    saved = {k: v.copy() for k, v in arrays.items()}
    x, w, b, dy = arrays.values()
    y = backend.linear_forward(x, w, b)
    y_saved = y.copy()
    backend.linear_relu_forward(x, w, b)
    backend.linear_backward(x, w, dy)
    backend.relu_forward(y)
    backend.relu_backward(dy, y)
    backend.mse_loss(y, dy)
    backend.sgd_update(np.zeros_like(dy), dy, 0.5)
    for k, v in arrays.items():
        np.testing.assert_array_equal(v, saved[k], err_msg=k)
    np.testing.assert_array_equal(y, y_saved)


def test_lists_are_accepted(backend) -> None:
    y = backend.linear_forward(X.tolist(), W.tolist(), B.tolist())
    np.testing.assert_allclose(y, X @ W + B)


def test_gradients_accumulate(backend) -> None:
    """dw_out / db_out receive dw + their previous content, and are the arrays returned."""
    dw0, db0 = np.full((3, 4), 2.0), np.full(4, -1.0)
    dw_out, db_out = dw0.copy(), db0.copy()
    _, dw, db = backend.linear_backward(X, W, DY, dw_out=dw_out, db_out=db_out)
    assert dw is dw_out and db is db_out
    np.testing.assert_allclose(dw, dw0 + X.T @ DY)
    np.testing.assert_allclose(db, db0 + DY.sum(0))
    # Two half batches accumulate to the full batch.
    acc_w, acc_b = np.zeros((3, 4)), np.zeros(4)
    for part in (slice(0, 2), slice(2, 5)):
        backend.linear_backward(X[part], W, DY[part], need_dx=False, dw_out=acc_w, db_out=acc_b)
    np.testing.assert_allclose(acc_w, X.T @ DY)
    np.testing.assert_allclose(acc_b, DY.sum(0))


def test_accumulate_into_non_contiguous_buffer(backend) -> None:
    big = np.ones((6, 8))
    view = big[::2, ::2]
    backend.linear_backward(X, W, DY, need_dx=False, dw_out=view)
    np.testing.assert_allclose(view, 1 + X.T @ DY)
    assert (big[1::2] == 1).all()


def test_out_contract(backend) -> None:
    """The result is written into out, out itself is returned, whatever its layout."""
    for out in (np.empty((5, 4)), np.empty((4, 5)).T, np.empty((10, 8))[::2, ::2]):
        res = backend.linear_forward(X, W, B, out=out)
        assert res is out
        np.testing.assert_allclose(out, X @ W + B)
        res = backend.linear_relu_forward(X, W, B, out=out)
        assert res is out
        np.testing.assert_allclose(out, np.maximum(X @ W + B, 0))
    dx_out = np.empty((5, 3))
    dx, _, _ = backend.linear_backward(X, W, DY, dx_out=dx_out)
    assert dx is dx_out
    np.testing.assert_allclose(dx, DY @ W.T)
    out = np.empty((5, 4))
    loss, d = backend.mse_loss(DY, 2 * DY, out=out)
    assert d is out
    np.testing.assert_allclose(d, -DY / DY.size)


def test_out_may_alias_inputs(backend) -> None:
    """An out that overlaps an input still gets the right answer (computed into scratch first)."""
    sq = np.random.default_rng(1).standard_normal((4, 4))
    w = np.random.default_rng(2).standard_normal((4, 4))
    x = sq.copy()
    backend.linear_forward(x, w, out=x)
    np.testing.assert_allclose(x, sq @ w)
    u = sq.copy()
    assert backend.relu_forward(u, out=u) is u
    np.testing.assert_array_equal(u, np.maximum(sq, 0))
    u = sq.copy()
    backend.relu_forward(u[:, ::-1], out=u)  # overlapping, differently laid out
    np.testing.assert_array_equal(u, np.maximum(sq[:, ::-1], 0))
    p = sq.copy()
    backend.sgd_update(p, p, 0.5)
    np.testing.assert_allclose(p, 0.5 * sq)
    p = sq.copy()
    backend.sgd_update(p, p.T, 0.5)
    np.testing.assert_allclose(p, sq - 0.5 * sq.T)


def test_sgd_update_in_place_non_contiguous(backend, dtype) -> None:
    big = np.ones((4, 6), dtype)
    view = big[:, ::2]
    assert backend.sgd_update(view, np.ones((4, 3), dtype), 0.25) is None
    np.testing.assert_array_equal(big[:, ::2], 0.75)
    np.testing.assert_array_equal(big[:, 1::2], 1.0)
    assert big.dtype == dtype

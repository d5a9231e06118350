"""The interface shared by every kernel, rather than one family: backend lookup, inputs never
mutated, lists accepted, gradients accumulated into given buffers, the out= contract and outputs
that alias inputs."""

from __future__ import annotations

import numpy as np
import pytest

import nnkernels
from nnkernels.testing import assert_close

from .helpers import conv_case, mlp_problem

rng = np.random.default_rng(0)
X = rng.standard_normal((5, 3))
W = rng.standard_normal((3, 4))
B = rng.standard_normal(4)
DY = rng.standard_normal((5, 4))


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


def test_conv2d_does_not_mutate_inputs(backend):
    x, w, b, stride, padding = conv_case((3, 2, 6, 6, 3, 3, 3, 1, 1), np.float32)
    dy = np.ones((3, 3, 6, 6), np.float32)
    copies = [a.copy() for a in (x, w, b, dy)]
    backend.conv2d_forward(x, w, b, stride, padding)
    backend.conv2d_backward(x, w, dy, stride, padding)
    for a, c in zip((x, w, b, dy), copies, strict=True):
        np.testing.assert_array_equal(a, c)


def test_maxpool_does_not_mutate_inputs(backend):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    x_copy = x.copy()
    y, idx = backend.maxpool2d_forward(x, 2)
    np.testing.assert_array_equal(x, x_copy)
    dy = np.ones_like(y)
    idx_copy = idx.copy()
    backend.maxpool2d_backward(dy, idx, x.shape)
    np.testing.assert_array_equal(idx, idx_copy)
    np.testing.assert_array_equal(dy, np.ones_like(y))


def test_softmax_cross_entropy_out_and_inputs_untouched(backend):
    logits = np.array([[1.0, np.nan], [1.0, 2.0]])
    labels = np.array([0, 1])
    copies = logits.copy(), labels.copy()
    out = np.empty((2, 2))
    loss, grad = backend.softmax_cross_entropy(logits, labels, out=out)
    assert grad is out and np.isnan(loss) and np.isnan(grad[0]).all()
    assert np.isfinite(grad[1]).all()
    np.testing.assert_array_equal(logits, copies[0])
    np.testing.assert_array_equal(labels, copies[1])


def test_mlp_train_does_not_mutate_x_and_y(backend) -> None:
    x, y, params = mlp_problem(20, 2, 3, 1, np.float64)
    x0, y0 = x.copy(), y.copy()
    backend.mlp_train(x, y, params, 0.1, 2)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


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


def test_conv2d_out_contract(backend, reference):
    x, w, b, _, _ = conv_case((2, 3, 6, 7, 4, 3, 3, 1, 1), np.float64)
    want = reference.conv2d_forward(x, w, b, 1, 1)  # itself checked against loops in test_conv
    out = np.full((2, 4, 6, 7), np.nan)
    assert backend.conv2d_forward(x, w, b, 1, 1, out=out) is out
    assert_close(out, want, scale=0)


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

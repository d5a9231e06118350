"""Optimiser steps (sgd_update, sgd_momentum_update) of every backend: the numpy reference over
shapes, dtypes and layouts drawn by hypothesis, the formulas, a descent check, validation,
layouts (updated in place through views), empty inputs, NaN and inf."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import nnkernels
from nnkernels.testing import LAYOUTS, assert_close, with_layout

from .helpers import LARGE, assert_same_error, dense_case, large_case


def check_sgd(case: dict, backend: nnkernels.Backend, reference: nnkernels.Backend) -> None:
    """sgd_update of ``backend`` equals the reference's on ``case`` (param w, grad flipped w)."""
    w = case["w"]
    p1, p2 = np.array(w), np.array(w)
    grad = np.flip(w)  # a view with negative strides
    backend.sgd_update(p1, grad, 0.25)
    reference.sgd_update(p2, grad, 0.25)
    assert_close(p1, p2)


# -- agreement with the reference and the formulas ------------------------------------------------

@given(case=dense_case())
def test_sgd_matches_reference(backend, reference, case: dict) -> None:
    check_sgd(case, backend, reference)


@pytest.mark.parametrize("shape", LARGE, ids=str)
def test_sgd_large_shapes_match_reference(backend, reference, shape, dtype) -> None:
    check_sgd(large_case(*shape, dtype), backend, reference)


def test_sgd_large_elementwise(backend, reference, dtype) -> None:
    """Above the parallel threshold the update still matches."""
    rng = np.random.default_rng(4)
    u = rng.standard_normal(300_001).astype(dtype)
    t = rng.standard_normal(300_001).astype(dtype)
    p, q = u.copy(), u.copy()
    backend.sgd_update(p, t, 0.1)
    reference.sgd_update(q, t, 0.1)
    assert_close(p, q)


@pytest.mark.parametrize("size", [0, 7, 250_001])
def test_sgd_momentum_matches_formula(backend, dtype, size):
    rng = np.random.default_rng(8)
    param = rng.standard_normal(size).astype(dtype)
    grad = rng.standard_normal(size).astype(dtype)
    vel = rng.standard_normal(size).astype(dtype)
    want_v = dtype(0.9) * vel - dtype(0.05) * grad
    want_p = param + want_v
    grad_copy = grad.copy()
    assert backend.sgd_momentum_update(param, grad, vel, 0.05, 0.9) is None
    assert_close(vel, want_v, kind="elementwise", scale=1)
    assert_close(param, want_p, kind="elementwise", scale=1)
    assert param.dtype == dtype and vel.dtype == dtype
    np.testing.assert_array_equal(grad, grad_copy)


def test_sgd_step_descends(backend) -> None:
    """One small SGD step along the analytic gradient lowers the loss by about lr * |g|^2."""
    rng = np.random.default_rng(13)
    x, w = rng.standard_normal((30, 3)), rng.standard_normal((3, 2))
    t = rng.standard_normal((30, 2))
    loss0, dpred = backend.mse_loss(backend.linear_forward(x, w), t)
    _, dw, _ = backend.linear_backward(x, w, dpred, need_dx=False)
    lr = 1e-4
    backend.sgd_update(w, dw, lr)
    loss1, _ = backend.mse_loss(backend.linear_forward(x, w), t)
    np.testing.assert_allclose(loss0 - loss1, lr * np.sum(dw**2), rtol=1e-3)


# -- layouts: param and velocity are updated in place, whatever their layout ----------------------

def test_sgd_update_in_place_non_contiguous(backend, dtype) -> None:
    big = np.ones((4, 6), dtype)
    view = big[:, ::2]
    assert backend.sgd_update(view, np.ones((4, 3), dtype), 0.25) is None
    np.testing.assert_array_equal(big[:, ::2], 0.75)
    np.testing.assert_array_equal(big[:, 1::2], 1.0)
    assert big.dtype == dtype


def test_sgd_momentum_noncontiguous_param(backend):
    base = np.arange(12.0).reshape(3, 4)
    param, vel = base.T, np.zeros((4, 3))        # param is a non-contiguous view: updated in place
    backend.sgd_momentum_update(param, np.ones((4, 3)), vel, 0.5, 0.0)
    np.testing.assert_array_equal(base, np.arange(12.0).reshape(3, 4) - 0.5)
    np.testing.assert_array_equal(vel, -0.5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(backend, reference, layout, dtype) -> None:
    """param, grad and velocity in C order, Fortran order or strided: the C-ordered results,
    written through the caller's views."""
    rng = np.random.default_rng(9)
    p0, g, v0 = (rng.standard_normal((5, 6)).astype(dtype) for _ in range(3))
    # Copies first: with_layout returns C-ordered input itself.
    p, v = with_layout(p0.copy(), layout), with_layout(v0.copy(), layout)
    backend.sgd_update(p, with_layout(g, layout), 0.1)
    q = p0.copy()
    reference.sgd_update(q, g, 0.1)
    assert_close(p, q)
    p = with_layout(p0.copy(), layout)
    backend.sgd_momentum_update(p, with_layout(g, layout), v, 0.1, 0.9)
    q, w = p0.copy(), v0.copy()
    reference.sgd_momentum_update(q, g, w, 0.1, 0.9)
    assert_close(v, w, kind="elementwise", scale=1)
    assert_close(p, q, kind="elementwise", scale=1)


# -- empty inputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0)], ids=str)
def test_empty(backend, dtype, shape) -> None:
    p, g, v = np.zeros(shape, dtype), np.zeros(shape, dtype), np.zeros(shape, dtype)
    assert backend.sgd_update(p, g, 0.1) is None
    assert backend.sgd_momentum_update(p, g, v, 0.1, 0.9) is None
    assert p.shape == shape and v.shape == shape


# -- NaN and inf ---------------------------------------------------------------------------------

def test_sgd_nan_and_inf_propagate(backend, dtype) -> None:
    p = np.ones(2, dtype)
    backend.sgd_update(p, np.array([np.nan, np.inf], dtype), 0.1)
    assert np.isnan(p[0]) and np.isneginf(p[1])


# -- validation: the same error from every backend, naming the argument --------------------------

W = np.random.default_rng(0).standard_normal((3, 4))
P3 = np.zeros(3)


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


# (call, exception, words the message must contain)
BAD_CALLS = [
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
    (lambda be: be.sgd_update(_read_only(W), W, 0.1), ValueError, ["param is read-only"]),
    *[(lambda be, m=m: be.sgd_momentum_update(P3.copy(), P3, P3.copy(), 0.1, m), ValueError,
       ["momentum must be a number in"]) for m in (1.0, -0.1, float("nan"), True, "0.9")],
    (lambda be: be.sgd_momentum_update(P3.copy(), P3, P3.copy(), 0.0, 0.9), ValueError,
     ["lr must be a positive finite number"]),
    (lambda be: be.sgd_momentum_update(P3.copy(), P3, np.zeros(4), 0.1, 0.9), ValueError,
     ["param has shape", "but velocity has shape"]),
    (lambda be: be.sgd_momentum_update(P3.copy(), P3, np.zeros(3, np.float32), 0.1, 0.9),
     TypeError, ["param has dtype float64 but velocity has dtype float32"]),
    (lambda be: be.sgd_momentum_update(P3.copy(), P3, [0.0, 0.0, 0.0], 0.1, 0.9), TypeError,
     ["velocity must be a numpy.ndarray"]),
]


def _momentum_aliasing(be: nnkernels.Backend) -> None:
    p = np.zeros(3)
    be.sgd_momentum_update(p, np.zeros(3), p, 0.1, 0.9)


BAD_CALLS.append((_momentum_aliasing, ValueError, ["must not share memory"]))


@pytest.mark.parametrize("call,exc,words", BAD_CALLS)
def test_bad_input_raises_same_error_everywhere(call, exc, words) -> None:
    assert_same_error(call, exc, words)

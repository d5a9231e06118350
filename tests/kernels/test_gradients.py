"""Every backward kernel of every backend against central finite differences, in float64."""

from __future__ import annotations

import numpy as np
import pytest

from nnkernels.gradcheck import check_gradient, numerical_gradient

SHAPES = [(1, 1, 1), (5, 1, 10), (7, 3, 4), (6, 20, 3)]  # D = 20 takes the BLAS path


@pytest.mark.parametrize("n,d,h", SHAPES)
def test_linear_backward(backend, n: int, d: int, h: int) -> None:
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
def test_linear_relu_chain(backend, n: int, d: int, h: int) -> None:
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


def test_relu_backward(backend) -> None:
    rng = np.random.default_rng(11)
    u = rng.standard_normal((4, 6))
    u[np.abs(u) < 1e-3] = 0.5  # keep away from the kink, where the derivative does not exist
    g = rng.standard_normal((4, 6))
    check_gradient(lambda: float(np.sum(g * backend.relu_forward(u))), u,
                   backend.relu_backward(g, u))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss(backend, reduction: str) -> None:
    rng = np.random.default_rng(12)
    pred, target = rng.standard_normal((9, 2)), rng.standard_normal((9, 2))
    _, dpred = backend.mse_loss(pred, target, reduction)
    check_gradient(lambda: backend.mse_loss(pred, target, reduction)[0], pred, dpred)


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


def test_numerical_gradient_restores_input() -> None:
    """The finite-difference helper perturbs in place and must leave x as it found it."""
    x = np.arange(6.0).reshape(2, 3)
    before = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(x**2)), x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-6)


def test_check_gradient_catches_a_wrong_gradient() -> None:
    x = np.ones(3)
    with pytest.raises(AssertionError):
        check_gradient(lambda: float(np.sum(x**2)), x, 3 * x)

"""adam_update of every backend: the formula (torch.optim.Adam's bias correction), the numpy
reference, one call over many arrays, NaN, dtypes, layouts and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnkernels.kernels import get_backend


def _formula(p, g, m, v, lr, b1, b2, eps, step):
    """torch.optim.Adam in float64, step by step (scikit-learn's solver is the same step with
    eps scaled by sqrt(1 - b2**step))."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** step), v / (1 - b2 ** step)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


@pytest.mark.parametrize("size", [7, 250_000])  # serial and parallel drivers
def test_adam_matches_formula_and_reference(backend, reference, dtype, size) -> None:
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(size)
    params = [p0.astype(dtype)]
    m, v = [np.zeros(size, dtype)], [np.zeros(size, dtype)]
    ref_p, ref_m, ref_v = p0.astype(dtype), np.zeros(size, dtype), np.zeros(size, dtype)
    exp_p, exp_m, exp_v = p0.copy(), np.zeros(size), np.zeros(size)
    for step in range(1, 6):
        g = rng.standard_normal(size)
        assert backend.adam_update(params, [g.astype(dtype)], m, v, 0.01, 0.8, 0.99, 1e-6,
                                   step=step) is None
        reference.adam_update(ref_p, g.astype(dtype), ref_m, ref_v, 0.01, 0.8, 0.99, 1e-6,
                              step=step)
        exp_p, exp_m, exp_v = _formula(exp_p, g, exp_m, exp_v, 0.01, 0.8, 0.99, 1e-6, step)
    assert params[0].dtype == m[0].dtype == v[0].dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(params[0], exp_p, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(m[0], exp_m, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(v[0], exp_v, rtol=rtol, atol=rtol)
    # Against the reference: the same operations in the same order, so bitwise equal.
    np.testing.assert_array_equal(params[0], ref_p)
    np.testing.assert_array_equal(v[0], ref_v)


def test_adam_first_step_is_lr_times_sign(backend) -> None:
    # With zero moments, step 1 moves each parameter by lr * g / (|g| + eps): about lr.
    p = np.zeros(4)
    g = np.array([2.0, -3.0, 0.5, 0.0])
    backend.adam_update(p, g, np.zeros(4), np.zeros(4), 0.1, step=1)
    np.testing.assert_allclose(p, [-0.1, 0.1, -0.1, 0.0], rtol=1e-7)


def test_adam_many_arrays_in_one_call(backend, reference) -> None:
    rng = np.random.default_rng(1)
    shapes = [(3, 4), (4,), (4, 2), (2,), (0, 5)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s) for s in shapes]
    m = [np.zeros(s) for s in shapes]
    v = [np.zeros(s) for s in shapes]
    want = [a.copy() for a in params]
    for a, g in zip(want, grads, strict=True):
        reference.adam_update(a, g, np.zeros_like(a), np.zeros_like(a), 0.05, step=1)
    backend.adam_update(params, grads, m, v, 0.05, step=1)
    for got, exp in zip(params, want, strict=True):
        np.testing.assert_array_equal(got, exp)


def test_adam_noncontiguous_param_and_nan(backend) -> None:
    base = np.zeros((4, 6))
    p = base[:, ::2]  # a strided view is updated through a scratch copy
    g = np.ones((4, 3))
    g[0, 0] = np.nan
    backend.adam_update(p, g, np.zeros((4, 3)), np.zeros((4, 3)), 0.5, step=1)
    assert math.isnan(base[0, 0])
    np.testing.assert_allclose(base[1:, ::2], -0.5, rtol=1e-7)
    assert np.all(base[:, 1::2] == 0)


def test_adam_bad_input(backend) -> None:
    p, g, m, v = (np.zeros(3) for _ in range(4))
    for beta in (1.0, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match="beta1 must be a number in"):
            backend.adam_update(p, g, m, v, beta1=beta, step=1)
        with pytest.raises(ValueError, match="beta2 must be a number in"):
            backend.adam_update(p, g, m, v, beta2=beta, step=1)
    with pytest.raises(ValueError, match="eps must be a positive finite number"):
        backend.adam_update(p, g, m, v, eps=0.0, step=1)
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        backend.adam_update(p, g, m, v, lr=-1.0, step=1)
    with pytest.raises(ValueError, match="step must be an integer >= 1"):
        backend.adam_update(p, g, m, v, step=0)
    with pytest.raises(ValueError, match=r"grads\[0\] has shape"):
        backend.adam_update(p, np.zeros(4), m, v, step=1)
    with pytest.raises(TypeError, match=r"params\[0\] has dtype float64 but v\[0\] has dtype"):
        backend.adam_update(p, g, m, np.zeros(3, np.float32), step=1)
    with pytest.raises(TypeError, match=r"m\[0\] must be a numpy.ndarray"):
        backend.adam_update([p], [g], [[0.0, 0.0, 0.0]], [v], step=1)
    with pytest.raises(ValueError, match=r"m has 2 arrays but params has 1"):
        backend.adam_update([p], [g], [m, m], [v], step=1)
    with pytest.raises(ValueError, match=r"params\[0\] and m\[0\] must not share memory"):
        backend.adam_update(p, g, p, v, step=1)
    with pytest.raises(TypeError, match="params must be an ndarray or a sequence"):
        backend.adam_update("p", g, m, v, step=1)
    assert np.all(p == 0) and np.all(m == 0)


def test_adam_same_messages_on_every_backend() -> None:
    import nnkernels

    msgs = set()
    for name in nnkernels.available_backends():
        with pytest.raises(ValueError) as err:
            get_backend(name).adam_update(np.zeros(2), np.zeros(3), np.zeros(2), np.zeros(2),
                                          step=1)
        msgs.add(str(err.value))
    assert len(msgs) == 1

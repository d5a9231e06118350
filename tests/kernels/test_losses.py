"""Losses (mse_loss, softmax_cross_entropy) of every backend: the numpy reference over shapes,
dtypes and layouts drawn by hypothesis, the textbook formulas, finite differences, validation,
layouts, empty inputs, NaN and inf."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnkernels
from nnkernels.gradcheck import check_gradient
from nnkernels.testing import LAYOUTS, assert_close, with_layout

from .helpers import LARGE, assert_same_error, dense_case, large_case

DTYPES = (np.float32, np.float64)


def check_mse(case: dict, backend: nnkernels.Backend, reference: nnkernels.Backend) -> None:
    """mse_loss of ``backend`` equals the reference's on ``case``, for both reductions."""
    y = reference.linear_forward(case["x"], case["w"], case["b"])
    u = case["dy"]
    for reduction in ("mean", "sum"):
        loss, dpred = backend.mse_loss(y, u, reduction)
        ref_loss, ref_dpred = reference.mse_loss(y, u, reduction)
        assert isinstance(loss, float)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
        assert_close(dpred, ref_dpred)


def naive_softmax_ce(logits, labels):
    """Per row in float64 through math.log-sum-exp, the textbook way."""
    z = logits.astype(np.float64)
    lse = z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1))
    loss = float(np.mean(lse - z[np.arange(len(z)), labels]))
    grad = np.exp(z - lse[:, None])
    grad[np.arange(len(z)), labels] -= 1
    return loss, grad / len(z)


# -- agreement with the reference ----------------------------------------------------------------

@given(case=dense_case())
def test_mse_matches_reference(backend, reference, case: dict) -> None:
    check_mse(case, backend, reference)


@pytest.mark.parametrize("shape", LARGE, ids=str)
def test_mse_large_shapes_match_reference(backend, reference, shape, dtype) -> None:
    check_mse(large_case(*shape, dtype), backend, reference)


@given(case=dense_case(max_n=50))
def test_reference_mse_matches_plain_numpy(case: dict) -> None:
    """The reference's loss is itself checked against the textbook formula, in float64."""
    ref = nnkernels.get_backend("numpy")
    dy = np.asarray(case["dy"], np.float64)
    loss, dpred = ref.mse_loss(case["dy"], np.zeros_like(case["dy"]), "sum")
    np.testing.assert_allclose(loss, 0.5 * np.sum(dy**2), rtol=1e-6)


def test_mse_any_shape(backend, reference, dtype) -> None:
    """The loss is elementwise before its sum: any number of dimensions."""
    rng = np.random.default_rng(3)
    u = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    t = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    assert_close(backend.mse_loss(u, t)[1], reference.mse_loss(u, t)[1])


def test_mse_large_elementwise(backend, reference, dtype) -> None:
    """Above the parallel threshold the loss still matches."""
    rng = np.random.default_rng(4)
    u = rng.standard_normal(300_001).astype(dtype)
    t = rng.standard_normal(300_001).astype(dtype)
    loss, d = backend.mse_loss(u, t)
    ref_loss, ref_d = reference.mse_loss(u, t)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-9)
    assert_close(d, ref_d)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 12), scale=st.sampled_from([1.0, 30.0, 1e4]),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_softmax_ce_matches_naive(backend, n, k, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * scale).astype(dtype)
    labels = rng.integers(0, k, n)
    loss, grad = backend.softmax_cross_entropy(logits, labels)
    want_loss, want_grad = naive_softmax_ce(logits, labels)
    assert isinstance(loss, float) and np.isfinite(loss) and grad.dtype == dtype
    assert_close(loss, want_loss, kind="softmax_cross_entropy", scale=scale, dtype=dtype)
    assert_close(grad, want_grad, kind="softmax_cross_entropy", scale=1 / n, dtype=dtype)


def test_softmax_ce_large_logits_stable(backend):
    logits = np.array([[1e4, 0.0, -1e4], [3e38, 3e38, 0.0]], np.float32)
    loss, grad = backend.softmax_cross_entropy(logits, [0, 2])
    assert np.isfinite(loss) and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, 0.5 * 3e38, rtol=1e-5)   # row 2: -log(exp(-3e38) / 2)
    np.testing.assert_allclose(grad, [[0, 0, 0], [0.25, 0.25, -0.5]], atol=1e-7)


def test_softmax_ce_parallel_path_matches_reference(backend, reference):
    rng = np.random.default_rng(7)
    big = rng.standard_normal((30_000, 10)).astype(np.float32)   # above numba's serial threshold
    big_labels = rng.integers(0, 10, 30_000)
    got = backend.softmax_cross_entropy(big, big_labels)
    want = reference.softmax_cross_entropy(big, big_labels)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-10)


# -- layouts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(backend, reference, layout, dtype) -> None:
    """Inputs in C order, Fortran order or strided: the results of C-ordered inputs."""
    rng = np.random.default_rng(6)
    pred, target = (rng.standard_normal((8, 5)).astype(dtype) for _ in range(2))
    labels = rng.integers(0, 5, 8)
    for reduction in ("mean", "sum"):
        loss, d = backend.mse_loss(with_layout(pred, layout), with_layout(target, layout),
                                   reduction)
        ref_loss, ref_d = reference.mse_loss(pred, target, reduction)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
        assert_close(d, ref_d)
    loss, grad = backend.softmax_cross_entropy(with_layout(pred, layout),
                                               with_layout(labels, layout))
    want_loss, want_grad = naive_softmax_ce(pred, labels)
    assert_close(loss, want_loss, kind="softmax_cross_entropy", scale=1, dtype=dtype)
    assert_close(grad, want_grad, kind="softmax_cross_entropy", scale=1 / 8, dtype=dtype)


# -- empty inputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(0, 4), (3, 0), (0,)], ids=str)
def test_mse_empty(backend, dtype, shape, reduction) -> None:
    """No element: zero loss and an empty gradient of that shape."""
    e = np.zeros(shape, dtype)
    loss, dpred = backend.mse_loss(e, e, reduction)
    assert loss == 0.0 and dpred.shape == shape and dpred.dtype == dtype


def test_softmax_ce_empty_batch(backend, dtype):
    loss, grad = backend.softmax_cross_entropy(np.zeros((0, 4), dtype), np.zeros(0, np.int64))
    assert loss == 0.0 and grad.shape == (0, 4) and grad.dtype == dtype


# -- NaN and inf ---------------------------------------------------------------------------------

def test_mse_nan_and_inf_propagate(backend, dtype) -> None:
    loss, d = backend.mse_loss(np.array([np.nan, 1.0], dtype), np.zeros(2, dtype))
    assert np.isnan(loss) and np.isnan(d[0]) and d[1] == 0.5
    loss, _ = backend.mse_loss(np.array([np.inf], dtype), np.zeros(1, dtype))
    assert np.isposinf(loss)


def test_softmax_ce_nan(backend):
    logits = np.array([[1.0, np.nan], [1.0, 2.0]])
    loss, grad = backend.softmax_cross_entropy(logits, np.array([0, 1]))
    assert np.isnan(loss) and np.isnan(grad[0]).all()
    assert np.isfinite(grad[1]).all()


# -- gradients (central finite differences, float64) ---------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_finite_differences(backend, reduction: str) -> None:
    rng = np.random.default_rng(12)
    pred, target = rng.standard_normal((9, 2)), rng.standard_normal((9, 2))
    _, dpred = backend.mse_loss(pred, target, reduction)
    check_gradient(lambda: backend.mse_loss(pred, target, reduction)[0], pred, dpred)


def test_softmax_ce_finite_differences(backend):
    rng = np.random.default_rng(7)
    logits, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    _, grad = backend.softmax_cross_entropy(logits, labels)
    check_gradient(lambda: backend.softmax_cross_entropy(logits, labels)[0], logits, grad)


# -- validation: the same error from every backend, naming the argument --------------------------

DY = np.random.default_rng(0).standard_normal((5, 4))
LOGITS = np.zeros((3, 4))

# (call, exception, words the message must contain)
BAD_CALLS = [
    (lambda be: be.mse_loss(DY, DY[:, :2]), ValueError, ["pred has shape", "target has shape"]),
    (lambda be: be.mse_loss(DY, DY.astype(np.float32)), TypeError, ["target has dtype float32"]),
    (lambda be: be.mse_loss(DY, DY, "max"), ValueError, ["reduction", "'max'"]),
    (lambda be: be.softmax_cross_entropy(LOGITS, [0, 1, 4]), ValueError,
     ["labels must lie in [0, 4)"]),
    (lambda be: be.softmax_cross_entropy(LOGITS, [0, -1, 2]), ValueError,
     ["labels must lie in [0, 4)"]),
    (lambda be: be.softmax_cross_entropy(LOGITS, [0, 1]), ValueError,
     ["labels has 2 entries but logits has 3 rows"]),
    (lambda be: be.softmax_cross_entropy(LOGITS, [[0], [1], [2]]), ValueError,
     ["labels must be 1-D"]),
    (lambda be: be.softmax_cross_entropy(LOGITS, [0.0, 1.0, 2.0]), TypeError,
     ["labels must be an integer array"]),
    (lambda be: be.softmax_cross_entropy(LOGITS, [True, False, True]), TypeError,
     ["labels must be an integer array"]),
    (lambda be: be.softmax_cross_entropy(np.zeros(4), [0]), ValueError, ["logits must be 2-D"]),
    (lambda be: be.softmax_cross_entropy(np.zeros((3, 0)), [0, 0, 0]), ValueError,
     ["logits must have at least one column"]),
    (lambda be: be.softmax_cross_entropy(np.zeros((3, 4), np.int64), [0, 0, 0]), TypeError,
     ["logits must be a float32 or float64"]),
]


@pytest.mark.parametrize("call,exc,words", BAD_CALLS)
def test_bad_input_raises_same_error_everywhere(call, exc, words) -> None:
    assert_same_error(call, exc, words)

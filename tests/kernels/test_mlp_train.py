"""mlp_train: the fused numba step against the composed numpy reference, finite differences,
determinism over thread counts, the in-place contract and every validation error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnkernels
from nnkernels.gradcheck import numerical_gradient

BACKENDS = nnkernels.available_backends()
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _problem(n: int, d: int, h: int, o: int, dtype, seed: int = 0):
    """x (n, d), y (n, o) and params [w1, b1, w2, b2] of a small MLP, in ``dtype``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(dtype)
    y = rng.standard_normal((n, o)).astype(dtype)
    params = [(rng.standard_normal((d, h)) / np.sqrt(d)).astype(dtype),
              rng.uniform(-0.5, 0.5, h).astype(dtype),
              (rng.standard_normal((h, o)) / np.sqrt(h)).astype(dtype),
              rng.standard_normal(o).astype(dtype)]
    return x, y, params


def _compare(n, d, h, o, dtype, steps=3, lr=0.05) -> None:
    x, y, params = _problem(n, d, h, o, dtype)
    results = {}
    for name in BACKENDS:
        p = [a.copy() for a in params]
        losses = nnkernels.get_backend(name).mlp_train(x, y, p, lr, steps)
        assert losses.shape == (steps,) and losses.dtype == np.float64
        assert all(a.dtype == dtype for a in p)
        results[name] = (losses, p)
    ref_losses, ref_p = results["numpy"]
    for _name, (losses, p) in results.items():
        np.testing.assert_allclose(losses, ref_losses, **TOL[dtype])
        for a, r in zip(p, ref_p, strict=True):
            np.testing.assert_allclose(a, r, **TOL[dtype])


@pytest.mark.parametrize("shape", [(0, 1, 10, 1), (1, 1, 10, 1), (3, 2, 5, 2), (5, 1, 1, 1),
                                   (700, 1, 10, 1), (257, 4, 33, 3), (3000, 2, 40, 1)],
                         ids=str)
def test_fused_matches_composed_reference(shape, dtype) -> None:
    _compare(*shape, dtype)


@given(n=st.integers(0, 600), d=st.integers(1, 5), h=st.integers(1, 24), o=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_fused_matches_reference_any_shape(n, d, h, o, dtype) -> None:
    _compare(n, d, h, o, dtype, steps=2)


def test_large_problem_takes_the_parallel_path(dtype) -> None:
    # N * H * (D + O) above the numba backend's serial threshold.
    _compare(20_000, 1, 16, 1, dtype, steps=2)


def test_loss_and_gradient_are_those_of_the_mean_loss() -> None:
    x, y, params = _problem(9, 2, 4, 2, np.float64)
    be = nnkernels.get_backend("numpy")
    w1, b1, w2, b2 = params

    def loss() -> float:
        pred = np.maximum(x @ w1 + b1, 0) @ w2 + b2
        return 0.5 * float(np.mean((pred - y) ** 2))

    grads = [numerical_gradient(loss, p) for p in params]
    expected_loss = loss()
    for name in BACKENDS:
        p = [a.copy() for a in params]
        lr = 1e-3
        losses = nnkernels.get_backend(name).mlp_train(x, y, p, lr, 1)
        assert losses[0] == pytest.approx(expected_loss, rel=1e-12)
        for new, old, g in zip(p, params, grads, strict=True):
            np.testing.assert_allclose((old - new) / lr, g, rtol=1e-5, atol=1e-7)
    del be


def test_losses_decrease_and_are_measured_before_each_step(backend) -> None:
    x, y, params = _problem(200, 1, 8, 1, np.float64)
    p = [a.copy() for a in params]
    losses = backend.mlp_train(x, y, p, 0.1, 20)
    assert losses[-1] < losses[0]
    # The first loss belongs to the initial parameters; a zero-step call changes nothing.
    q = [a.copy() for a in params]
    assert backend.mlp_train(x, y, q, 0.1, 1)[0] == pytest.approx(losses[0], rel=1e-12)
    r = [a.copy() for a in params]
    assert backend.mlp_train(x, y, r, 0.1, 0).shape == (0,)
    for a, b in zip(r, params, strict=True):
        assert np.array_equal(a, b)


def test_empty_batch_gives_zero_loss_and_unchanged_params(backend, dtype) -> None:
    x, y, params = _problem(0, 3, 4, 2, dtype)
    p = [a.copy() for a in params]
    losses = backend.mlp_train(x, y, p, 0.5, 3)
    assert np.array_equal(losses, np.zeros(3))
    for a, b in zip(p, params, strict=True):
        assert np.array_equal(a, b)


def test_calls_split_anywhere_give_the_same_result(backend) -> None:
    x, y, params = _problem(300, 2, 6, 1, np.float64)
    p, q = [a.copy() for a in params], [a.copy() for a in params]
    all_at_once = backend.mlp_train(x, y, p, 0.05, 10)
    split = np.concatenate([backend.mlp_train(x, y, q, 0.05, 3),
                            backend.mlp_train(x, y, q, 0.05, 7)])
    assert all_at_once.tobytes() == split.tobytes()
    for a, b in zip(p, q, strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.skipif("numba" not in BACKENDS, reason="numba is not installed")
@pytest.mark.parametrize("n", [700, 5_000, 30_000])
def test_numba_bitwise_equal_for_any_thread_count(n, dtype) -> None:
    x, y, params = _problem(n, 2, 24, 1, dtype)
    be = nnkernels.get_backend("numba")
    before = nnkernels.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 2):
            nnkernels.set_num_threads(threads)
            p = [a.copy() for a in params]
            runs.append((be.mlp_train(x, y, p, 0.05, 3), p))
    finally:
        nnkernels.set_num_threads(before)
    for losses, p in runs[1:]:
        assert losses.tobytes() == runs[0][0].tobytes()
        for a, b in zip(p, runs[0][1], strict=True):
            assert a.tobytes() == b.tobytes()


def test_non_contiguous_params_and_inputs(backend) -> None:
    x, y, params = _problem(50, 3, 5, 2, np.float64)
    expected = [a.copy() for a in params]
    ref_losses = backend.mlp_train(x, y, expected, 0.1, 2)
    # Transposed / strided views of the same values, updated in place through the views.
    w1_store = np.asfortranarray(params[0])
    b1_store = np.zeros(2 * params[1].size)
    b1_view = b1_store[::2]
    b1_view[...] = params[1]
    w2, b2 = params[2].copy(), params[3].copy()
    x_view = np.asfortranarray(x)
    y_view = np.repeat(y, 2, axis=0)[::2]
    out = np.full(4, -1.0)[::2]
    losses = backend.mlp_train(x_view, y_view, [w1_store, b1_view, w2, b2], 0.1, 2,
                               losses_out=out)
    assert losses is out
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-12)
    for a, b in zip([w1_store, b1_view, w2, b2], expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_inputs_are_not_modified(backend) -> None:
    x, y, params = _problem(20, 2, 3, 1, np.float64)
    x0, y0 = x.copy(), y.copy()
    backend.mlp_train(x, y, params, 0.1, 2)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


def test_nan_propagates(backend) -> None:
    x, y, params = _problem(20, 1, 3, 1, np.float64)
    y[3, 0] = np.nan
    losses = backend.mlp_train(x, y, params, 0.1, 2)
    assert np.isnan(losses).all()
    assert np.isnan(params[3]).all()


def _bad_calls(dtype=np.float64):
    x, y, p = _problem(4, 2, 3, 1, dtype)
    w1, b1, w2, b2 = p
    ro = w1.copy()
    ro.flags.writeable = False
    return [
        ((x[:, :1], y, p, 0.1, 1), ValueError, "x has 1 columns but w1 has 2 rows"),
        ((x, y[:3], p, 0.1, 1), ValueError, "y has 3 rows but x has 4 rows"),
        ((x, np.hstack([y, y]), p, 0.1, 1), ValueError, "y has 2 columns but w2 has 1"),
        ((x, y, [w1, b1[:2], w2, b2], 0.1, 1), ValueError, "b1 has 2 entries"),
        ((x, y, [w1, b1, w2[:2], b2], 0.1, 1), ValueError, "w2 has 2 rows"),
        ((x, y, [w1, b1, w2, np.zeros(2)], 0.1, 1), ValueError, "b2 has 2 entries"),
        ((x, y, [w1, b1, w2], 0.1, 1), ValueError, "sequence of 4 arrays"),
        ((x, y, [w1.tolist(), b1, w2, b2], 0.1, 1), TypeError, r"params\[0\] \(w1\) must be"),
        ((x, y, [ro, b1, w2, b2], 0.1, 1), ValueError, "read-only"),
        ((x, y, [w1, b1, w2, b2.astype(np.float32)], 0.1, 1), TypeError, "dtype"),
        ((x.astype(np.float32), y, p, 0.1, 1), TypeError, "dtype"),
        ((x.astype(int), y, p, 0.1, 1), TypeError, "float32 or float64"),
        ((x[0], y, p, 0.1, 1), ValueError, "x must be 2-D"),
        ((x, y, [w1, w1, w2, b2], 0.1, 1), ValueError, r"params\[1\] \(b1\) must be 1-D"),
        ((x, y, [w1, b1, w2, w2.reshape(-1)[:1]], 0.1, 1), ValueError, "share memory"),
        ((x, y, p, 0.0, 1), ValueError, "lr must be a positive finite number"),
        ((x, y, p, float("nan"), 1), ValueError, "lr must be"),
        ((x, y, p, 0.1, -1), ValueError, "n_iter must be an integer >= 0"),
        ((x, y, p, 0.1, 1.5), ValueError, "n_iter"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls())))
def test_bad_arguments_raise_before_any_work(backend, case) -> None:
    args, exc, match = _bad_calls()[case]
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in args[2]]
    with pytest.raises(exc, match=match):
        backend.mlp_train(*args)
    for a, b in zip(args[2], before, strict=True):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b)


def test_bad_losses_out(backend) -> None:
    x, y, p = _problem(4, 2, 3, 1, np.float64)
    with pytest.raises(ValueError, match="losses_out has shape"):
        backend.mlp_train(x, y, p, 0.1, 2, losses_out=np.zeros(3))
    with pytest.raises(TypeError, match="losses_out has dtype"):
        backend.mlp_train(x, y, p, 0.1, 2, losses_out=np.zeros(2, np.float32))

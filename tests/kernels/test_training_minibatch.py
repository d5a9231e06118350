"""mlp_train_minibatch of every backend: the numba epochs against the numpy reference composed
of the plain kernels (hypothesis over shapes, dtypes, depths, batch sizes including 1 and a
ragged last batch, momentum), the in-place contract, empty work, NaN, bitwise thread-count
invariance and every validation error (the same message from every backend)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnkernels
from nnkernels.testing import assert_close
from tests.conftest import BACKENDS

from .helpers import assert_same_error


def mlp_layers(n: int, widths: list[int], dtype, seed: int = 0, epochs: int = 3):
    """x (n, widths[0]), y (n, widths[-1]), params of the layers, and an (epochs, n) order."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, widths[0])).astype(dtype)
    y = rng.standard_normal((n, widths[-1])).astype(dtype)
    params = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        params += [(rng.standard_normal((a, b)) / np.sqrt(max(a, 1))).astype(dtype),
                   rng.uniform(-0.5, 0.5, b).astype(dtype)]
    order = np.stack([rng.permutation(n) for _ in range(epochs)]) if n else np.zeros((epochs, 0))
    return x, y, params, order.astype(np.int64)


def _compare(n, widths, dtype, batch, momentum=0.0, epochs=3, lr=0.02) -> None:
    """Every backend's losses, parameters and velocities equal the numpy reference's."""
    x, y, params, order = mlp_layers(n, widths, dtype, epochs=epochs)
    results = {}
    for name in BACKENDS:
        p = [a.copy() for a in params]
        vel = [np.zeros_like(a) for a in p] if momentum else None
        losses = nnkernels.get_backend(name).mlp_train_minibatch(
            x, y, p, lr, order, batch, momentum=momentum, velocities=vel)
        assert losses.shape == (epochs,) and losses.dtype == np.float64
        assert all(a.dtype == dtype for a in p)
        results[name] = (losses, p + (vel or []))
    ref_losses, ref_p = results["numpy"]
    for losses, p in results.values():
        # A few epochs of many steps: a looser scale than a few full-batch steps.
        assert_close(losses, ref_losses, kind="train", scale=10, dtype=dtype)
        for a, r in zip(p, ref_p, strict=True):
            assert_close(a, r, kind="train", scale=10, dtype=dtype)


@pytest.mark.parametrize("case", [
    (0, [2, 3, 1], 4), (1, [1, 4, 1], 1), (7, [3, 5, 2], 3), (64, [10, 100, 1], 64),
    (203, [3, 7, 5, 2], 16), (100, [2, 1], 7), (50, [4, 0, 2], 5), (30, [0, 3, 1], 4),
    (30, [3, 4, 0], 4), (1_000, [40, 64, 3], 1_000), (999, [16, 32, 32, 4], 500),
], ids=str)
def test_matches_composed_reference(case, dtype) -> None:
    n, widths, batch = case
    _compare(n, widths, dtype, batch)


@pytest.mark.parametrize("momentum", [0.5, 0.9])
def test_momentum_matches_reference(momentum, dtype) -> None:
    _compare(130, [3, 8, 6, 2], dtype, 16, momentum=momentum)
    _compare(4_000, [20, 48, 2], dtype, 4_000, momentum=momentum, epochs=2)  # parallel chunks


@given(n=st.integers(1, 120), depth=st.integers(1, 4), width=st.integers(1, 12),
       out=st.integers(1, 3), batch=st.one_of(st.just(1), st.integers(1, 130)),
       momentum=st.sampled_from([0.0, 0.8]), dtype=st.sampled_from([np.float32, np.float64]))
def test_matches_reference_any_shape(n, depth, width, out, batch, momentum, dtype) -> None:
    widths = [width // 2 + 1] + [width + i for i in range(depth - 1)] + [out]
    _compare(n, widths, dtype, batch, momentum=momentum, epochs=2)


def test_one_epoch_order_and_split_calls(backend) -> None:
    # A 1-D order is one epoch; epochs split over calls (velocities carried) give the same.
    x, y, params, order = mlp_layers(90, [3, 6, 2], np.float64, epochs=3)
    p, q = [a.copy() for a in params], [a.copy() for a in params]
    vp, vq = [np.zeros_like(a) for a in p], [np.zeros_like(a) for a in q]
    whole = backend.mlp_train_minibatch(x, y, p, 0.05, order, 8, momentum=0.9, velocities=vp)
    parts = [backend.mlp_train_minibatch(x, y, q, 0.05, order[e], 8, momentum=0.9,
                                         velocities=vq) for e in range(3)]
    assert np.concatenate(parts).tobytes() == whole.tobytes()
    for a, b in zip(p + vp, q + vq, strict=True):
        assert a.tobytes() == b.tobytes()


def test_loss_is_measured_before_each_step(backend) -> None:
    # One batch holding every record: the first epoch's loss is the full-batch loss, and the
    # step is mlp_train's.
    x, y, params, order = mlp_layers(40, [2, 5, 1], np.float64, epochs=2)
    p, q = [a.copy() for a in params], [a.copy() for a in params]
    a = backend.mlp_train_minibatch(x, y, p, 0.1, order, 40)
    b = backend.mlp_train(x, y, q, 0.1, 2)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    for u, w in zip(p, q, strict=True):
        np.testing.assert_allclose(u, w, rtol=1e-10, atol=1e-13)


def test_no_work_changes_nothing(backend) -> None:
    x, y, params, order = mlp_layers(20, [2, 3, 1], np.float64, epochs=2)
    p = [a.copy() for a in params]
    assert np.array_equal(backend.mlp_train_minibatch(x, y, p, 0.1, order[:, :0], 4),
                          np.zeros(2))
    assert backend.mlp_train_minibatch(x, y, p, 0.1, order[:0], 4).shape == (0,)
    for a, b in zip(p, params, strict=True):
        assert np.array_equal(a, b)


def test_non_contiguous_params_are_updated_through_views(backend) -> None:
    x, y, params, order = mlp_layers(50, [3, 5, 2], np.float64)
    expected = [a.copy() for a in params]
    ref = backend.mlp_train_minibatch(x, y, expected, 0.1, order, 9)
    w1 = np.asfortranarray(params[0])
    b1_store = np.zeros(2 * params[1].size)
    b1 = b1_store[::2]
    b1[...] = params[1]
    got = [w1, b1, params[2].copy(), params[3].copy()]
    out = np.full(6, -1.0)[::2]
    losses = backend.mlp_train_minibatch(np.asfortranarray(x), y, got, 0.1, order.tolist(), 9,
                                         losses_out=out)
    assert losses is out
    np.testing.assert_allclose(losses, ref, rtol=1e-12)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("where", ["y", "x", "w2"])
def test_nan_propagates(backend, where) -> None:
    x, y, params, order = mlp_layers(40, [2, 6, 4, 1], np.float64, epochs=2)
    {"y": y, "x": x, "w2": params[2]}[where][1, 0] = np.nan
    losses = backend.mlp_train_minibatch(x, y, params, 0.1, order, 8)
    assert np.isnan(losses).all()
    assert np.isnan(params[-1]).all()


# -- validation: the same error from every backend, before any work ------------------------------

def _bad_calls():
    x, y, p, order = mlp_layers(6, [2, 3, 1], np.float64, epochs=1)
    w1, b1, w2, b2 = p
    ro = w1.copy()
    ro.flags.writeable = False
    return [
        ((x, y, [w1, b1, w2], 0.1, order, 2), {}, ValueError, "sequence of 2L arrays"),
        ((x[:, :1], y, p, 0.1, order, 2), {}, ValueError, "x has 1 columns but w1 has 2 rows"),
        ((x, y, [w1, b1[:2], w2, b2], 0.1, order, 2), {}, ValueError, "b1 has 2 entries"),
        ((x, y, [w1, b1, w2[:2], b2], 0.1, order, 2), {}, ValueError, "w2 has 2 rows"),
        ((x, np.hstack([y, y]), p, 0.1, order, 2), {}, ValueError, "y has 2 columns"),
        ((x, y[:3], p, 0.1, order, 2), {}, ValueError, "y has 3 rows but x has 6 rows"),
        ((x, y, [ro, b1, w2, b2], 0.1, order, 2), {}, ValueError, "read-only"),
        ((x, y, [w1, b1, w2, b2.astype(np.float32)], 0.1, order, 2), {}, TypeError, "dtype"),
        ((x, y, [w1, b1, w2, w2.reshape(-1)[:1]], 0.1, order, 2), {}, ValueError,
         "share memory"),
        ((x, y, p, 0.0, order, 2), {}, ValueError, "lr must be"),
        ((x, y, p, 0.1, order + 1, 2), {}, ValueError, r"order must hold record indices"),
        ((x, y, p, 0.1, order.astype(float), 2), {}, TypeError, "order must be an integer"),
        ((x, y, p, 0.1, order[None], 2), {}, ValueError, "order must be 1-D"),
        ((x, y, p, 0.1, order, 0), {}, ValueError, "batch_size must be an integer >= 1"),
        ((x, y, p, 0.1, order, 2), {"momentum": 1.0}, ValueError, "momentum must be"),
        ((x, y, p, 0.1, order, 2), {"momentum": 0.5, "velocities": [b1]}, ValueError,
         "velocities must be a sequence of 4"),
        ((x, y, p, 0.1, order, 2), {"momentum": 0.5, "velocities": [w1, b1, w2, b2]},
         ValueError, "share memory"),
        ((x, y, p, 0.1, order, 2),
         {"momentum": 0.5, "velocities": [np.zeros_like(w1), np.zeros(2), np.zeros_like(w2),
                                          np.zeros_like(b2)]},
         ValueError, r"params\[1\] has shape"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls())))
def test_bad_arguments_raise_same_error_everywhere(case) -> None:
    args, kwargs, exc, match = _bad_calls()[case]
    before = [a.copy() for a in args[2]]
    assert_same_error(lambda be: be.mlp_train_minibatch(*args, **kwargs), exc, [])
    with pytest.raises(exc, match=match):
        nnkernels.get_backend("numpy").mlp_train_minibatch(*args, **kwargs)
    for a, b in zip(args[2], before, strict=True):
        assert np.array_equal(a, b)

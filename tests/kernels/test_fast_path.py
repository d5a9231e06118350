"""The validation layer's fast path (``validation.ready*``): arguments that need no conversion
skip the general checks, give bitwise the results of the general path, and every other
argument (so every error and its message) still takes the general path."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from nnkernels.kernels import validation as v

rng = np.random.default_rng(0)


def _arrays(dtype: type) -> dict[str, np.ndarray]:
    """Ready arrays of one dense layer and one MLP (each allocated on its own)."""
    return {"x": rng.standard_normal((64, 3)).astype(dtype),
            "w": rng.standard_normal((3, 5)).astype(dtype),
            "b": rng.standard_normal(5).astype(dtype),
            "dy": rng.standard_normal((64, 5)).astype(dtype),
            "y": rng.standard_normal((64, 2)).astype(dtype),
            "w2": rng.standard_normal((5, 2)).astype(dtype),
            "b2": rng.standard_normal(2).astype(dtype)}


def _general(a: np.ndarray) -> np.ndarray:
    """The same values in an array the fast path declines (read-only, so the general path
    copies it)."""
    c = a.copy()
    c.flags.writeable = False
    return c


def _calls(be, a: dict[str, np.ndarray], conv: Callable[[np.ndarray], np.ndarray]
           ) -> dict[str, object]:
    """Every kernel with a fast path, on ``conv`` of the arrays; in-place results copied."""
    x, w, b, dy = (conv(a[k]) for k in ("x", "w", "b", "dy"))
    out: dict[str, object] = {
        "linear_forward": be.linear_forward(x, w, b),
        "linear_forward_nobias": be.linear_forward(x, w),
        "linear_relu_forward": be.linear_relu_forward(x, w, b),
        "linear_backward": be.linear_backward(x, w, dy),
        "linear_backward_nodx": be.linear_backward(x, w, dy, need_dx=False),
        "relu_forward": be.relu_forward(dy),
        "relu_backward": be.relu_backward(dy, conv(a["dy"] - 0.5)),
        "mse_loss": be.mse_loss(dy, conv(a["dy"] * 0.5)),
        "mse_loss_sum": be.mse_loss(dy, conv(a["dy"] * 0.5), "sum"),
    }
    p = a["dy"].copy()
    be.sgd_update(p, dy, 0.1)
    out["sgd_update"] = p
    return out


def _flat(value: object) -> list[np.ndarray | float | None]:
    if isinstance(value, tuple):
        return [item for v_ in value for item in _flat(v_)]
    return [value]  # type: ignore[list-item]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_path_is_taken_and_matches_the_general_path(backend, dtype, monkeypatch) -> None:
    a = _arrays(dtype)
    slow = _calls(backend, a, _general)
    # The general path's first check, made to fail: a ready call never reaches it.
    def refuse(*args, **kwargs):
        raise AssertionError("the general path ran")
    monkeypatch.setattr(v, "as_float_array", refuse)
    fast = _calls(backend, a, lambda arr: arr)
    for name in slow:
        for s, f in zip(_flat(slow[name]), _flat(fast[name]), strict=True):
            if isinstance(s, np.ndarray):
                assert f.dtype == s.dtype and f.flags.writeable, name
                np.testing.assert_array_equal(f, s, err_msg=name)
            else:
                assert f == s, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_train_fast_path_matches_the_general_path(backend, dtype, monkeypatch) -> None:
    a = _arrays(dtype)
    params = [a["w"].copy(), a["b"].copy(), a["w2"].copy(), a["b2"].copy()]
    # The general path: the same parameters as views of one buffer (they own no memory).
    flat = np.concatenate([p.ravel() for p in params])
    views, o = [], 0
    for p in params:
        views.append(flat[o:o + p.size].reshape(p.shape))
        o += p.size
    assert not v.ready_mlp_train(a["x"], a["y"], views, 0.01, 3)
    slow = backend.mlp_train(_general(a["x"]), _general(a["y"]), views, 0.01, 3)
    monkeypatch.setattr(v, "check_mlp_params", lambda *args, **kw: pytest.fail("general path"))
    assert v.ready_mlp_train(a["x"], a["y"], params, 0.01, 3)
    fast = backend.mlp_train(a["x"], a["y"], params, 0.01, 3)
    np.testing.assert_array_equal(fast, slow)
    assert fast.dtype == np.float64 and fast.shape == (3,)
    for p, q in zip(params, views, strict=True):
        np.testing.assert_array_equal(p, q)
    assert backend.mlp_train(a["x"], a["y"], params, 0.01, 0).shape == (0,)


class _Sub(np.ndarray):
    """An ndarray subclass: the general path views it as a base-class ndarray."""


def _variant(why: str) -> object:
    """A variant of a ready (64, 3) float64 array that the fast path must leave to the general
    path."""
    ok = rng.standard_normal((64, 3))
    if why == "read-only":
        ok.flags.writeable = False
        return ok
    if why == "unaligned":
        return np.ndarray((64, 3), np.float64, np.zeros(64 * 3 * 8 + 1, np.uint8).data, 1)
    return {"Fortran order": lambda: np.asfortranarray(ok),
            "strided": lambda: rng.standard_normal((64, 6))[:, ::2],
            "subclass": lambda: ok.view(_Sub), "matrix": lambda: np.asmatrix(ok),
            "masked": lambda: np.ma.masked_array(ok), "big-endian": lambda: ok.astype(">f8"),
            "float16": lambda: ok.astype(np.float16), "int64": lambda: ok.astype(np.int64),
            "list": ok.tolist}[why]()


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
@pytest.mark.parametrize("why", ["read-only", "unaligned", "Fortran order", "strided",
                                 "subclass", "matrix", "masked", "big-endian", "float16",
                                 "int64", "list"])
def test_predicates_decline_what_needs_the_general_path(why) -> None:
    arr = _variant(why)
    assert not v.ready(arr, 2), why
    assert not v.ready_any(arr), why
    w, b = np.ones((3, 4)), np.ones(4)
    assert not v.ready_dense(arr, w, b), why
    assert not v.ready_mlp_train(arr, np.ones((64, 1)), [w, b, np.ones((4, 1)), np.ones(1)],
                                 0.1, 1), why
    assert not v.ready_out(arr, (64, 3), np.dtype(np.float64), ()), why


def test_ready_mlp_train_declines_every_argument_the_general_path_must_see() -> None:
    x, y = np.ones((8, 3)), np.ones((8, 2))

    def params() -> list[np.ndarray]:
        return [np.ones((3, 4)), np.ones(4), np.ones((4, 2)), np.ones(2)]

    assert v.ready_mlp_train(x, y, params(), 0.1, 1)
    assert v.ready_mlp_train(x, y, tuple(params()), 0.1, 0)
    p = params()
    shared = [p[0], p[1], p[2], p[2][0]]  # b2 a view of w2
    same = [p[0], p[1], p[2], p[1][:2].copy()]
    sq = np.ones((3, 3))
    cases = {
        "lr numpy float": (x, y, params(), np.float64(0.1), 1),
        "lr int": (x, y, params(), 1, 1), "lr zero": (x, y, params(), 0.0, 1),
        "lr inf": (x, y, params(), np.inf, 1), "lr nan": (x, y, params(), np.nan, 1),
        "n_iter bool": (x, y, params(), 0.1, True), "n_iter negative": (x, y, params(), 0.1, -1),
        "n_iter float": (x, y, params(), 0.1, 1.0),
        "three params": (x, y, params()[:3], 0.1, 1), "params array": (x, y, np.ones(4), 0.1, 1),
        "mixed dtypes": (x, y, [params()[0].astype(np.float32), *params()[1:]], 0.1, 1),
        "y rows": (x, np.ones((7, 2)), params(), 0.1, 1),
        "y columns": (x, np.ones((8, 3)), params(), 0.1, 1),
        "w1 rows": (np.ones((8, 2)), y, params(), 0.1, 1),
        "b1 length": (x, y, [p[0], np.ones(5), p[2], p[3]], 0.1, 1),
        "b1 2-D": (x, y, [p[0], np.ones((1, 4)), p[2], p[3]], 0.1, 1),
        "x 1-D": (np.ones(8), y, params(), 0.1, 1),
        "shared memory": (x, y, shared, 0.1, 1),
        "param given twice": (x, y, [p[0], p[1], p[2], p[1]], 0.1, 1),
        "param is x": (sq, sq[:, :2].copy(), [sq, np.ones(3), np.ones((3, 2)), np.ones(2)],
                       0.1, 1),
        # D = H = O = N = 3: every pair of one ndim could be one object.
        "w1 is w2": (sq, sq.copy(), [w := np.ones((3, 3)), np.ones(3), w, np.ones(3)], 0.1, 1),
        "b1 is b2": (sq, sq.copy(), [np.ones((3, 3)), b := np.ones(3), np.ones((3, 3)), b],
                     0.1, 1),
        "w2 is y": (sq, sq, [np.ones((3, 3)), np.ones(3), sq, np.ones(3)], 0.1, 1),
        "w1 is y": (sq.copy(), sq, [sq, np.ones(3), np.ones((3, 3)), np.ones(3)], 0.1, 1),
        "w2 is x": (sq, sq.copy(), [np.ones((3, 3)), np.ones(3), sq, np.ones(3)], 0.1, 1),
    }
    assert v.ready_mlp_train(x, y, same, 0.1, 1)  # a copy is its own memory
    # x and y are only read: one array may be both.
    assert v.ready_mlp_train(y, y, [np.ones((2, 4)), np.ones(4), np.ones((4, 2)), np.ones(2)],
                             0.1, 1)
    for why, args in cases.items():
        assert not v.ready_mlp_train(*args), why


def test_ready_out_declines_outputs_that_overlap_an_input() -> None:
    x = np.ones((4, 6))
    dt = np.dtype(np.float64)
    assert v.ready_out(None, (4, 6), dt, (x,))
    assert v.ready_out(np.empty((4, 6)), (4, 6), dt, (x,))
    assert v.ready_out(np.empty((4, 6)), (4, 6), dt, (x[1:],))  # a view, but elsewhere
    assert not v.ready_out(x, (4, 6), dt, (x,))
    assert not v.ready_out(x, (4, 6), dt, (None, x[:, 1:]))  # an input viewing the output
    assert not v.ready_out(x, (4, 6), dt, (np.ones(3), x.reshape(-1)))
    assert not v.ready_out(x[1:2], (1, 6), dt, (x,))
    assert not v.ready_out(np.empty((4, 6), np.float32), (4, 6), dt, (x,))
    assert not v.ready_out(np.empty((6, 4)), (4, 6), dt, (x,))


def test_errors_still_come_from_the_general_path(backend) -> None:
    x, w = np.ones((4, 3)), np.ones((2, 5))
    with pytest.raises(ValueError, match=r"x has 3 columns but w has 2 rows"):
        backend.linear_forward(x, w)
    p = [np.ones((3, 4)), np.ones(4), np.ones((4, 1)), np.ones(1)]
    with pytest.raises(ValueError, match=r"lr must be a positive finite number, got 0.0"):
        backend.mlp_train(x, np.ones((4, 1)), p, 0.0, 1)
    with pytest.raises(ValueError, match=r"params\[2\] \(w2\) and params\[3\] \(b2\) share"):
        backend.mlp_train(x, np.ones((4, 1)), [p[0], p[1], p[2], p[2][0]], 0.1, 1)
    out = np.ones((4, 3))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        backend.relu_forward(x, out=out)

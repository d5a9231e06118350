"""Regression tests for the holes a hostile test of the kernel contract found (issue 8).

Each test names the finding it pins down; every one failed (or crashed the process) before the
fix. They run on every backend: the contract is the same for all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnkernels
from nnkernels.testing import assert_close

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning"),
    # numpy's reference meets the inf of the conv test in its GEMM: inf - inf is NaN there too.
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
]


def _rng() -> np.random.Generator:
    return np.random.default_rng(8)


# -- array subclasses: converted on the way in and out, results land in the caller's object ----


@pytest.mark.parametrize("kernel", ["relu_forward", "mse_loss"])
def test_matrix_out_is_written_not_crashed(backend, reference, kernel) -> None:
    """Was: numba segfaulted (a flattened np.matrix stays 2-D, the loop wrote out of bounds)."""
    u = _rng().standard_normal((40, 30))
    out = np.asmatrix(np.zeros((40, 30)))
    if kernel == "relu_forward":
        res = backend.relu_forward(u, out=out)
        expected = reference.relu_forward(u)
    else:
        loss, res = backend.mse_loss(u, np.ones_like(u), out=out)
        ref_loss, expected = reference.mse_loss(u, np.ones_like(u))
        assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert res is out and type(res) is np.matrix
    assert_close(np.asarray(out), expected)


def test_matrix_out_of_a_dense_kernel_is_the_callers_object(backend, reference) -> None:
    x, w = _rng().standard_normal((50, 3)), _rng().standard_normal((3, 7))
    out = np.asmatrix(np.empty((50, 7)))
    assert backend.linear_relu_forward(x, w, out=out) is out
    assert_close(np.asarray(out), reference.linear_relu_forward(x, w), 3)


def test_matrix_param_is_updated(backend) -> None:
    """Was: numba left an np.matrix param unchanged (plain SGD and momentum)."""
    grad = _rng().standard_normal((3, 5))
    p = np.asmatrix(np.ones((3, 5)))
    backend.sgd_update(p, grad, 0.5)
    assert type(p) is np.matrix
    assert_close(np.asarray(p), 1 - 0.5 * grad)
    p, vel = np.asmatrix(np.ones((3, 5))), np.asmatrix(np.full((3, 5), 0.25))
    backend.sgd_momentum_update(p, grad, vel, 0.5, 0.9)
    assert_close(np.asarray(vel), 0.9 * 0.25 - 0.5 * grad)
    assert_close(np.asarray(p), 1 + (0.9 * 0.25 - 0.5 * grad))


def test_masked_arrays_are_rejected(backend) -> None:
    """Was: the mask was dropped silently on both backends."""
    m = np.ma.masked_array(np.ones((4, 3)), mask=np.eye(4, 3, dtype=bool))
    with pytest.raises(TypeError, match="u is a masked array"):
        backend.relu_forward(m)
    with pytest.raises(TypeError, match="x is a masked array"):
        backend.linear_forward(m, np.ones((3, 2)))
    with pytest.raises(TypeError, match="out is a masked array"):
        backend.relu_forward(np.ones((4, 3)), out=m)
    with pytest.raises(TypeError, match="param is a masked array"):
        backend.sgd_update(m, np.ones((4, 3)), 0.1)
    with pytest.raises(TypeError, match="labels is a masked array"):
        backend.softmax_cross_entropy(np.ones((4, 3)), np.ma.masked_array([0, 1, 2, 0]))


# -- silently wrong results ------------------------------------------------------------------


def test_linear_backward_zero_depth_still_sums_dy(backend) -> None:
    """Was: numba returned db = 0 for x (3, 0), w (0, 2) with need_dx=False."""
    dy = _rng().standard_normal((3, 2))
    for need_dx in (False, True):
        dx, dw, db = backend.linear_backward(np.zeros((3, 0)), np.zeros((0, 2)), dy,
                                             need_dx=need_dx)
        assert dw.shape == (0, 2)
        assert_close(db, dy.sum(axis=0), 3)
        assert dx is None if not need_dx else dx.shape == (3, 0)


@pytest.mark.parametrize("where", ["x", "w"])
def test_conv2d_backward_inf_stays_where_it_belongs(backend, reference, where) -> None:
    """Was: numba's stride-1 path multiplied wrapped-around columns by 0, and inf * 0 = NaN
    spread into dw (and extra NaN into dx) where numpy and torch are finite."""
    rng = _rng()
    x = rng.standard_normal((2, 2, 6, 7))
    w = rng.standard_normal((3, 2, 3, 3))
    if where == "x":
        x[0, 1, 2, 6] = np.inf  # the last column: the one the full-width path wraps from
    else:
        w[1, 0, 0, 2] = np.inf
    dy = rng.standard_normal((2, 3, 6, 7))
    got = backend.conv2d_backward(x, w, dy, 1, 1)
    want = reference.conv2d_backward(x, w, dy, 1, 1)
    for g, e in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e))
        np.testing.assert_array_equal(np.isinf(g), np.isinf(e))
        finite = np.isfinite(e)
        assert_close(g[finite], e[finite], 54)


def test_momentum_with_grad_aliasing_velocity(backend) -> None:
    """Was: numpy's two in-place steps read a grad that the first step had overwritten."""
    g = _rng().standard_normal(10)
    p = np.ones(10)
    expected_v = 0.9 * g - 0.1 * g
    backend.sgd_momentum_update(p, g, g, 0.1, 0.9)  # grad *is* the velocity
    assert_close(g, expected_v)
    assert_close(p, 1 + expected_v)


# -- the same decision on every backend ------------------------------------------------------


@pytest.mark.parametrize("arg", ["stride", "padding"])
def test_huge_conv_integers_raise_naming_the_argument(backend, arg) -> None:
    """Was: 2**70 returned a result on numpy and an OverflowError naming nothing on numba."""
    x, w = np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match=f"{arg} must be >= [01] and <= 2147483647"):
        backend.conv2d_forward(x, w, **{arg: 2**70})
    with pytest.raises(ValueError, match=f"{arg} must be >= [01] and <= 2147483647"):
        backend.conv2d_backward(x, w, np.ones((1, 1, 3, 3)), **{arg: (1, 2**70)})
    with pytest.raises(ValueError, match="pool must be >= 1 and <= 2147483647"):
        backend.maxpool2d_forward(x, pool=2**40)


def test_empty_mlp_train_is_decided_before_the_backend(backend, monkeypatch) -> None:
    """Was: (2**40, 0) records raised MemoryError on numpy and ran for minutes on numba."""
    def never(*args: object) -> None:
        raise AssertionError("the backend ran on empty work")

    monkeypatch.setattr(backend.module, "mlp_train", never)
    n = 2**40
    x, y = np.empty((n, 0)), np.empty((n, 0))
    params = [np.ones((0, 4)), np.ones(4), np.ones((4, 0)), np.ones(0)]
    losses = backend.mlp_train(x, y, params, 0.1, 3)
    np.testing.assert_array_equal(losses, np.zeros(3))
    np.testing.assert_array_equal(params[1], np.ones(4))


def test_absurd_results_fail_the_same_way(backend) -> None:
    """A result that cannot be allocated fails in the interface, before any backend runs."""
    with pytest.raises(MemoryError):
        backend.linear_forward(np.empty((2**40, 0)), np.empty((0, 3)))


def test_ragged_lists_name_the_argument(backend) -> None:
    """Was: numpy's own message, naming no argument."""
    with pytest.raises(ValueError, match="x cannot be converted to an array"):
        backend.linear_forward([[1.0, 2.0], [3.0]], [[1.0], [1.0]])
    with pytest.raises(ValueError, match="labels cannot be converted to an array"):
        backend.softmax_cross_entropy(np.ones((2, 2)), [[0], [1, 0]])


def test_empty_label_list(backend) -> None:
    """Was: labels=[] was a TypeError (an empty list has numpy's float dtype)."""
    loss, dlogits = backend.softmax_cross_entropy(np.empty((0, 3)), [])
    assert loss == 0.0 and dlogits.shape == (0, 3)


def test_empty_batches_of_every_family(backend) -> None:
    """N = 0 everywhere: empty results, zero gradients, loss 0.0."""
    x4, w4 = np.empty((0, 2, 5, 5)), np.ones((3, 2, 3, 3))
    assert backend.conv2d_forward(x4, w4, np.ones(3)).shape == (0, 3, 3, 3)
    dx, dw, db = backend.conv2d_backward(x4, w4, np.empty((0, 3, 3, 3)))
    assert dx.shape == x4.shape and not dw.any() and not db.any()
    y, arg = backend.maxpool2d_forward(x4)
    assert y.shape == arg.shape == (0, 2, 2, 2)
    assert backend.maxpool2d_backward(y, arg, x4.shape).shape == x4.shape
    assert backend.mse_loss(np.empty((0, 2)), np.empty((0, 2)))[0] == 0.0
    assert backend.softmax(np.empty((0, 4))).shape == (0, 4)
    dx, dw, db = backend.linear_backward(np.empty((0, 3)), np.ones((3, 2)), np.empty((0, 2)))
    assert dx.shape == (0, 3) and not dw.any() and not db.any()


def test_images_without_pixels_give_the_bias(backend) -> None:
    """H = 0 with padding: every window sees only zero padding, so the output is the bias."""
    x, w, b = np.empty((2, 1, 0, 3)), np.ones((2, 1, 1, 1)), np.array([1.5, -2.0])
    y = backend.conv2d_forward(x, w, b, padding=1)
    assert y.shape == (2, 2, 2, 5)
    np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None], y.shape))
    dy = np.ones(y.shape)
    dx, dw, db = backend.conv2d_backward(x, w, dy, padding=1)
    assert dx.shape == x.shape and not dw.any()
    np.testing.assert_array_equal(db, [20.0, 20.0])


# -- one rule for outputs in every kernel ----------------------------------------------------


def test_conv2d_backward_follows_the_backward_rule(backend, reference) -> None:
    """Was: conv2d_backward overwrote its gradients and took no out=; linear_backward
    accumulated. Now both: dw_out/db_out accumulate, dx_out is overwritten, need_dx skips dx."""
    rng = _rng()
    x, w = rng.standard_normal((3, 2, 6, 6)), rng.standard_normal((4, 2, 3, 3))
    dy = rng.standard_normal((3, 4, 4, 4))
    _, dw_ref, db_ref = reference.conv2d_backward(x, w, dy)
    dx_out, dw_out, db_out = np.full(x.shape, 7.0), np.ones(w.shape), np.full(4, 2.0)
    dx, dw, db = backend.conv2d_backward(x, w, dy, dx_out=dx_out, dw_out=dw_out, db_out=db_out)
    assert dx is dx_out and dw is dw_out and db is db_out
    assert_close(dw, 1 + dw_ref, 48)
    assert_close(db, 2 + db_ref, 48)
    assert_close(dx, reference.conv2d_backward(x, w, dy)[0], 36)
    none, dw2, _ = backend.conv2d_backward(x, w, dy, need_dx=False)
    assert none is None
    assert_close(dw2, dw_ref, 48)
    with pytest.raises(ValueError, match="dx_out was given but need_dx is False"):
        backend.conv2d_backward(x, w, dy, need_dx=False, dx_out=dx_out)


def test_maxpool_kernels_take_out(backend, reference) -> None:
    x = _rng().standard_normal((2, 3, 6, 6))
    out, arg = np.empty((2, 3, 3, 3)), np.empty((2, 3, 3, 3), np.int64)
    y, a = backend.maxpool2d_forward(x, out=out, argmax_out=arg)
    assert y is out and a is arg
    y_ref, a_ref = reference.maxpool2d_forward(x)
    np.testing.assert_array_equal(out, y_ref)
    np.testing.assert_array_equal(arg, a_ref)
    dx_out = np.full(x.shape, 5.0)
    assert backend.maxpool2d_backward(y, a, x.shape, out=dx_out) is dx_out
    np.testing.assert_array_equal(dx_out, reference.maxpool2d_backward(y_ref, a_ref, x.shape))
    with pytest.raises(TypeError, match="argmax_out has dtype float64 but the result has dtype"):
        backend.maxpool2d_forward(x, argmax_out=np.empty((2, 3, 3, 3)))


# -- read-only inputs never compile after warmup ----------------------------------------------

_READ_ONLY_SCRIPT = """
import numpy as np, nnkernels
from numba.core.registry import CPUDispatcher
import nnkernels.kernels.numba_backend as nb
import importlib, pkgutil

def counts():
    out = {}
    for info in pkgutil.iter_modules(nb.__path__):
        mod = importlib.import_module(f"{nb.__name__}.{info.name}")
        for attr, f in vars(mod).items():
            if isinstance(f, CPUDispatcher):
                out[f"{info.name}.{attr}"] = len(f.signatures)
    return out

nnkernels.warmup()
before = counts()
be = nnkernels.get_backend("numba")
ro = lambda a: (a.setflags(write=False), a)[1]
rng = np.random.default_rng(0)
for dt in (np.float32, np.float64):
    x, w, b = (ro(rng.standard_normal(s).astype(dt)) for s in ((300, 2), (2, 5), (5,)))
    dy = ro(rng.standard_normal((300, 5)).astype(dt))
    be.linear_relu_forward(x, w, b); be.linear_backward(x, w, dy)
    be.relu_forward(dy); be.relu_backward(dy, dy); be.mse_loss(dy, dy)
    be.sgd_update(dy.copy(), dy, 0.1)
    be.softmax_cross_entropy(dy, ro(np.zeros(300, np.int64))); be.softmax(dy)
    x4 = ro(rng.standard_normal((2, 1, 6, 6)).astype(dt))
    w4 = ro(rng.standard_normal((2, 1, 3, 3)).astype(dt))
    y4 = be.conv2d_forward(x4, w4, ro(np.zeros(2, dt)), padding=1)
    be.conv2d_backward(x4, w4, ro(y4), padding=1)
    p, a = be.maxpool2d_forward(x4)
    be.maxpool2d_backward(ro(p), ro(a), x4.shape)
    params = [rng.standard_normal(s).astype(dt) for s in ((2, 4), (4,), (4, 1), (1,))]
    be.mlp_train(x, ro(rng.standard_normal((300, 1)).astype(dt)), params, 0.01, 2)
after = counts()
new = {k: (before.get(k, 0), v) for k, v in after.items() if v != before.get(k, 0)}
assert not new, new
print("ok")
"""


def test_read_only_inputs_compile_nothing_after_warmup() -> None:
    """Was: a read-only input compiled a new specialisation (0.1-2 s) on its first call."""
    pytest.importorskip("numba")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                   "")]))
    done = subprocess.run([sys.executable, "-c", _READ_ONLY_SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


def test_read_only_inputs_give_the_same_results(backend) -> None:
    x = _rng().standard_normal((100, 3))
    x.setflags(write=False)
    w = np.ones((3, 2))
    np.testing.assert_array_equal(backend.linear_forward(x, w),
                                  backend.linear_forward(x.copy(), w))
    assert nnkernels.get_backend("numpy").relu_forward(x).flags.writeable

"""mlp_train of every backend: the fused numba step against the composed numpy reference
(fixed and hypothesis-drawn shapes, zero dimensions, the parallel path), the gradient of the mean
loss by finite differences, the in-place contract over layouts, empty inputs, NaN and every
validation error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnkernels
from nnkernels.gradcheck import numerical_gradient
from nnkernels.testing import assert_close
from tests.conftest import BACKENDS

from .helpers import assert_same_error, mlp_problem


def _compare(n, d, h, o, dtype, steps=3, lr=0.05) -> None:
    """Every backend's losses and updated parameters equal the numpy reference's."""
    x, y, params = mlp_problem(n, d, h, o, dtype)
    results = {}
    for name in BACKENDS:
        p = [a.copy() for a in params]
        losses = nnkernels.get_backend(name).mlp_train(x, y, p, lr, steps)
        assert losses.shape == (steps,) and losses.dtype == np.float64
        assert all(a.dtype == dtype for a in p)
        results[name] = (losses, p)
    ref_losses, ref_p = results["numpy"]
    for _name, (losses, p) in results.items():
        assert_close(losses, ref_losses, kind="train", scale=1, dtype=dtype)
        for a, r in zip(p, ref_p, strict=True):
            assert_close(a, r, kind="train", scale=1, dtype=dtype)


# -- agreement with the reference (zero dimensions included) --------------------------------------

@pytest.mark.parametrize("shape", [(0, 1, 10, 1), (1, 1, 10, 1), (3, 2, 5, 2), (5, 1, 1, 1),
                                   (700, 1, 10, 1), (257, 4, 33, 3), (3000, 2, 40, 1),
                                   (6, 0, 3, 1), (6, 2, 3, 0), (6, 2, 0, 1), (6, 0, 40, 0)],
                         ids=str)
def test_fused_matches_composed_reference(shape, dtype) -> None:
    _compare(*shape, dtype)


@given(n=st.integers(0, 600), d=st.integers(1, 5), h=st.integers(1, 48), o=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_fused_matches_reference_any_shape(n, d, h, o, dtype) -> None:
    _compare(n, d, h, o, dtype, steps=2)


@pytest.mark.parametrize("h", [16, 64])
def test_large_problem_takes_the_parallel_path(h, dtype) -> None:
    # N * H * (D + O) above the numba backend's serial threshold; narrow and wide kernels.
    _compare(20_000, 1, h, 1, dtype, steps=2)


@given(n=st.integers(0, 400), h=st.one_of(st.integers(1, 40), st.integers(200, 1100)),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_narrow_kernel_matches_reference_any_h(n, h, dtype) -> None:
    # D = O = 1: the register-blocked kernel for every H, with any remainder of records
    # (N mod the records per iteration) and H not a multiple of the vector width.
    _compare(n, 1, h, 1, dtype, steps=2)


@pytest.mark.parametrize("shape", [(3_001, 1000), (20_003, 300), (9, 1000)], ids=str)
def test_narrow_kernel_large_h(shape, dtype) -> None:
    _compare(shape[0], 1, shape[1], 1, dtype, steps=2)



# -- D = O = 1 with few hidden units: the record-block kernel (NARROW_BLOCK) ---------------------
# Numbers of records around the block length (config.NARROW_BLOCK_RECORDS): fewer than one
# block, one exactly, one and a record, several with a ragged last block; hidden widths from 1
# to the kind's limit. numba_cfg is None without numba (the numpy reference alone is compared).
try:
    from nnkernels.kernels.numba_backend import config as numba_cfg
    from nnkernels.kernels.numba_backend import training as numba_training
except ImportError:  # pragma: no cover - numba missing
    numba_cfg = numba_training = None
_ROWS = numba_cfg.NARROW_BLOCK_RECORDS if numba_cfg else 512
_MAX_H = numba_cfg.NARROW_BLOCK_MAX_HIDDEN if numba_cfg else 64
_BLOCK_N = [1, 2, 7, _ROWS - 1, _ROWS, _ROWS + 1, 2 * _ROWS + 3, 3 * _ROWS + _ROWS // 2]
_BLOCK_H = sorted({1, 2, 3, 10, _MAX_H // 2 + 1, _MAX_H})


@pytest.mark.parametrize("h", _BLOCK_H)
@pytest.mark.parametrize("n", _BLOCK_N)
def test_record_block_kernel_matches_reference(n, h, dtype) -> None:
    if numba_training is not None:
        assert numba_training.plan(n, 1, h, 1)[1] == numba_training.NARROW_BLOCK
    _compare(n, 1, h, 1, dtype, steps=2)


@given(n=st.integers(0, 3 * _ROWS + 7), h=st.integers(1, _MAX_H),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_record_block_kernel_matches_reference_any_shape(n, h, dtype) -> None:
    # Any number of blocks and any ragged last block (the other hypothesis tests of D = O = 1
    # stay below one block of records).
    _compare(n, 1, h, 1, dtype, steps=2)


@pytest.mark.parametrize("n,h", [(60_011, 1), (20_011, 3), (30_001, 10), (9_999, _MAX_H)],
                         ids=str)
def test_record_block_kernel_parallel_chunks(n, h, dtype) -> None:
    # Above the serial threshold: several chunks, none a multiple of the block length.
    if numba_training is not None:
        assert numba_training.plan(n, 1, h, 1)[0] > 1
    _compare(n, 1, h, 1, dtype, steps=2)


def test_plan_kinds_of_the_narrow_network() -> None:
    if numba_training is None:
        pytest.skip("numba is not installed")
    tr = numba_training
    for n in (0, 1, 700, 10**4, 10**6):
        assert tr.plan(n, 1, 1, 1)[1] == tr.plan(n, 1, _MAX_H, 1)[1] == tr.NARROW_BLOCK
        assert tr.plan(n, 2, 10, 1)[1] != tr.NARROW_BLOCK
        assert tr.plan(n, 1, 10, 2)[1] != tr.NARROW_BLOCK
    # Above _MAX_H: the 8-record kernel while chunks are short, record blocks once they are long.
    for n, h in ((700, _MAX_H + 1), (10**4, 100), (10**4, 1000)):
        assert tr.plan(n, 1, h, 1)[1] == tr.NARROW8
    for n, h in ((10**5, 100), (10**5, 1000), (10**6, _MAX_H + 1)):
        nc, kind = tr.plan(n, 1, h, 1)
        assert kind == tr.NARROW_BLOCK and n // nc >= numba_cfg.NARROW_BLOCK_MIN_CHUNK_RECORDS


def test_record_blocks_of_a_wide_hidden_layer_in_long_chunks(dtype) -> None:
    # H above _MAX_H takes the record blocks once each chunk has enough records.
    n, h = 16 * (numba_cfg.NARROW_BLOCK_MIN_CHUNK_RECORDS if numba_cfg else 4096) + 11, 100
    if numba_training is not None:
        assert numba_training.plan(n, 1, h, 1)[1] == numba_training.NARROW_BLOCK
    _compare(n, 1, h, 1, dtype, steps=2)


@pytest.mark.parametrize("n,h", [(3, 10), (_ROWS + 5, 3), (40_003, 10), (25_000, _MAX_H)],
                         ids=str)
def test_record_block_kernel_serial_and_parallel_drivers_agree_bitwise(n, h, dtype) -> None:
    # The same chunks run one after another or in parallel give the same bits, and so does
    # either against a 1-thread parallel run.
    if numba_training is None:
        pytest.skip("numba is not installed")
    import numba

    tr = numba_training
    x, y, params = mlp_problem(n, 1, h, 1, dtype)
    nc = max(2, tr.plan(n, 1, h, 1)[0]) if n > 1 else 1
    runs = []
    before = numba.get_num_threads()
    try:
        for parallel, threads in [(False, 1), (True, 1), (True, numba.config.NUMBA_NUM_THREADS)]:
            numba.set_num_threads(threads)
            p = [a.copy() for a in params]
            losses = np.zeros(3)
            tr._train(x, y, *p, dtype(0.05), dtype(1.0 / n), losses, nc, tr.NARROW_BLOCK,
                      parallel, 0)
            runs.append((losses.tobytes(), b"".join(a.tobytes() for a in p)))
    finally:
        numba.set_num_threads(before)
    assert runs[0] == runs[1] == runs[2]


@pytest.mark.parametrize("where", ["x", "y", "w1", "b1", "w2"])
@pytest.mark.parametrize("n", [40, 2 * _ROWS + 9])
def test_record_block_kernel_nan_propagates(backend, where, n) -> None:
    # A NaN in any input reaches the loss and the output layer after one step (the record in
    # the last, ragged block), and every prediction after two.
    for h in (1, 10, _MAX_H):
        x, y, params = mlp_problem(n, 1, h, 1, np.float64)
        r = n - 2
        if where == "x":
            x[r, 0] = np.nan
        elif where == "y":
            y[r, 0] = np.nan
        else:
            params[{"w1": 0, "b1": 1, "w2": 2}[where]].reshape(-1)[h // 2] = np.nan
        p = [a.copy() for a in params]
        losses = backend.mlp_train(x, y, p, 0.1, 1)
        assert np.isnan(losses).all()
        assert np.isnan(p[3]).all()
        assert np.isnan(p[2]).all()
        losses = backend.mlp_train(x, y, p, 0.1, 1)
        assert np.isnan(losses).all()


# Wide D and O: the BLAS row-block kernel, serial and parallel, with a ragged last block.
@pytest.mark.parametrize("shape", [(7, 16, 40, 3), (1_500, 64, 256, 10), (4_099, 12, 96, 4),
                                   (300, 7, 33, 1)], ids=str)
def test_blocked_kernel_matches_reference(shape, dtype) -> None:
    _compare(*shape, dtype, steps=2)


@given(n=st.integers(1, 300), d=st.integers(4, 24), h=st.integers(32, 90), o=st.integers(1, 8),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_blocked_kernel_matches_reference_any_shape(n, d, h, o, dtype) -> None:
    _compare(n, d, h, o, dtype, steps=2)


# -- gradients (central finite differences, float64) ---------------------------------------------

def test_loss_and_gradient_are_those_of_the_mean_loss(backend) -> None:
    x, y, params = mlp_problem(9, 2, 4, 2, np.float64)
    w1, b1, w2, b2 = params

    def loss() -> float:
        pred = np.maximum(x @ w1 + b1, 0) @ w2 + b2
        return 0.5 * float(np.mean((pred - y) ** 2))

    grads = [numerical_gradient(loss, p) for p in params]
    expected_loss = loss()
    p = [a.copy() for a in params]
    lr = 1e-3
    losses = backend.mlp_train(x, y, p, lr, 1)
    assert losses[0] == pytest.approx(expected_loss, rel=1e-12)
    for new, old, g in zip(p, params, grads, strict=True):
        np.testing.assert_allclose((old - new) / lr, g, rtol=1e-5, atol=1e-7)


# -- the training loop ---------------------------------------------------------------------------

def test_losses_decrease_and_are_measured_before_each_step(backend) -> None:
    x, y, params = mlp_problem(200, 1, 8, 1, np.float64)
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


def test_calls_split_anywhere_give_the_same_result(backend) -> None:
    x, y, params = mlp_problem(300, 2, 6, 1, np.float64)
    p, q = [a.copy() for a in params], [a.copy() for a in params]
    all_at_once = backend.mlp_train(x, y, p, 0.05, 10)
    split = np.concatenate([backend.mlp_train(x, y, q, 0.05, 3),
                            backend.mlp_train(x, y, q, 0.05, 7)])
    assert all_at_once.tobytes() == split.tobytes()
    for a, b in zip(p, q, strict=True):
        assert a.tobytes() == b.tobytes()


# -- empty inputs (N = 0 and zero D, H, O are in the shapes compared above) -----------------------

def test_empty_batch_gives_zero_loss_and_unchanged_params(backend, dtype) -> None:
    x, y, params = mlp_problem(0, 3, 4, 2, dtype)
    p = [a.copy() for a in params]
    losses = backend.mlp_train(x, y, p, 0.5, 3)
    assert np.array_equal(losses, np.zeros(3))
    for a, b in zip(p, params, strict=True):
        assert np.array_equal(a, b)


# -- layouts -------------------------------------------------------------------------------------

def test_non_contiguous_params_and_inputs(backend) -> None:
    x, y, params = mlp_problem(50, 3, 5, 2, np.float64)
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


# -- NaN -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("h", [3, 100])
def test_nan_propagates(backend, h) -> None:
    x, y, params = mlp_problem(20, 1, h, 1, np.float64)
    y[3, 0] = np.nan
    losses = backend.mlp_train(x, y, params, 0.1, 2)
    assert np.isnan(losses).all()
    assert np.isnan(params[3]).all()


@pytest.mark.parametrize("where", ["x", "w1"])
def test_nan_in_the_hidden_layer_propagates(backend, where) -> None:
    # A NaN pre-activation must pass the ReLU (as np.maximum does) in the forward and backward
    # loops of the narrow (D = O = 1, records in registers) and wide kernels alike.
    for d, h in [(1, 40), (2, 40), (16, 40)]:
        x, y, params = mlp_problem(33, d, h, 1, np.float64)
        (x if where == "x" else params[0])[0 if where == "w1" else 5, 0] = np.nan
        losses = backend.mlp_train(x, y, params, 0.1, 1)
        assert np.isnan(losses).all()
        assert np.isnan(params[3]).all()


# -- validation: the same error from every backend, before any work ------------------------------

def _bad_calls(dtype=np.float64):
    x, y, p = mlp_problem(4, 2, 3, 1, dtype)
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
def test_bad_arguments_raise_before_any_work(case) -> None:
    messages = set()
    for name in BACKENDS:
        args, exc, match = _bad_calls()[case]
        before = [a.copy() if isinstance(a, np.ndarray) else a for a in args[2]]
        with pytest.raises(exc, match=match) as info:
            nnkernels.get_backend(name).mlp_train(*args)
        messages.add(str(info.value))
        for a, b in zip(args[2], before, strict=True):
            if isinstance(a, np.ndarray):
                assert np.array_equal(a, b)
    assert len(messages) == 1, messages


X, Y, P = mlp_problem(4, 2, 3, 1, np.float64)

BAD_CALLS = [
    (lambda be: be.mlp_train(X, Y, [a.copy() for a in P], 0.1, 2, losses_out=np.zeros(3)),
     ValueError, ["losses_out has shape"]),
    (lambda be: be.mlp_train(X, Y, [a.copy() for a in P], 0.1, 2,
                             losses_out=np.zeros(2, np.float32)),
     TypeError, ["losses_out has dtype"]),
]


@pytest.mark.parametrize("call,exc,words", BAD_CALLS)
def test_bad_input_raises_same_error_everywhere(call, exc, words) -> None:
    assert_same_error(call, exc, words)


# -- mlp_grad: loss and gradient sums of one chunk, accumulated -----------------------------------

def _grad_compare(n, d, h, o, dtype) -> None:
    """Every backend's loss sum and gradient sums equal the numpy reference's."""
    x, y, params = mlp_problem(n, d, h, o, dtype)
    results = {}
    for name in BACKENDS:
        before = [a.copy() for a in params]
        loss, grads = nnkernels.get_backend(name).mlp_grad(x, y, params)
        assert isinstance(loss, float)
        assert [g.shape for g in grads] == [p.shape for p in params]
        assert all(g.dtype == dtype for g in grads)
        for a, b in zip(params, before, strict=True):
            assert a.tobytes() == b.tobytes()  # params are only read
        results[name] = (loss, grads)
    ref_loss, ref_grads = results["numpy"]
    for loss, grads in results.values():
        # Sums over N records: the tolerance grows with sqrt(N) and the magnitude.
        assert_close(np.array(loss), np.array(ref_loss), max(n, 1), dtype=dtype)
        for g, r in zip(grads, ref_grads, strict=True):
            assert_close(g, r, max(n, 1), dtype=dtype)


@pytest.mark.parametrize("shape", [(0, 1, 10, 1), (1, 1, 10, 1), (3, 2, 5, 2), (700, 1, 10, 1),
                                   (257, 4, 33, 3), (20_000, 1, 16, 1), (20_000, 2, 64, 1),
                                   (6, 0, 3, 1), (6, 2, 3, 0), (6, 2, 0, 1), (1_537, 1, 3, 1),
                                   (30_001, 1, 64, 1), (9_001, 1, 200, 1)], ids=str)
def test_mlp_grad_matches_reference(shape, dtype) -> None:
    _grad_compare(*shape, dtype)


@given(n=st.integers(0, 600), d=st.integers(1, 5), h=st.integers(1, 48), o=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_mlp_grad_matches_reference_any_shape(n, d, h, o, dtype) -> None:
    _grad_compare(n, d, h, o, dtype)


def test_mlp_grad_is_the_sum_behind_mlp_train(backend) -> None:
    """Loss sum / (N * O) is mlp_train's loss; lr * grad sum / (N * O) its step."""
    x, y, params = mlp_problem(300, 2, 6, 2, np.float64)
    loss, grads = backend.mlp_grad(x, y, params)
    p = [a.copy() for a in params]
    lr = 0.05
    losses = backend.mlp_train(x, y, p, lr, 1)
    total = x.shape[0] * y.shape[1]
    assert loss / total == pytest.approx(losses[0], rel=1e-12)
    for new, old, g in zip(p, params, grads, strict=True):
        np.testing.assert_allclose(new, old - lr * g / total, rtol=1e-12, atol=1e-14)


def test_mlp_grad_accumulates_and_chunks_add_up(backend, dtype) -> None:
    x, y, params = mlp_problem(500, 3, 7, 2, dtype)
    start = [np.full(p.shape, 0.25, dtype) for p in params]
    grads = [a.copy() for a in start]
    total = 0.0
    for lo, hi in [(0, 123), (123, 124), (124, 124), (124, 500)]:  # an empty chunk included
        loss, out = backend.mlp_grad(x[lo:hi], y[lo:hi], params, grads)
        assert all(g is o for g, o in zip(grads, out, strict=True))
        total += loss
    whole_loss, whole = backend.mlp_grad(x, y, params)
    assert_close(np.array(total), np.array(whole_loss), 500, dtype=dtype)
    for g, s, w in zip(grads, start, whole, strict=True):
        assert_close(g - s, w, 500, dtype=dtype)


def test_mlp_grad_empty_chunks_add_nothing(backend, dtype) -> None:
    for shape in [(0, 3, 4, 2), (5, 3, 4, 0)]:
        x, y, params = mlp_problem(*shape, dtype)
        grads = [np.full(p.shape, 2.0, dtype) for p in params]
        loss, out = backend.mlp_grad(x, y, params, grads)
        assert loss == 0.0
        assert all(np.all(g == 2.0) for g in out)


def test_mlp_grad_non_contiguous_and_read_only(backend) -> None:
    x, y, params = mlp_problem(50, 3, 5, 2, np.float64)
    ref_loss, ref = backend.mlp_grad(x, y, params)
    ro = [np.asfortranarray(p) if p.ndim == 2 else p.copy() for p in params]
    for p in ro:
        p.flags.writeable = False  # scattered (deserialised) arrays may be read-only
    store = [np.zeros((2 * p.size,)) for p in params]
    views = [s[::2].reshape(p.shape) if p.ndim == 1 else np.asfortranarray(np.zeros(p.shape))
             for s, p in zip(store, params, strict=True)]
    loss, out = backend.mlp_grad(np.asfortranarray(x), y[::1], ro, views)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for g, r in zip(out, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-13)


def test_mlp_grad_nan_propagates(backend) -> None:
    x, y, params = mlp_problem(40_000, 1, 10, 1, np.float64)
    y[3, 0] = np.nan
    loss, grads = backend.mlp_grad(x, y, params)
    assert np.isnan(loss)
    assert np.isnan(grads[3]).all()


def test_mlp_grad_bitwise_equal_for_any_thread_count(dtype) -> None:
    if "numba" not in BACKENDS:
        pytest.skip("numba is not installed")
    be = nnkernels.get_backend("numba")
    results = []
    before = nnkernels.get_num_threads()
    try:
        for threads in (1, 2, 1):
            nnkernels.set_num_threads(threads)
            for shape in [(50_000, 1, 10, 1), (9_000, 3, 64, 2)]:
                x, y, params = mlp_problem(*shape, dtype)
                loss, grads = be.mlp_grad(x, y, params)
                results.append((threads, shape, np.float64(loss).tobytes(),
                                b"".join(g.tobytes() for g in grads)))
    finally:
        nnkernels.set_num_threads(before)
    assert results[0][2:] == results[2][2:] == results[4][2:]
    assert results[1][2:] == results[3][2:] == results[5][2:]


def _bad_grad_calls():
    x, y, p = mlp_problem(4, 2, 3, 1, np.float64)
    w1, b1, w2, b2 = p
    g = [np.zeros_like(a) for a in p]
    return [
        ((x[:, :1], y, p), ValueError, "x has 1 columns but w1 has 2 rows"),
        ((x, y[:3], p), ValueError, "y has 3 rows but x has 4 rows"),
        ((x, y, [w1, b1, w2]), ValueError, "sequence of 4 arrays"),
        ((x, y, [w1, b1, w2, b2.astype(np.float32)]), TypeError, "dtype"),
        ((x.astype(int), y, p), TypeError, "float32 or float64"),
        ((x, y, p, g[:3]), ValueError, "grads_out must be a sequence of 4 arrays"),
        ((x, y, p, [g[0], g[1], g[2], np.zeros(2)]), ValueError,
         r"grads_out\[3\] \(gb2\) has shape \(2,\)"),
        ((x, y, p, [g[0], g[1], g[2], g[3].astype(np.float32)]), TypeError,
         r"grads_out\[3\] \(gb2\) has dtype float32"),
        ((x, y, p, [g[0], g[0].reshape(-1)[:3], g[2], g[3]]), ValueError, "share memory"),
        ((x, y, p, [g[0], g[1], g[2], g[3].tolist()]), TypeError, "must be a numpy.ndarray"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_grad_calls())))
def test_mlp_grad_bad_arguments_raise_before_any_work(case) -> None:
    messages = set()
    for name in BACKENDS:
        args, exc, match = _bad_grad_calls()[case]
        grads = args[3] if len(args) > 3 else []
        before = [a.copy() for a in grads if isinstance(a, np.ndarray)]
        with pytest.raises(exc, match=match) as info:
            nnkernels.get_backend(name).mlp_grad(*args)
        messages.add(str(info.value))
        after = [a for a in grads if isinstance(a, np.ndarray)]
        for a, b in zip(after, before, strict=True):
            assert np.array_equal(a, b)
    assert len(messages) == 1, messages

"""numba's parallel loops give bitwise identical results for any thread count and run to run:
dense and elementwise kernels, conv2d, mlp_train."""

from __future__ import annotations

import numpy as np
import pytest

import nnkernels

from .helpers import conv_case, mlp_problem

pytestmark = pytest.mark.skipif("numba" not in nnkernels.available_backends(),
                                reason="numba is not installed")

# Above every parallel threshold: row loops (D = 1, 3), BLAS forward with row-loop backward
# (D = 8), and BLAS both ways (D = 32).
SHAPES = [(50_000, 1, 10), (9_000, 3, 64), (8_000, 8, 32), (5_000, 32, 48)]


def _run_all(be: nnkernels.Backend, x, w, b, dy) -> list[np.ndarray]:
    y = be.linear_relu_forward(x, w, b)
    out = [be.linear_forward(x, w, b), y, *be.linear_backward(x, w, dy)]
    out.append(be.relu_forward(dy))
    out.append(be.relu_backward(dy, y))
    loss, dpred = be.mse_loss(y, dy)
    out += [np.array(loss), dpred]
    p = dy.copy()
    be.sgd_update(p, y, 0.1)
    out.append(p)
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_bitwise_equal_for_any_thread_count(shape, dtype) -> None:
    n, d, h = shape
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((d, h)).astype(dtype)
    b, dy = rng.standard_normal(h).astype(dtype), rng.standard_normal((n, h)).astype(dtype)
    be = nnkernels.get_backend("numba")
    before = nnkernels.get_num_threads()
    try:
        nnkernels.set_num_threads(1)
        one = _run_all(be, x, w, b, dy)
        nnkernels.set_num_threads(2)
        two = _run_all(be, x, w, b, dy)
        again = _run_all(be, x, w, b, dy)
    finally:
        nnkernels.set_num_threads(before)
    for a, c, e in zip(one, two, again, strict=True):
        assert a.tobytes() == c.tobytes()
        assert c.tobytes() == e.tobytes()


def test_conv2d_numba_bitwise_equal_for_any_thread_count():
    numba = pytest.importorskip("numba")
    be = nnkernels.get_backend("numba")
    # 24*16*256*72 multiply-adds: above the numba backend's parallel threshold.
    x, w, b, stride, padding = conv_case((24, 8, 16, 16, 16, 3, 3, 1, 1), np.float32)
    dy = np.random.default_rng(4).standard_normal((24, 16, 16, 16)).astype(np.float32)
    before = numba.get_num_threads()
    try:
        results = []
        for threads in (1, numba.config.NUMBA_NUM_THREADS, 1):
            numba.set_num_threads(threads)
            results.append((be.conv2d_forward(x, w, b, stride, padding),
                            *be.conv2d_backward(x, w, dy, stride, padding)))
    finally:
        numba.set_num_threads(before)
    for other in results[1:]:
        for a, c in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("n,d,h", [(700, 2, 24), (5_000, 2, 24), (30_000, 2, 12), (5_000, 2, 64),
                                   (30_001, 1, 12), (5_003, 1, 1000), (699, 1, 100),
                                   (6_001, 32, 64), (100_003, 1, 1), (20_011, 1, 3),
                                   (40_009, 1, 10), (7_001, 1, 64), (700, 1, 10)])
def test_mlp_train_bitwise_equal_for_any_thread_count(n, d, h, dtype) -> None:
    # d = 1: the record-block kernel (h <= config.NARROW_BLOCK_MAX_HIDDEN) and the narrow
    # register-blocked one, serial and in parallel chunks; d = 32: the BLAS row-block kernel.
    x, y, params = mlp_problem(n, d, h, 1, dtype)
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


@pytest.mark.parametrize("widths", [[24, 48, 48, 3], [24, 96, 3]], ids=str)
@pytest.mark.parametrize("batch", [1, 37, 2_000])
def test_mlp_train_minibatch_bitwise_equal_for_any_thread_count(batch, widths, dtype) -> None:
    # batch 2,000: above the parallel threshold (chunked batches), for the layer-by-layer
    # chunks (two hidden layers) and for mlp_train's chunk kernels (one hidden layer).
    from .test_training_minibatch import mlp_layers

    x, y, params, order = mlp_layers(4_001, widths, dtype, epochs=2)
    be = nnkernels.get_backend("numba")
    before = nnkernels.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 2):
            nnkernels.set_num_threads(threads)
            p = [a.copy() for a in params]
            vel = [np.zeros_like(a) for a in p]
            runs.append((be.mlp_train_minibatch(x, y, p, 0.01, order, batch, momentum=0.9,
                                                velocities=vel), p + vel))
    finally:
        nnkernels.set_num_threads(before)
    for losses, p in runs[1:]:
        assert losses.tobytes() == runs[0][0].tobytes()
        for a, b in zip(p, runs[0][1], strict=True):
            assert a.tobytes() == b.tobytes()

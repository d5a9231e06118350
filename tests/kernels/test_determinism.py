"""numba's parallel loops give bitwise identical results for 1 and 2 threads and run to run."""

from __future__ import annotations

import numpy as np
import pytest

import nnkernels

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

"""Sharing the machine (issue 10): fork, concurrent Python threads, and the serial fallback of
the numba backend's parallel regions, which must never change a bit of any result."""

from __future__ import annotations

import multiprocessing
import threading
import time

import numpy as np
import pytest

import nnkernels

pytest.importorskip("numba")
from nnkernels.kernels.numba_backend import scheduling  # noqa: E402

# Shapes above every parallel threshold (1e5 elements of work, 4e6 conv multiply-adds).
N, H = 20_000, 50


def _problem() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(10)
    return {"x": rng.standard_normal((N, 1)), "w": rng.standard_normal((1, H)),
            "b": rng.standard_normal(H), "dy": rng.standard_normal((N, H)),
            "x4": rng.standard_normal((16, 3, 16, 16)), "w4": rng.standard_normal((8, 3, 3, 3)),
            "y": rng.standard_normal((N, 1))}


def _every_kernel(p: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One call of each parallel-size kernel on the numba backend; the results, flattened."""
    be = nnkernels.get_backend("numba")
    out = [be.linear_relu_forward(p["x"], p["w"], p["b"]), *be.linear_backward(p["x"], p["w"],
                                                                                p["dy"])]
    out += [be.relu_backward(p["dy"], p["dy"]), be.mse_loss(p["dy"], p["dy"] * 0.5)[1],
            be.softmax(p["dy"])]
    y = be.conv2d_forward(p["x4"], p["w4"], padding=1)
    out += [y, *be.conv2d_backward(p["x4"], p["w4"], y, padding=1)]
    pooled, argmax = be.maxpool2d_forward(y)
    out += [pooled, be.maxpool2d_backward(pooled, argmax, y.shape)]
    params = [p["w"].copy(), p["b"].copy(), np.ones((H, 1)) / H, np.zeros(1)]
    out += [be.mlp_train(p["x"], p["y"], params, 1e-3, 3), *params]
    # Adam over 200,000 values, and mini-batch epochs whose batches run in parallel chunks
    # (one hidden layer: 20,000 rows x 3 x 200 multiply-adds; two: 4,000 x 3 x 10,200).
    theta, grad = p["dy"].ravel()[:200_000].copy(), p["dy"].ravel()[-200_000:]
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    be.adam_update(theta, grad, m, v, step=1)
    out += [theta, m, v]
    order = np.arange(N, dtype=np.int64)
    for widths, batch in (((1, 2 * H, 1), N), ((1, 2 * H, 2 * H, 1), 4_000)):
        deep = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            deep += [np.linspace(-1.0, 1.0, a * b).reshape(a, b) / b, np.full(b, 0.1)]
        out += [be.mlp_train_minibatch(p["x"], p["y"], deep, 1e-3, order, batch), *deep]
    return [np.asarray(a).ravel() for a in out]


def _same_bits(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        assert u.dtype == v.dtype and u.shape == v.shape
        assert u.tobytes() == v.tobytes()


@pytest.fixture(autouse=True)
def _fresh_schedule() -> None:
    scheduling.reset()
    yield
    scheduling.reset()


def test_serial_fallback_gives_the_same_bits() -> None:
    """A back-off (as after a stall) runs the serial twins: bitwise the parallel results."""
    p = _problem()
    parallel = _every_kernel(p)
    scheduling._state["until"] = time.monotonic() + 60
    fallback = _every_kernel(p)
    _same_bits(parallel, fallback)


def test_a_stalled_call_backs_off_and_a_normal_one_resets() -> None:
    key = ("kernel", (1, 2))
    scheduling._observe(key, 1e-3)                 # the first (best) time
    scheduling._observe(key, 1.2e-3)               # noise: still parallel
    assert scheduling.stats()["serial_for_s"] == 0
    scheduling._observe(key, 10e-3)                # 10x its best: stalled
    first = scheduling.stats()
    assert first["stalls"] == 1 and 0 < first["serial_for_s"] <= scheduling.BACKOFF_MIN_S
    scheduling._observe(key, 10e-3)                # again in a row: the back-off doubles
    assert scheduling._state["backoff"] == 4 * scheduling.BACKOFF_MIN_S
    scheduling._observe(key, 1e-3)                 # normal speed: back to the minimum
    assert scheduling._state["backoff"] == scheduling.BACKOFF_MIN_S


def test_a_slowed_call_learns_the_serial_time_and_backs_off_when_serial_is_faster() -> None:
    calls: list[str] = []

    def parallel(t: float) -> None:
        calls.append("parallel")

    def serial(t: float) -> None:
        calls.append("serial")

    key = (parallel, "shape")
    scheduling._observe(key, 1e-3)                 # the best parallel time
    scheduling._observe(key, 2e-3)                 # 2x: slowed, not a stall against itself
    assert scheduling.stats()["serial_for_s"] == 0 and key in scheduling._probe
    scheduling.run(parallel, serial, "shape", 0.0)  # the probe: one serial call, timed
    assert calls == ["serial"] and key in scheduling._best_serial
    assert key not in scheduling._probe
    scheduling._best_serial[key] = 1.2e-3          # say the serial twin takes 1.2 ms
    scheduling._observe(key, 1.1 * 1.2e-3)         # a little slower than serial: noise
    assert scheduling.stats()["serial_for_s"] == 0
    slow = 1.05 * scheduling.SERIAL_MARGIN * 1.2e-3
    assert slow < scheduling.STALL_FACTOR * 1e-3   # no stall against its own best...
    scheduling._observe(key, slow)                 # ...but slower than serial: back off
    assert scheduling.stats()["stalls"] == 1 and scheduling.stats()["serial_for_s"] > 0
    scheduling.run(parallel, serial, "shape", 0.0)
    assert calls == ["serial", "serial"]


def test_the_backoff_is_bounded() -> None:
    key = ("kernel", ())
    scheduling._observe(key, 1e-6)
    for _ in range(40):
        scheduling._observe(key, 1.0)
    assert scheduling._state["backoff"] == scheduling.BACKOFF_MAX_S


def test_four_python_threads_at_once() -> None:
    """Threads that meet inside a parallel region run serially; every result is exact."""
    p = _problem()
    expected = _every_kernel(p)
    results: list[list[np.ndarray] | BaseException] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                results[i] = _every_kernel(p)
        except BaseException as exc:  # reported below, in the main thread
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for r in results:
        assert not isinstance(r, BaseException), r
        _same_bits(expected, r)


def _child(queue: multiprocessing.Queue) -> None:
    try:
        queue.put(("ok", [a.tobytes() for a in _every_kernel(_problem())],
                   scheduling.stats()["forked_child"]))
    except BaseException as exc:
        queue.put(("error", repr(exc), None))


def test_a_forked_child_computes_every_kernel() -> None:
    """GNU OpenMP kills a forked child that starts a parallel region after the parent used the
    pool: the child runs the serial twins and gets the parent's bits."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    expected = [a.tobytes() for a in _every_kernel(_problem())]  # the parent uses its pool
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    status, payload, forked = queue.get(timeout=300)
    child.join(timeout=60)
    assert child.exitcode == 0, child.exitcode
    assert status == "ok", payload
    assert forked is True
    assert payload == expected

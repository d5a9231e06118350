"""When a parallel region may run: the numba backend's answer to a process it shares.

numba's parallel regions (GNU OpenMP here) need every pool thread to check in before the region
ends. In a real process that is not always cheap, and measured on this project's 2-core machine:

- right after a threaded numpy BLAS call, OpenBLAS's worker spins on the other core for tens of
  milliseconds, and numba's worker waits for a scheduler time slice: kernels of 0.2-1 ms took
  4-8 ms (10-140x); one busy process on the other core did the same to every region;
- a child made by ``fork`` after the parent used GNU OpenMP is killed when it starts a region;
- two Python threads starting regions at once oversubscribe the cores.

Every parallel driver has a serial twin that computes exactly the same partials in the same
order (results are bitwise identical either way), so the choice is free to make per call:

- in a forked child, and while another thread is inside a parallel region, kernels run
  serially (a non-blocking lock: no waiting, no oversubscription);
- each parallel call is timed; one that takes ``STALL_FACTOR`` times the best time seen for its
  kernel and shape was stalled by the machine, not by its work: kernels then run serially for a
  back-off time that doubles on each stall in a row (``BACKOFF_MIN_S`` to ``BACKOFF_MAX_S``)
  and resets after a parallel call that ran at its normal speed. A stall thus costs one slow
  call per back-off, and an idle machine keeps its parallel speed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from .config import BACKOFF_MAX_S, BACKOFF_MIN_S, STALL_FACTOR, TIMED_KEYS

_region = threading.Lock()  # held while a parallel region runs
_best: dict[Hashable, float] = {}  # fastest parallel call seen per (driver, shape)
_state = {"forked": False, "until": 0.0, "backoff": BACKOFF_MIN_S, "stalls": 0}


def _after_fork_in_child() -> None:
    _state["forked"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run(parallel: Callable[..., Any], serial: Callable[..., Any], key: Hashable,
        *args: Any) -> Any:
    """``parallel(*args)`` when a parallel region is safe and affordable now, else
    ``serial(*args)`` (the same results); ``key`` names the call's shape for stall detection."""
    if _state["forked"] or time.monotonic() < _state["until"]:
        return serial(*args)
    if not _region.acquire(blocking=False):
        return serial(*args)
    try:
        t0 = time.perf_counter()
        result = parallel(*args)
        elapsed = time.perf_counter() - t0
    finally:
        _region.release()
    _observe((parallel, key), elapsed)
    return result


def _observe(key: Hashable, elapsed: float) -> None:
    """Update the best time of ``key``; back off after a stalled call."""
    best = _best.get(key)
    if best is None or elapsed < best:
        if best is None and len(_best) >= TIMED_KEYS:
            _best.clear()  # a bounded table: shapes of one training loop repeat
        _best[key] = elapsed
    elif elapsed > STALL_FACTOR * best:
        _state["until"] = time.monotonic() + _state["backoff"]
        _state["backoff"] = min(2 * _state["backoff"], BACKOFF_MAX_S)
        _state["stalls"] += 1
        return
    _state["backoff"] = BACKOFF_MIN_S


def stats() -> dict[str, Any]:
    """Counters for runtime_info and tests: stalls seen, whether serial is forced now, why."""
    return {"stalls": _state["stalls"], "forked_child": _state["forked"],
            "serial_for_s": max(0.0, _state["until"] - time.monotonic())}


def reset() -> None:
    """Forget the timings and any back-off (tests, benchmarks)."""
    _best.clear()
    _state.update(until=0.0, backoff=BACKOFF_MIN_S, stalls=0)

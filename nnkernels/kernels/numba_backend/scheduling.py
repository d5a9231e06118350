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
- each call is timed, parallel and serial alike. A parallel call that takes ``STALL_FACTOR``
  times the best parallel time seen for its kernel and shape, or more than ``SERIAL_MARGIN``
  times the best serial time seen for it, was stalled by the machine (or parallel does not pay
  for it now); a parallel call slower than ``SUSPECT_FACTOR`` times its best makes the next
  call of its shape run serially once, to learn that serial time. After a stall, kernels run
  serially for a back-off time that doubles on each stall in a row (``BACKOFF_MIN_S`` to
  ``BACKOFF_MAX_S``) and resets after a parallel call that ran at its normal speed. A stall
  thus costs one slow call per back-off, and an idle machine keeps its parallel speed. The
  serial yardstick matters on a loaded machine: a region slowed 2-3x by a busy core is no
  "stall" against its own best, but it is slower than its serial twin.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from .config import (
    BACKOFF_MAX_S,
    BACKOFF_MIN_S,
    SERIAL_MARGIN,
    STALL_FACTOR,
    SUSPECT_FACTOR,
    TIMED_KEYS,
)

_region = threading.Lock()  # held while a parallel region runs
_best: dict[Hashable, float] = {}  # fastest parallel call seen per (driver, shape)
_best_serial: dict[Hashable, float] = {}  # fastest serial call seen per (driver, shape)
_probe: set[Hashable] = set()  # shapes whose next call runs serially to learn its time
_state = {"forked": False, "until": 0.0, "backoff": BACKOFF_MIN_S, "stalls": 0}


def _after_fork_in_child() -> None:
    _state["forked"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run(parallel: Callable[..., Any], serial: Callable[..., Any], key: Hashable,
        *args: Any) -> Any:
    """``parallel(*args)`` when a parallel region is safe and affordable now, else
    ``serial(*args)`` (the same results); ``key`` names the call's shape for stall detection."""
    if _state["forked"] or not _region.acquire(blocking=False):
        return serial(*args)
    timed = (parallel, key)
    if time.monotonic() < _state["until"] or timed in _probe:
        _region.release()
        _probe.discard(timed)
        t0 = time.perf_counter()
        result = serial(*args)
        _remember(_best_serial, timed, time.perf_counter() - t0)
        return result
    try:
        t0 = time.perf_counter()
        result = parallel(*args)
        elapsed = time.perf_counter() - t0
    finally:
        _region.release()
    _observe(timed, elapsed)
    return result


def _remember(table: dict[Hashable, float], key: Hashable, elapsed: float) -> float | None:
    """Keep the fastest time of ``key`` in ``table``; return the best before this one."""
    best = table.get(key)
    if best is None or elapsed < best:
        if best is None and len(table) >= TIMED_KEYS:
            table.clear()  # a bounded table: shapes of one training loop repeat
        table[key] = elapsed
    return best


def _observe(key: Hashable, elapsed: float) -> None:
    """Update the best parallel time of ``key``; back off after a stalled call."""
    best = _remember(_best, key, elapsed)
    limit = STALL_FACTOR * best if best is not None else float("inf")
    serial = _best_serial.get(key)
    if serial is not None:
        limit = min(limit, SERIAL_MARGIN * serial)
    if serial is None and best is not None and elapsed > SUSPECT_FACTOR * best:
        _probe.add(key)  # slowed, not stalled: is the serial twin faster now?
    if elapsed > limit:
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
    _best_serial.clear()
    _probe.clear()
    _state.update(until=0.0, backoff=BACKOFF_MIN_S, stalls=0)

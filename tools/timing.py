"""The one timing helper of the development scripts: medians of calibrated batches, contenders
timed in blocks after a pause (never interleaved)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

# Pause before each contender's block: a thread pool keeps spinning after its work (OpenBLAS's
# workers about 0.1 s here), and timing the next contender on top of that spin was measured to
# halve numba's two-thread speed.
SETTLE_S = 0.3


def median_time(fn: Callable[[], object], min_time: float = 0.2, repeats: int = 7) -> float:
    """Median seconds per call over ``repeats`` batches, each long enough to time (one untimed
    call first: it compiles or loads the kernel and faults in the output pages)."""
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - t0 >= min_time / repeats or number >= 1 << 20:
            break
        number *= 2
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def time_contenders(funcs: dict[str, Callable[[], object]], min_time: float = 0.2,
                    repeats: int = 7, settle: float = SETTLE_S) -> dict[str, float]:
    """name -> median seconds per call, each contender in its own block after ``settle`` s."""
    out = {}
    for name, fn in funcs.items():
        time.sleep(settle)
        out[name] = median_time(fn, min_time, repeats)
    return out


def load_line() -> str:
    """The 1-minute load average and the core count, to state with every measurement."""
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"load {load:.2f} on {os.cpu_count()} cores"


def time_interleaved(funcs: dict[str, Callable[[], object]], min_time: float = 0.2,
                     repeats: int = 9, clock: Callable[[], float] = time.perf_counter
                     ) -> dict[str, float]:
    """name -> median seconds per call, the contenders taking turns: ``repeats`` rounds, each
    timing one batch of every contender in turn (batches calibrated as in median_time). For
    contenders of one thread pool on a shared machine: a burst of load from elsewhere falls on
    all of them alike instead of on whichever block it happens to meet. ``clock``:
    time.thread_time gives the calling thread's CPU seconds instead (serial code on a busy
    machine: the time it was descheduled does not count)."""
    number = {}
    for name, fn in funcs.items():
        fn()
        n = 1
        while True:
            t0 = clock()
            for _ in range(n):
                fn()
            if clock() - t0 >= min_time / repeats or n >= 1 << 20:
                break
            n *= 2
        number[name] = n
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, fn in funcs.items():
            n = number[name]
            t0 = clock()
            for _ in range(n):
                fn()
            times[name].append((clock() - t0) / n)
    return {name: statistics.median(v) for name, v in times.items()}

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

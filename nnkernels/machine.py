"""This machine's peaks, measured with short jitted probes: the roof of the report's roofline.

- **Peak FMA throughput per dtype** (GFLOP/s): every thread runs independent chains of fused
  multiply-adds, ``v = v * a + b``, over a small block of vectors that stays in L1, so that no
  load or store bounds it; an FMA counts as 2 FLOPs.
- **Memory bandwidth** (GB/s), STREAM's triad ``a[i] = b[i] + q * c[i]`` over float64 arrays
  far larger than the caches, in parallel: 24 bytes counted per element (b and c read, a
  written; the write-allocate read of ``a`` is not counted, as in STREAM).

Each figure is the best of several repetitions (what the machine *can* do), with the median
kept beside it. numba is imported lazily, inside :func:`measure`, so that importing this
module stays cheap; the probes compile in about a second and are not cached on disk.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

# Vectors in flight per thread: enough independent FMA chains to cover the FMA latency
# (4 cycles) on two FMA pipes with AVX-512 (64 float64 lanes), small enough for L1.
FMA_BLOCK = 256
# Triad arrays: 3 x 8 bytes x 2**23 = 192 MiB, far beyond the last-level cache.
TRIAD_ELEMENTS = 2**23
SCHEMA = "nnkernels.machine/1"


def _probes() -> tuple[Any, Any]:
    """The jitted FMA and triad probes (compiled on first use)."""
    from numba import njit, prange

    @njit(fastmath=True, nogil=True)
    def fma_row(v, a, b, iters):  # v (FMA_BLOCK,): one thread's chains
        for _ in range(iters):
            # Four chained FMAs per load/store pair: the arithmetic, not L1, is the limit.
            for j in range(v.shape[0]):
                x = v[j]
                x = x * a + b
                x = x * a + b
                x = x * a + b
                x = x * a + b
                v[j] = x
        return v[0]

    @njit(parallel=True, nogil=True)
    def fma(block, a, b, iters):  # block (T, FMA_BLOCK): one row per thread
        # A serial function per row: inside a prange body LLVM did not vectorise the loop
        # (measured 6x below the serial rate).
        total = 0.0
        for t in prange(block.shape[0]):
            v = block[t].copy()  # C-contiguous: a row view is typed "any layout", not vectorised
            total += fma_row(v, a, b, iters)
            block[t] = v
        return total

    @njit(parallel=True, fastmath=True, nogil=True)
    def triad(a, b, c, q):  # a, b, c (n,)
        for i in prange(a.shape[0]):
            a[i] = b[i] + q * c[i]

    return fma, triad


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())


def measure(repeats: int = 5, quick: bool = False) -> dict[str, Any]:
    """Measure peak FMA GFLOP/s (float32, float64) and triad GB/s with numba's current threads.

    Returns a JSON-ready dict (``SCHEMA``): ``peak_gflops`` {dtype: best}, ``peak_gflops_median``,
    ``triad_gbs`` (best), ``triad_gbs_median``, the method, threads and load average.
    """
    import numpy as np

    fma, triad = _probes()
    threads = _threads()
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    t_start = time.perf_counter()
    result: dict[str, Any] = {"schema": SCHEMA, "threads": threads, "cpu_count": os.cpu_count(),
                              "load_avg": load, "peak_gflops": {}, "peak_gflops_median": {}}
    iters = 2_000 if quick else 20_000
    for dtype in ("float32", "float64"):
        dt = np.dtype(dtype)
        block = np.full((threads, FMA_BLOCK), 0.5, dt)
        a, b = dt.type(0.999999), dt.type(1e-7)  # a fixed point near 1e-4: no overflow
        fma(block, a, b, 2)  # compile for this dtype
        flops = 2.0 * 4 * threads * FMA_BLOCK * iters
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fma(block, a, b, iters)
            rates.append(flops / (time.perf_counter() - t0) / 1e9)
        result["peak_gflops"][dtype] = max(rates)
        result["peak_gflops_median"][dtype] = statistics.median(rates)
    n = TRIAD_ELEMENTS // (8 if quick else 1)
    x, y, z = np.zeros(n), np.ones(n), np.full(n, 2.0)  # written: pages resident before timing
    triad(x, y, z, 3.0)
    rates = []
    for _ in range(repeats * 2):
        t0 = time.perf_counter()
        triad(x, y, z, 3.0)
        rates.append(24.0 * n / (time.perf_counter() - t0) / 1e9)
    result["triad_gbs"] = max(rates)
    result["triad_gbs_median"] = statistics.median(rates)
    result["triad_bytes_per_element"] = 24
    result["triad_elements"] = n
    result["method"] = ("FMA: independent chains v = v * a + b in L1, 2 FLOPs per FMA, best of "
                        f"{repeats}; triad: a = b + q * c over {n:,} float64, 24 bytes per "
                        f"element (b, c read, a written), best of {repeats * 2}")
    result["seconds"] = time.perf_counter() - t_start
    return result


def check(peak: Any) -> dict[str, Any] | None:
    """A machine-peak dict as written by :func:`measure`, or None when it is not one."""
    if not isinstance(peak, dict) or not isinstance(peak.get("peak_gflops"), dict):
        return None
    bw = peak.get("triad_gbs")
    if isinstance(bw, bool) or not isinstance(bw, (int, float)) or not bw > 0:
        return None
    flops = {k: float(v) for k, v in peak["peak_gflops"].items()
             if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
             and v > 0 and v < float("inf")}
    if not flops or bw == float("inf"):
        return None
    return dict(peak, peak_gflops=flops, triad_gbs=float(bw))

"""Time per full-batch training step of a one-hidden-layer MLP: numpy reference vs numba fused.

Plain script (not pytest), from the repository root:
``PYTHONPATH=. python benchmarks/bench_mlp_step.py [--sizes 700x10,10000x1000] [--repeats 5]``.
For each (N, H) it times the ``mlp_train`` kernel directly (many steps per call) and
``MLP.fit`` (which calls it in chunks), on both backends in the same run, and prints the
median time per step and the numpy / numba ratio. It then reports the peak memory (tracemalloc)
of a numba fit at N = 100,000 for H = 10 and H = 1000 next to the size of one (N, H) array.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import nnkernels
from nnkernels.models import MLP

SIZES = [(700, 10), (10_000, 1000), (100_000, 10), (100_000, 1000)]


def _median_step(fn, steps: int, repeats: int) -> float:
    """Median over ``repeats`` calls of fn() divided by ``steps`` (seconds per step)."""
    fn()  # warm: compiles / loads, first-touch allocations
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) / steps)
    return float(np.median(times))


def _steps_for(n: int, h: int, backend: str) -> int:
    """Enough steps per call to last about 0.05-0.5 s on this machine."""
    work = n * h
    per_step = 1e-8 * work if backend == "numpy" else 1e-9 * work
    return int(max(1, min(2000, 0.2 / max(per_step, 1e-6))))


def main() -> None:
    """Measure and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(f"{n}x{h}" for n, h in SIZES))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    nnkernels.warmup()
    info = nnkernels.runtime_info()
    print(f"numpy {info['numpy']}, numba {info['numba']} ({info['numba_threading_layer']}, "
          f"{info['numba_num_threads']} threads), float64")
    print(f"{'N':>8} {'H':>5} | {'kernel numpy':>13} {'kernel numba':>13} {'ratio':>6} | "
          f"{'fit numpy':>11} {'fit numba':>11} {'ratio':>6}")
    rng = np.random.default_rng(0)
    for n, h in sizes:
        x = np.linspace(-1.7, 1.7, n).reshape(-1, 1)
        y = (x**3 + 0.1 * rng.standard_normal((n, 1)))
        init = [rng.standard_normal((1, h)) * np.sqrt(2.0), rng.uniform(-1, 1, h),
                rng.standard_normal((h, 1)) / np.sqrt(h), np.zeros(1)]
        kernel, fit = {}, {}
        for name in ("numpy", "numba"):
            be = nnkernels.get_backend(name)
            steps = _steps_for(n, h, name)
            params = [p.copy() for p in init]
            kernel[name] = _median_step(lambda be=be, p=params, s=steps, x=x, y=y:
                                        be.mlp_train(x, y, p, 1e-3, s), steps, args.repeats)
            model = MLP(hidden=(h,), lr=1e-3, max_iter=steps, backend=name, random_state=0)
            fit[name] = _median_step(lambda m=model, x=x, y=y: m.fit(x, y), steps, args.repeats)
        print(f"{n:>8} {h:>5} | {kernel['numpy'] * 1e6:>11.1f}us {kernel['numba'] * 1e6:>11.1f}us "
              f"{kernel['numpy'] / kernel['numba']:>5.1f}x | {fit['numpy'] * 1e6:>9.1f}us "
              f"{fit['numba'] * 1e6:>9.1f}us {fit['numpy'] / fit['numba']:>5.1f}x", flush=True)

    print("\npeak memory of a numba MLP.fit (tracemalloc, 5 iterations), N = 100,000:")
    for h in (10, 1000):
        n = 100_000
        x = np.linspace(-1.7, 1.7, n).reshape(-1, 1)
        y = x**3
        model = MLP(hidden=(h,), max_iter=5, backend="numba", random_state=0)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        model.fit(x, y)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        print(f"  H = {h:>5}: peak {peak / 2**20:8.2f} MiB; one (N, H) float64 array would be "
              f"{n * h * 8 / 2**20:8.1f} MiB")


if __name__ == "__main__":
    main()

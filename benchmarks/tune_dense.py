"""Per-call medians of the dense kernels, numpy vs numba, in one process (a plain script).

    python benchmarks/tune_dense.py [--threads 2] [--depth 1] [--sizes 700x10,100000x1000]

Used to choose the numba backend's thresholds (PARALLEL_MIN_WORK, BLAS_MIN_DEPTH) and for the
numbers in the kernel-core closing note. For the full comparison use the pytest-benchmark suite.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import nnkernels


def median_time(fn, min_time: float = 0.2, repeats: int = 7) -> float:
    """Median seconds per call over ``repeats`` batches, each batch long enough to time."""
    fn()
    number, elapsed = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time / repeats or number >= 1 << 20:
            break
        number *= 2
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--depth", type=int, default=1, help="input width D")
    p.add_argument("--sizes", default="700x10,700x1000,100000x10,100000x1000")
    p.add_argument("--dtype", default="float64")
    p.add_argument("--kernels", default="linear_forward,linear_backward,linear_relu_forward")
    args = p.parse_args()
    nnkernels.set_num_threads(args.threads)
    nnkernels.warmup()
    rng = np.random.default_rng(0)
    dtype = np.dtype(args.dtype)
    print(f"threads={args.threads} D={args.depth} dtype={dtype}")
    print(f"{'kernel':<22}{'N':>8}{'H':>6}{'numpy':>12}{'numba':>12}{'speed-up':>10}")
    for size in args.sizes.split(","):
        n, h = map(int, size.split("x"))
        d = args.depth
        x = rng.standard_normal((n, d)).astype(dtype)
        w = rng.standard_normal((d, h)).astype(dtype)
        b = rng.standard_normal(h).astype(dtype)
        dy = rng.standard_normal((n, h)).astype(dtype)
        u = rng.standard_normal((n, h)).astype(dtype)
        calls = {
            "linear_forward": lambda be: be.linear_forward(x, w, b),
            "linear_relu_forward": lambda be: be.linear_relu_forward(x, w, b),
            "linear_backward": lambda be: be.linear_backward(x, w, dy),
            "relu_forward": lambda be: be.relu_forward(u),
            "relu_backward": lambda be: be.relu_backward(dy, u),
            "mse_loss": lambda be: be.mse_loss(u, dy),
            "sgd_update": lambda be: be.sgd_update(u, dy, 1e-9),
        }
        for kernel in args.kernels.split(","):
            t = {name: median_time(lambda name=name: calls[kernel](nnkernels.get_backend(name)))
                 for name in ("numpy", "numba")}
            print(f"{kernel:<22}{n:>8}{h:>6}{t['numpy'] * 1e6:>10.1f}us{t['numba'] * 1e6:>10.1f}us"
                  f"{t['numpy'] / t['numba']:>9.2f}x")


if __name__ == "__main__":
    main()

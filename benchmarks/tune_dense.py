"""Per-call medians of the dense kernels, numpy vs numba, in one process (a plain script).

    python benchmarks/tune_dense.py [--threads 2] [--depth 1] [--sizes 700x10,100000x1000]
    python benchmarks/tune_dense.py --sweep-depth      # row loops vs BLAS, single-threaded

Used to choose the numba backend's thresholds (PARALLEL_MIN_WORK, *_BLAS_MIN_DEPTH) and for the
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


def sweep_depth(n: int = 10_000) -> None:
    """Single-threaded times of the numba row loops against its BLAS path, over D and H."""
    from nnkernels.kernels.numba_backend import dense as nd
    from nnkernels.kernels.numba_backend.blas import single_threaded_blas

    nnkernels.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"N={n}, one thread; microseconds per call")
    for dtype in (np.float64, np.float32):
        for h in (10, 100, 1000):
            for d in (2, 4, 8, 12, 16, 24, 32):
                x = rng.standard_normal((n, d)).astype(dtype)
                w = rng.standard_normal((d, h)).astype(dtype)
                b = rng.standard_normal(h).astype(dtype)
                dy = rng.standard_normal((n, h)).astype(dtype)
                out, dx = np.empty((n, h), dtype), np.empty((n, d), dtype)
                parts = [np.zeros((nd.n_chunks(n, d * h, blas), d, h), dtype) for blas in (0, 1)]
                dbs = [np.zeros((p.shape[0], h), dtype) for p in parts]
                with single_threaded_blas():
                    t = [median_time(lambda: nd._forward_rows_serial(x, w, b, out, False)),
                         median_time(lambda: nd._forward_blas_serial(x, w, b, out, False)),
                         median_time(lambda: nd._backward_rows_serial(x, w, dy, dx, parts[0],
                                                                      dbs[0], True)),
                         median_time(lambda: nd._backward_blas_serial(x, w, dy, dx, parts[1],
                                                                      dbs[1], True))]
                print(f"{dtype.__name__} H={h:<5} D={d:<3} forward rows {t[0] * 1e6:9.0f} "
                      f"blas {t[1] * 1e6:9.0f}   backward rows {t[2] * 1e6:9.0f} "
                      f"blas {t[3] * 1e6:9.0f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--depth", type=int, default=1, help="input width D")
    p.add_argument("--sizes", default="700x10,700x1000,100000x10,100000x1000")
    p.add_argument("--dtype", default="float64")
    p.add_argument("--kernels", default="linear_forward,linear_backward,linear_relu_forward")
    p.add_argument("--sweep-depth", action="store_true",
                   help="compare the numba row loops with its BLAS path over D and H")
    args = p.parse_args()
    nnkernels.warmup()
    if args.sweep_depth:
        sweep_depth()
        return
    nnkernels.set_num_threads(args.threads)
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

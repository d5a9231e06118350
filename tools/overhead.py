"""Per-call overhead of the public interface (issue 9, item 4), in one process.

Prints, for float64 and float32: one mlp_train step at N = 700, H = 10 called as ``n_iter=1``
against the per-step time of an ``n_iter=100`` call (the target: within 1.5x), the same through
the raw backend module (no validation), and small kernels at N = 64 through the interface and
raw. Medians of calibrated batches (tools/timing.py), the load average stated with them.

    PYTHONPATH=. python tools/overhead.py [--backend numba] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import load_line, median_time  # noqa: E402

import nnkernels  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--smoke", action="store_true",
                    help="one tiny batch per timing: checks that the script runs (CI)")
    args = ap.parse_args(argv)
    budget = {"min_time": 1e-4, "repeats": 1} if args.smoke else {}

    def median_us(fn: Callable[[], object]) -> float:
        """Median microseconds per call of ``fn``."""
        return median_time(fn, **budget) * 1e6

    be = nnkernels.get_backend(args.backend)
    be.warmup()
    raw = be.module
    rng = np.random.default_rng(0)
    print(f"{be.name}, {load_line()}")
    for dt in (np.float64, np.float32):
        x = rng.uniform(-1.0, 1.0, (700, 1)).astype(dt)
        y = (x**3).astype(dt)
        p = [rng.standard_normal((1, 10)).astype(dt), np.full(10, 0.1, dt),
             (0.3 * rng.standard_normal((10, 1))).astype(dt), np.zeros(1, dt)]
        one = median_us(lambda: be.mlp_train(x, y, p, 1e-4, 1))
        hundred = median_us(lambda: be.mlp_train(x, y, p, 1e-4, 100)) / 100
        losses = np.empty(1)
        raw_one = median_us(lambda: raw.mlp_train(x, y, *p, 1e-4, losses))
        name = np.dtype(dt).name
        print(f"{name} mlp_train N=700 H=10: n_iter=1 {one:.2f} us, n_iter=100 "
              f"{hundred:.2f} us per step, ratio {one / hundred:.2f}; raw backend "
              f"n_iter=1 {raw_one:.2f} us")
        xs = rng.standard_normal((64, 16)).astype(dt)
        w = rng.standard_normal((16, 16)).astype(dt)
        b = rng.standard_normal(16).astype(dt)
        u = rng.standard_normal((64, 16)).astype(dt)
        out = np.empty((64, 16), dt)
        calls = {
            "linear_forward": (lambda: be.linear_forward(xs, w, b, out=out),
                               lambda: raw.linear_forward(xs, w, b, out)),
            "relu_forward": (lambda: be.relu_forward(u, out=out),
                             lambda: raw.relu_forward(u.reshape(-1), out.reshape(-1))),
        }
        for kernel, (public, direct) in calls.items():
            print(f"  {kernel} N=64 H=16: public {median_us(public):.2f} us, raw "
                  f"{median_us(direct):.2f} us")
    print(load_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""conv2d forward and forward+backward: numpy reference vs numba backend vs PyTorch's CPU conv2d.

Plain script, float32, NCHW, all contenders measured side by side in one process, one block
of rounds per contender and shape (see ``measure``); medians, minima and ratios are printed.

    python benchmarks/bench_conv.py [--rounds 15] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import nnkernels  # noqa: E402

# Pause before each contender's block, so that the previous one's spinning threads (OpenBLAS
# spins about 2**28 cycles by default) have gone to sleep.
SETTLE_SECONDS = 0.3

# (N, C, H, W, F, k, stride, pad), the shapes of issue 4.
SHAPES = [
    (64, 3, 32, 32, 16, 3, 1, 1),
    (64, 16, 32, 32, 32, 3, 1, 1),
    (256, 1, 28, 28, 8, 5, 1, 0),
]


def contenders(shape: tuple[int, ...], threads: int
               ) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """name -> (forward, forward+backward) closures on fixed float32 data."""
    n, c, h, w, f, k, s, p = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((f, c, k, k), dtype=np.float32)
    b = rng.standard_normal(f, dtype=np.float32)
    oh = (h + 2 * p - k) // s + 1
    ow = (w + 2 * p - k) // s + 1
    dy = rng.standard_normal((n, f, oh, ow), dtype=np.float32)
    out: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {}
    for name in nnkernels.available_backends():
        be = nnkernels.get_backend(name)

        def fwd(be=be):
            return be.conv2d_forward(x, wt, b, s, p)

        def fwd_bwd(be=be):
            be.conv2d_forward(x, wt, b, s, p)
            return be.conv2d_backward(x, wt, dy, s, p)

        out[name] = (fwd, fwd_bwd)
    try:
        import torch
    except ImportError:
        return out
    torch.set_num_threads(threads)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, wt, b))
    tdy = torch.from_numpy(dy)

    def t_fwd():
        with torch.no_grad():
            return torch.nn.functional.conv2d(tx, tw, tb, s, p)

    def t_fwd_bwd():
        y = torch.nn.functional.conv2d(tx, tw, tb, s, p)
        return torch.autograd.grad(y, (tx, tw, tb), tdy)

    out["torch"] = (t_fwd, t_fwd_bwd)
    return out


def measure(funcs: dict[str, Callable[[], object]], rounds: int
            ) -> tuple[dict[str, float], dict[str, float]]:
    """(median, min) seconds per call of each function: per contender one warm-up call, then
    ``rounds`` timed calls in a row. On a shared machine the min is the least disturbed run;
    the median is what is quoted.

    Contenders run in blocks, not interleaved, after a pause: a thread pool keeps spinning for
    a while after its work (OpenBLAS's in numpy's matmul, measured here), and interleaving
    handed that spin to the next contender, halving numba's two-thread speed.
    """
    med: dict[str, float] = {}
    best: dict[str, float] = {}
    for name, fn in funcs.items():
        time.sleep(SETTLE_SECONDS)
        fn()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        med[name], best[name] = statistics.median(times), min(times)
    return med, best


def _row(shape: str, label: str, stat: str, ms: dict[str, float]) -> str:
    """One table line: times in ms and the two ratios ('-' where a contender is missing)."""
    def cell(name: str) -> str:
        return f"{ms[name]:9.2f}" if name in ms else f"{'-':>9}"

    def ratio(a: str, b: str) -> str:
        return f"{ms[a] / ms[b]:11.2f}x" if a in ms and b in ms else f"{'-':>12}"

    return (f"{shape:<30} {label:<8} {stat:<6} {cell('numpy')} {cell('numba')} {cell('torch')} "
            f"{ratio('numpy', 'numba')} {ratio('numba', 'torch')}")


def main(argv: list[str] | None = None) -> int:
    """Print a table of medians and minima (ms) and ratios for every shape."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="timed rounds per shape (default 15)")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads for numba, BLAS and torch (default 2)")
    args = ap.parse_args(argv)
    nnkernels.set_num_threads(args.threads)
    nnkernels.warmup()
    info = nnkernels.runtime_info()
    print(f"numpy {info['numpy']}, numba {info['numba']} ({info['numba_threading_layer']}, "
          f"{info['numba_num_threads']} threads), {info['processor']}, float32, "
          f"median and min of {args.rounds} rounds per contender")
    try:
        import torch
        print(f"torch {torch.__version__}, {args.threads} threads")
    except ImportError:
        print("torch not installed: no comparator column")
    head = (f"{'(N, C, H, W, F, k, s, p)':<30} {'pass':<8} {'stat':<6} {'numpy ms':>9} "
            f"{'numba ms':>9} {'torch ms':>9} {'numpy/numba':>12} {'numba/torch':>12}")
    print(head)
    print("-" * len(head))
    for shape in SHAPES:
        cands = contenders(shape, args.threads)
        for k, label in enumerate(("fwd", "fwd+bwd")):
            stats = measure({name: pair[k] for name, pair in cands.items()}, args.rounds)
            for stat, values in zip(("median", "min"), stats, strict=True):
                print(_row(str(shape), label, stat, {n: t * 1e3 for n, t in values.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

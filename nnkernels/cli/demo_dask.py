"""``nnkernels demo-dask``: the seed network trained across a dask cluster on a dataset larger
than a worker's memory limit, generated block by block on the workers."""

from __future__ import annotations

import argparse
import time

import numpy as np

from ._common import load_line

DEFAULT_RECORDS = 36_000_000  # 576 MB of float64 x and y: more than DEFAULT_MEMORY_LIMIT
BIG_RECORDS = 400_000_000
DEFAULT_MEMORY_LIMIT = "512MiB"


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register the sub-command."""
    p = sub.add_parser(name, help="train the seed network across a dask cluster on data larger "
                       "than a worker's memory (needs the dask extra)",
                       description="The seed's noisy cubic (x**3 + 4 plus noise), generated "
                       "block by block on the workers of a dask cluster (never on the client) "
                       "and larger than a worker's memory limit, fitted by the 1 -> H -> 1 "
                       "ReLU network with full-batch SGD: each step's gradient is summed over "
                       "the blocks on the workers by the numba kernels. Prints the throughput "
                       "of every step. Needs: pip install \"nnkernels[dask]\".")
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes of the LocalCluster started here (default 2)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="use the cluster at this scheduler address (e.g. tcp://host:8786) "
                   "instead of starting a LocalCluster")
    p.add_argument("--records", type=int, default=None,
                   help=f"records N (default {DEFAULT_RECORDS:,}; --big: {BIG_RECORDS:,})")
    p.add_argument("--big", action="store_true", help=f"a big run: {BIG_RECORDS:,} records")
    p.add_argument("--block", type=int, default=2_500_000,
                   help="records per block (default 2,500,000: 40 MB, about 0.1 s of work)")
    p.add_argument("--memory-limit", default=DEFAULT_MEMORY_LIMIT,
                   help=f"memory limit per worker of the LocalCluster (default "
                   f"{DEFAULT_MEMORY_LIMIT})")
    p.add_argument("--hidden", type=int, default=10, help="hidden units H (default 10)")
    p.add_argument("--iters", type=int, default=4, help="training steps (default 4)")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument("--quiet", action="store_true",
                   help="results only: no load average and no line per step")
    p.set_defaults(run=run)


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _parse_bytes(text: str) -> int:
    from . import CommandError

    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "kb": 10**3,
             "mb": 10**6, "gb": 10**9, "tb": 10**12, "b": 1, "": 1}
    t = text.strip().lower()
    num = t.rstrip("kmgtib")
    try:
        return int(float(num) * units[t[len(num):]])
    except (KeyError, ValueError):
        raise CommandError(f"--memory-limit must be a size such as 512MiB or 2GB, "
                           f"got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Run the sub-command."""
    from . import CommandError

    try:
        from nnkernels.distributed import cluster, fit_estimator, make_cubic_blocks
        from nnkernels.distributed.data import HIGH, LOW, NOISE
    except ImportError as exc:
        raise CommandError(f"the dask extra is missing: pip install \"nnkernels[dask]\" ({exc})"
                           ) from None
    from nnkernels.models import MLP

    n = args.records if args.records is not None else (BIG_RECORDS if args.big
                                                       else DEFAULT_RECORDS)
    if n < 1 or args.block < 1 or args.workers < 1 or args.iters < 1:
        raise CommandError("--records, --block, --workers and --iters must be >= 1")
    say = (lambda *a, **k: None) if args.quiet else print
    X, Y = make_cubic_blocks(n, args.block, args.seed)
    nbytes = X.nbytes + Y.nbytes
    say(load_line())
    client, lc = cluster.connect(args.scheduler, args.workers,
                                 memory_limit=_parse_bytes(args.memory_limit))
    try:
        info = cluster.workers_info(client)
        limits = [w.get("memory_limit") or 0 for w in info.values()]
        where = args.scheduler or f"a LocalCluster on 127.0.0.1 ({len(info)} worker processes)"
        print(f"cluster: {where}; memory limit per worker "
              f"{_bytes(min(limits)) if limits and min(limits) else 'none'}")
        print(f"data: {n:,} records in {X.numblocks[0]} blocks, {_bytes(nbytes)} "
              f"(x and y float64), generated block by block on the workers")
        # The seed's network: full-batch gradient descent, as `nnkernels demo` runs it in memory.
        est = MLP(hidden_layer_sizes=(args.hidden,), solver="sgd", momentum=0.0,
                  batch_size=None, learning_rate_init=args.lr, max_iter=args.iters, tol=0.0,
                  random_state=args.seed)

        def show(step) -> None:
            say(f"step {step.iteration + 1}/{args.iters}: loss {step.loss:.5g}  "
                f"{step.seconds:.2f} s  {step.records_per_s / 1e6:.1f} M records/s",
                flush=True)

        t0 = time.perf_counter()
        fit_estimator(est, X, Y, client=client, callback=show)
        total = time.perf_counter() - t0
        xs = np.linspace(LOW, HIGH, 200).reshape(-1, 1)
        rmse = float(np.sqrt(np.mean((est.predict(xs) - (xs**3 + 4.0)) ** 2)))
        print(f"fit: {total:.1f} s in all (scaling pass included); RMSE against x**3 + 4 on "
              f"200 points: {rmse:.3g} (noise sd {NOISE:g})")
        say(load_line())
    finally:
        client.close()
        if lc is not None:
            lc.close()
    return 0

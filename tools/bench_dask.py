"""Records/s of one full-batch training step: in-memory numba mlp_train against fit_mlp on a
LocalCluster of 1 and 2 worker processes (same data: the seed's cubic, H = 100), and the
per-step overhead of the distributed path (a step on tiny blocks). Needs the dask extra.

    python tools/bench_dask.py [--records 1000000 10000000] [--hidden 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import distributed
import numpy as np

import nnkernels
from nnkernels.distributed import cluster, fit_mlp
from nnkernels.distributed import make_cubic_blocks as dataset


def _params(h: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(0, 1, (1, h)), rng.uniform(-1, 1, h), rng.normal(0, 0.1, (h, 1)),
            np.zeros(1)]


def _distributed(client, X, Y, h, steps):
    times: list[float] = []
    fit_mlp(X, Y, _params(h), 1e-6, steps + 1, client=client, persist=True,
            callback=lambda s: times.append(s.seconds))
    return statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    h, steps = args.hidden, args.steps
    print(f"load average at start {os.getloadavg()}")
    be = nnkernels.get_backend("numba")
    rows = []
    for n in args.records:
        block = max(n // 8, 1)
        X, Y = dataset(n, block, 0)
        x, y = X.compute(scheduler="threads"), Y.compute(scheduler="threads")
        row = {"N": n, "blocks": X.numblocks[0]}
        for threads in (1, 2):
            nnkernels.set_num_threads(threads)
            p = _params(h)
            be.mlp_train(x, y, p, 1e-6, 1)
            t = []
            for _ in range(steps):
                t0 = time.perf_counter()
                be.mlp_train(x, y, p, 1e-6, 1)
                t.append(time.perf_counter() - t0)
            row[f"memory_{threads}t"] = statistics.median(t)
        for workers in (1, 2):
            with cluster.local_cluster(workers, memory_limit="4GiB") as lc, \
                    distributed.Client(lc, set_as_default=False) as c:
                row[f"dask_{workers}w"] = _distributed(c, X, Y, h, steps)
                if n == args.records[0]:
                    tx, ty = dataset(8 * 1000, 1000, 0)
                    row[f"overhead_{workers}w"] = _distributed(c, tx, ty, h, steps)
        rows.append(row)
        print(row, flush=True)
    print(f"load average at end {os.getloadavg()}")
    print(f"\n| N | blocks | numba mlp_train 1 thread | 2 threads | dask 1 worker | "
          f"2 workers |  (records/s per step, H = {h})")
    for r in rows:
        cells = [f"{r['N'] / r[k] / 1e6:.2f} M ({r[k] * 1e3:.0f} ms)"
                 for k in ("memory_1t", "memory_2t", "dask_1w", "dask_2w")]
        print(f"| {r['N']:,} | {r['blocks']} | " + " | ".join(cells) + " |")
    r = rows[0]
    print(f"per-step overhead (8 blocks of 1000 records): 1 worker "
          f"{r['overhead_1w'] * 1e3:.1f} ms, 2 workers {r['overhead_2w'] * 1e3:.1f} ms")


if __name__ == "__main__":
    main()

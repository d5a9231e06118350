"""Records/s of one full-batch training step: the in-memory numba ``mlp_train`` against
``nnkernels.distributed.fit_mlp`` on a LocalCluster of 1 and 2 worker processes (the same data:
the seed's cubic, H = 100, 8 row blocks), and the per-step overhead of the distributed path.
Needs the dask extra. Prints a markdown table; ``--out`` also writes it to a file (e.g.
docs/benchmarks/dask.md) to commit with the report.

    python tools/bench_dask.py [--records 1000000 10000000] [--hidden 100] [--steps 5]
                               [--out docs/benchmarks/dask.md]

Run it on a quiet machine: every cell is the median of ``--steps`` timed steps, and the load
average at the start and end is printed with the table.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import dask
import distributed
import numpy as np

import nnkernels
from nnkernels.distributed import cluster, fit_mlp
from nnkernels.distributed import make_cubic_blocks as dataset

BLOCKS = 8  # row blocks of the dataset: 4 per worker with 2 workers
TINY = (BLOCKS * 1000, 1000)  # records, block: a step whose work is negligible (the overhead)
MEMORY_LIMIT = "4GiB"  # per worker: 10^7 records of x and y (160 MB) are persisted


def _params(h: int) -> list[np.ndarray]:
    """[w1 (1, h), b1, w2 (h, 1), b2]: the seed network, seeded."""
    rng = np.random.default_rng(0)
    return [rng.normal(0, 1, (1, h)), rng.uniform(-1, 1, h), rng.normal(0, 0.1, (h, 1)),
            np.zeros(1)]


def _distributed(client: distributed.Client, X, Y, h: int, steps: int) -> float:
    """Median seconds of one fit_mlp step (the first, which persists the data, not counted)."""
    times: list[float] = []
    fit_mlp(X, Y, _params(h), 1e-6, steps + 1, client=client, persist=True,
            callback=lambda s: times.append(s.seconds))
    return statistics.median(times[1:])


def _in_memory(x: np.ndarray, y: np.ndarray, h: int, steps: int, threads: int) -> float:
    """Median seconds of one numba mlp_train step on ``threads`` threads (after a warm-up)."""
    be = nnkernels.get_backend("numba")
    before = nnkernels.get_num_threads()
    nnkernels.set_num_threads(threads)
    try:
        p = _params(h)
        be.mlp_train(x, y, p, 1e-6, 1)
        t = []
        for _ in range(steps):
            t0 = time.perf_counter()
            be.mlp_train(x, y, p, 1e-6, 1)
            t.append(time.perf_counter() - t0)
    finally:
        nnkernels.set_num_threads(before)
    return statistics.median(t)


def _blocks(n: int):
    """The dataset of N records in BLOCKS row blocks (generated block by block)."""
    return dataset(n, max(-(-n // BLOCKS), 1), 0)


def measure(records: list[int], h: int, steps: int) -> dict:
    """Seconds per step for every N: in memory on 1 and 2 threads (before any cluster runs),
    dask on 1 and 2 workers; and a step on tiny blocks per cluster size (the fixed cost of a
    distributed step)."""
    rows, overhead = [], {}
    loads = [os.getloadavg()]
    for n in records:
        X, Y = _blocks(n)
        x, y = dask.compute(X, Y, scheduler="threads")
        rows.append({"N": n, "memory_1t": _in_memory(x, y, h, steps, 1),
                     "memory_2t": _in_memory(x, y, h, steps, 2)})
        del x, y
        print(f"N = {n:,} in memory: done", flush=True)
    for workers in (1, 2):
        with cluster.local_cluster(workers, memory_limit=MEMORY_LIMIT) as lc, \
                distributed.Client(lc, set_as_default=False) as c:
            overhead[workers] = _distributed(c, *dataset(*TINY, 0), h, steps)
            for row in rows:
                row[f"dask_{workers}w"] = _distributed(c, *_blocks(row["N"]), h, steps)
                print(f"N = {row['N']:,} on {workers} worker(s): done", flush=True)
    loads.append(os.getloadavg())
    return {"rows": rows, "overhead": overhead, "loads": loads, "hidden": h, "steps": steps}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unversioned"


def markdown(result: dict) -> str:
    """The throughput table, the overhead and the machine, as markdown."""
    h, steps = result["hidden"], result["steps"]
    loads = "; ".join(", ".join(f"{x:.2f}" for x in la) for la in result["loads"])
    lines = [
        "# Data-parallel training on Dask: throughput of one training step",
        "",
        f"The seed network (1 -> {h} -> 1, ReLU, float64) on the seed's cubic, "
        f"{BLOCKS} row blocks; one full-batch SGD step: the in-memory numba `mlp_train` on 1 "
        f"and 2 threads against `nnkernels.distributed.fit_mlp` on a LocalCluster of 1 and 2 "
        f"worker processes (one thread each, data persisted). Records per second per step, "
        f"median of {steps} steps (step time in brackets). Produced by "
        f"`python tools/bench_dask.py`.",
        "",
        "| N | numba mlp_train, 1 thread | numba mlp_train, 2 threads | dask, 1 worker | "
        "dask, 2 workers | dask 1 worker minus 1 thread |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        cells = [f"{r['N'] / r[k] / 1e6:.2f} M/s ({r[k] * 1e3:.1f} ms)"
                 for k in ("memory_1t", "memory_2t", "dask_1w", "dask_2w")]
        extra = (r["dask_1w"] - r["memory_1t"]) * 1e3
        lines.append(f"| {r['N']:,} | " + " | ".join(cells) + f" | {extra:+.1f} ms |")
    o = result["overhead"]
    lines += [
        "",
        f"Per-step overhead of the distributed path (a step on {TINY[0]:,} records in "
        f"{BLOCKS} blocks, whose kernel work is negligible: scatter of the parameters, "
        f"{BLOCKS} tasks, the partials' round trip and the tree sum): 1 worker "
        f"{o[1] * 1e3:.1f} ms, 2 workers {o[2] * 1e3:.1f} ms. The last column of the table is "
        f"the same cost measured at size: a 1-worker dask step minus the 1-thread in-memory "
        f"step on the same data.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}; load average (1, 5, 15 min) at start and "
        f"end: {loads}. Versions: nnkernels {nnkernels.__version__} (commit {_commit()}), "
        f"numba {_version('numba')}, dask {dask.__version__}, distributed "
        f"{distributed.__version__}, python {platform.python_version()}. Date (UTC): "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}.",
    ]
    return "\n".join(lines) + "\n"


def _version(module: str) -> str:
    import importlib

    return str(getattr(importlib.import_module(module), "__version__", "?"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000],
                    help="dataset sizes N (default 10^6 and 10^7)")
    ap.add_argument("--hidden", type=int, default=100, help="hidden units H (default 100)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per cell (default 5)")
    ap.add_argument("--out", type=Path, default=None,
                    help="also write the markdown to this file (e.g. docs/benchmarks/dask.md)")
    args = ap.parse_args(argv)
    if min(args.records) < BLOCKS or args.hidden < 1 or args.steps < 1:
        ap.error(f"--records must be >= {BLOCKS}, --hidden and --steps >= 1")
    text = markdown(measure(args.records, args.hidden, args.steps))
    print("\n" + text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()

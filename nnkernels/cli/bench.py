"""``nnkernels bench``: run the benchmark suite (pytest-benchmark), then write the report.

Runs the shipped benchmark suite with pytest-benchmark, writes its JSON results to --out and
the report beside them. Needs the test extras (pip install 'nnkernels[test]'); PyTorch and JAX,
where installed, are timed as comparator rows. Options this command does not know (and everything
after "--") go to pytest unchanged, e.g. --benchmark-compare-fail=median:10% or
--bench-keep-data (keep every round, for bootstrap intervals in 'nnkernels compare').
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_OUT = "nnkernels-out/bench"


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register the sub-command."""
    p = sub.add_parser(name, help="time the kernels (pytest-benchmark), then write the report",
                       description=__doc__.split("\n\n")[1].replace("\n", " "),
                       epilog="example: nnkernels bench --quick -k mlp_train -- "
                       "--bench-keep-data")
    p.add_argument("--quick", action="store_true",
                   help="a small subset with short timing budgets (under two minutes)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for the JSON results and the report (default {DEFAULT_OUT})")
    p.add_argument("--threads", type=int, default=2, metavar="N",
                   help="threads for numba, BLAS and PyTorch (default 2)")
    p.add_argument("--mem-gib", type=float, default=None, metavar="G",
                   help="skip cells whose arrays exceed G GiB (default 4)")
    p.add_argument("--backends", default=None, metavar="LIST",
                   help="comma-separated rows: numpy,numba,torch,jax (default all)")
    p.add_argument("-k", dest="keyword", default=None, metavar="EXPR",
                   help="run only the benchmarks matching this pytest -k expression")
    p.add_argument("--quiet", action="store_true",
                   help="pytest's quiet output, no report summary (errors still show)")
    p.set_defaults(run=run, passthrough=[])


def pytest_command(args: argparse.Namespace, json_path: Path) -> list[str]:
    """The pytest command line that runs the shipped suite and writes ``json_path``."""
    from nnkernels.benchmarks import SUITE_DIR

    cmd = [sys.executable, "-m", "pytest", str(SUITE_DIR), "-p", "no:cacheprovider",
           "-o", "python_files=bench_*.py", "--rootdir", str(SUITE_DIR),
           "--benchmark-json", str(json_path), "--benchmark-columns", "min,median,iqr,rounds",
           "--bench-threads", str(args.threads)]
    if args.quick:
        cmd.append("--quick")
    if args.mem_gib is not None:
        cmd += ["--bench-mem-gib", str(args.mem_gib)]
    if args.backends:
        cmd += ["--bench-backends", args.backends]
    if args.keyword:
        cmd += ["-k", args.keyword]
    if getattr(args, "quiet", False):
        cmd += ["-q", "--benchmark-quiet"]  # pytest's dots only, no result tables
    return cmd + list(getattr(args, "passthrough", []))


def run(args: argparse.Namespace) -> int:
    """Entry point of ``nnkernels bench``."""
    from . import CommandError
    from ._common import check_minimums
    from .report import write_report

    check_minimums(args, threads=1)
    if args.mem_gib is not None and not args.mem_gib > 0:
        raise CommandError(f"--mem-gib must be > 0, got {args.mem_gib}")
    if args.backends is not None:
        from nnkernels.benchmarks.cases import BACKENDS

        names = [n.strip() for n in args.backends.split(",") if n.strip()]
        unknown = [n for n in names if n not in BACKENDS]
        if unknown or not names:
            raise CommandError(f"--backends: unknown {', '.join(unknown) or 'empty list'}; "
                               f"choose from {', '.join(BACKENDS)}")
    missing = [m for m in ("pytest", "pytest_benchmark") if importlib.util.find_spec(m) is None]
    if missing:
        raise CommandError(f"needs {' and '.join(missing)}: pip install 'nnkernels[test]'")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    json_path = out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    cmd = pytest_command(args, json_path)
    if not args.quiet:
        print("running:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd)
    if not args.quiet:
        print(f"benchmark suite finished in {time.perf_counter() - t0:.0f} s "
              f"(pytest exit {rc})")
    if rc == 4:  # a usage error: pytest printed why (often a passed-through option)
        json_path.unlink(missing_ok=True)
        raise CommandError("pytest rejected the command line (exit status 4): "
                           f"{' '.join(args.passthrough) or 'see its message above'}")
    if not json_path.exists() or json_path.stat().st_size == 0:
        json_path.unlink(missing_ok=True)  # pytest-benchmark leaves an empty file behind
        what = "no benchmark was selected" if rc == 5 else "the benchmark suite wrote no results"
        raise CommandError(f"{what} (pytest exit status {rc})")
    write_report([str(json_path)], str(out), quiet=args.quiet)
    if rc != 0:
        raise CommandError(f"some benchmarks failed (pytest exit status {rc}); "
                           f"the report covers the others")
    return 0

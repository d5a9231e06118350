"""``nnkernels machine``: measure this machine's peak FMA throughput and memory bandwidth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_OUT = "nnkernels-out/machine"


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        name, help="measure this machine's peak GFLOP/s per dtype and its memory bandwidth",
        description="Measure the roof of the report's roofline with short numba probes: peak "
        "fused multiply-add throughput for float32 and float64 (GFLOP/s, 2 FLOPs per FMA) and "
        "STREAM-triad bandwidth (GB/s, 24 bytes per element: two reads and one write). Writes "
        "machine.json to --out; give it to 'nnkernels report --machine'. 'nnkernels bench' "
        "records the same measurement in its results.")
    p.add_argument("--threads", type=int, default=2, metavar="N",
                   help="threads of the probes (default 2, as 'nnkernels bench')")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for machine.json (default {DEFAULT_OUT})")
    p.add_argument("--quick", action="store_true", help="shorter probes (less accurate)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``nnkernels machine``."""
    from . import CommandError
    from ._common import check_minimums, load_warning, out_dir

    check_minimums(args, threads=1)
    out = out_dir(args.out)
    try:
        import numba
    except ImportError:
        raise CommandError("needs numba (the probes are jitted)") from None
    import nnkernels
    from nnkernels import machine

    if args.threads > numba.config.NUMBA_NUM_THREADS:
        raise CommandError(f"--threads {args.threads} exceeds numba's maximum "
                           f"({numba.config.NUMBA_NUM_THREADS})")
    nnkernels.set_num_threads(args.threads)
    if not args.quiet:
        print(f"measuring with {args.threads} threads (about 10 s, probes compile first)...",
              flush=True)
        warn = load_warning()
        if warn:
            print(warn)
    result = machine.measure(quick=args.quick)
    path = Path(out) / "machine.json"
    try:
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not args.quiet:
        for dt, v in sorted(result["peak_gflops"].items()):
            print(f"peak FMA {dt}: {v:.1f} GFLOP/s (median {result['peak_gflops_median'][dt]:.1f})")
        print(f"triad bandwidth: {result['triad_gbs']:.1f} GB/s (median "
              f"{result['triad_gbs_median']:.1f}; 24 bytes per element)")
        print(f"load average during the probes: {result['load_avg'][0]:.2f} on "
              f"{result['cpu_count']} cores" if result.get("load_avg") else "")
        print(f"wrote {path}")
    return 0

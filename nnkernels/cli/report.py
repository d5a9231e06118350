"""``nnkernels report``: turn pytest-benchmark JSON results into a Markdown report with plots."""

from __future__ import annotations

import argparse

DEFAULT_OUT = "nnkernels-out/report"


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register the sub-command."""
    p = sub.add_parser(name, help="write the Markdown report and plots of benchmark results",
                       description="Write report.md and plots/*.png from one or several "
                       "pytest-benchmark JSON files of the nnkernels suite: medians per "
                       "backend, numba's speed-ups, GFLOP/s and GB/s against this machine's "
                       "peaks, and the cells where numba is not faster. Several files are "
                       "shown side by side, labelled by file name; to judge a change with "
                       "noise estimates use 'nnkernels compare'.")
    p.add_argument("results", nargs="+", metavar="RESULTS.json",
                   help="pytest-benchmark JSON files written by the nnkernels benchmark suite")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--machine", default=None, metavar="MACHINE.json",
                   help="peaks from 'nnkernels machine' for the roofline columns (default: "
                   "those recorded in the results)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(run=run)


def write_report(paths: list[str], out: str, machine: str | None = None,
                 quiet: bool = False) -> int:
    """Build the report; print where it is and where numba is not faster than numpy."""
    from nnkernels.report import ReportError, load_runs, make_report, slow_cells

    from . import CommandError

    try:
        md = make_report(paths, out, machine)
        runs = load_runs(paths)
    except ReportError as exc:
        raise CommandError(str(exc)) from None
    if quiet:
        return 0
    for run in runs:
        slow = slow_cells(run)
        print(f"{run.label}: {len(run.results)} results; numba not faster than numpy in "
              f"{len(slow)} cell(s)")
    print(f"report: {md}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``nnkernels report``."""
    return write_report(args.results, args.out, args.machine, args.quiet)

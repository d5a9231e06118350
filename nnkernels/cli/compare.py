"""``nnkernels compare``: did it get faster? Two benchmark runs, cell by cell, with noise."""

from __future__ import annotations

import argparse

from nnkernels.compare import DEFAULT_FAIL_SLOWER

DEFAULT_OUT = "nnkernels-out/compare"


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        name, help="compare two benchmark runs: which cells got slower or faster, beyond noise",
        description="Compare NEW.json against BASE.json (pytest-benchmark JSON files of the "
        "nnkernels suite, e.g. two 'nnkernels bench' runs). Every cell gets its base and new "
        "median, the change ('1.25x slower' / '1.10x faster'), a 95%% interval from the rounds "
        "and a verdict (slower / faster / within noise). Exit status: 0 when nothing "
        "regressed, 1 when a cell is slower than --fail-slower beyond noise (or faster than "
        "--fail-faster), 2 on bad input. Writes compare.md and overlay plots to --out.",
        epilog="example: nnkernels compare base/bench-*.json new/bench-*.json --fail-slower 20")
    p.add_argument("base", metavar="BASE.json", help="the reference run")
    p.add_argument("new", metavar="NEW.json", help="the run to judge")
    p.add_argument("--fail-slower", type=float, default=DEFAULT_FAIL_SLOWER, metavar="PCT",
                   help="fail (exit 1) when a cell is more than PCT%% slower, beyond noise "
                   f"(default {DEFAULT_FAIL_SLOWER:g}, i.e. 2x: runs of unchanged code on a "
                   "shared machine drift by up to 1.5x)")
    p.add_argument("--fail-faster", type=float, default=None, metavar="PCT",
                   help="also fail when a cell is more than PCT%% faster beyond noise "
                   "(a baseline to update; off by default)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for compare.md and plots/ (default {DEFAULT_OUT})")
    p.add_argument("--no-plots", action="store_true", help="write compare.md only")
    p.add_argument("--quiet", action="store_true",
                   help="print only the verdict line (and the regressions)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``nnkernels compare``: 0 no regression, 1 regression, 2 bad input."""
    from nnkernels import compare
    from nnkernels.report import ReportError, load_run, prepare_out

    from . import CommandError

    if not args.fail_slower >= 0 or args.fail_slower == float("inf"):
        raise CommandError(f"--fail-slower must be a percentage >= 0, got {args.fail_slower:g}")
    if args.fail_faster is not None and not 0 <= args.fail_faster < 100:
        raise CommandError(f"--fail-faster must be a percentage in [0, 100), got "
                           f"{args.fail_faster:g}")
    try:
        base = load_run(args.base, "base")
        new = load_run(args.new, "new")
        if not base.results or not new.results:
            raise ReportError(f"{args.base if not base.results else args.new}: no timed cells "
                              "to compare")
        result = compare.compare_runs(base, new, args.fail_slower, args.fail_faster)
        if not result.rows:
            raise ReportError("the two runs have no cell in common (different -k selections?)")
        out = prepare_out(args.out)
        md = out / "compare.md"
        try:
            plots = [] if args.no_plots else compare.make_plots(result, out / "plots")
            md.write_text(compare.render_markdown(result, plots, out / "plots"),
                          encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"{out}: cannot write ({exc.strerror or exc})") from None
    except ReportError as exc:
        raise CommandError(str(exc)) from None
    lines = compare.summary_lines(result)
    if args.quiet:
        lines = [ln for ln in lines if ln.startswith(("REGRESSION", "  ", "no regression",
                                                      "FASTER"))]
    else:
        for note in compare._setting_notes(result):
            print("note:", note)
    print("\n".join(lines))
    if not args.quiet:
        print(f"details: {md}")
    return 1 if result.failed else 0

"""The ``nnkernels`` command line: one module per sub-command, each with ``add_parser``/``run``.

The library never imports this package; it only imports the library.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# sub-command name -> module in this package defining add_parser(subparsers) and run(args) -> int
COMMANDS = {
    "demo": "nnkernels.cli.demo",
    "demo-conv": "nnkernels.cli.demo_conv",
    "demo-dask": "nnkernels.cli.demo_dask",
    "example": "nnkernels.cli.example",
    "bench": "nnkernels.cli.bench",
    "report": "nnkernels.cli.report",
    "compare": "nnkernels.cli.compare",
    "machine": "nnkernels.cli.machine",
}
# Commands that pass options they do not know on to another program (bench: to pytest).
PASS_THROUGH = {"bench"}

DESCRIPTION = """CPU kernels for training small neural networks (a numpy reference and a numba
backend behind one interface): demos, benchmarks and reports."""
EPILOG = """first steps:
  nnkernels demo                  fit the seed's cubic on both backends, with timings
  nnkernels demo-dask             the same network across a dask cluster, data > memory
  nnkernels bench --quick         time the kernels (a few minutes), then write the report
  nnkernels compare A.json B.json did it get faster? exit status 1 on a regression
  nnkernels machine               this machine's peak GFLOP/s and memory bandwidth

'nnkernels COMMAND --help' describes each command."""


class CommandError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    from nnkernels import __version__

    parser = argparse.ArgumentParser(prog="nnkernels", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"nnkernels {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        importlib.import_module(module_name).add_parser(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m nnkernels``."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after a bare "--" belongs to the program a command runs (bench: pytest).
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    args, unknown = parser.parse_known_args(argv)
    if unknown or extra:
        if args.command not in PASS_THROUGH:
            parser.error(f"unrecognized arguments: {' '.join(unknown + extra)}")
        args.passthrough = unknown + extra
    try:
        return int(args.run(args) or 0)
    except CommandError as exc:
        print(f"nnkernels {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a command that stopped reading (head)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141

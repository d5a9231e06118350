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
    "example": "nnkernels.cli.example",
    "bench": "nnkernels.cli.bench",
    "report": "nnkernels.cli.report",
}


class CommandError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="nnkernels", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        importlib.import_module(module_name).add_parser(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m nnkernels``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CommandError as exc:
        print(f"nnkernels {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

"""The benchmark suite, shipped inside the package so that ``nnkernels bench`` works on an install.

Run it with pytest (it is a set of pytest-benchmark tests, not library code)::

    python -m pytest benchmarks --benchmark-json results.json          # from a checkout
    nnkernels bench --quick                                             # anywhere

``benchmarks/`` at the repository root is a thin wrapper that re-exports these modules. The
suite is never imported by the library itself.
"""

from __future__ import annotations

from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parent

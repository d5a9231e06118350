"""Re-exports nnkernels/benchmarks/bench_compile.py (see conftest.py)."""

from nnkernels.benchmarks.bench_compile import *  # noqa: F401,F403

"""Re-exports nnkernels/benchmarks/bench_dense.py (see conftest.py)."""

from nnkernels.benchmarks.bench_dense import *  # noqa: F401,F403

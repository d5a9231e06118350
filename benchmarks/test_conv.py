"""Re-exports nnkernels/benchmarks/bench_conv.py (see conftest.py)."""

from nnkernels.benchmarks.bench_conv import *  # noqa: F401,F403

"""Re-exports nnkernels/benchmarks/bench_mlp.py (see conftest.py)."""

from nnkernels.benchmarks.bench_mlp import *  # noqa: F401,F403

"""The benchmark suite's entry point in a checkout: ``python -m pytest benchmarks``.

The suite itself ships in the package (``nnkernels/benchmarks``, so that ``nnkernels bench``
works on an install); this module collects its benchmarks, and ``conftest.py`` its plugin.
"""

from nnkernels.benchmarks.bench_compile import *  # noqa: F401,F403
from nnkernels.benchmarks.bench_conv import *  # noqa: F401,F403
from nnkernels.benchmarks.bench_dense import *  # noqa: F401,F403
from nnkernels.benchmarks.bench_mlp import *  # noqa: F401,F403

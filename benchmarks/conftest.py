"""The benchmark suite lives in the package (``nnkernels/benchmarks``, so that ``nnkernels bench``
works on an install); this directory re-exports it so that ``python -m pytest benchmarks`` runs it
from a checkout. See README.md: Benchmarks.
"""

from nnkernels.benchmarks.plugin import *  # noqa: F401,F403 (hooks and fixtures)

"""pytest loads this when the suite is run from its installed location (``nnkernels bench``)."""

from nnkernels.benchmarks.plugin import *  # noqa: F401,F403 (hooks and fixtures)

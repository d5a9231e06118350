"""Shared fixtures: the backends under test and hypothesis profiles."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import nnkernels

# Compiles happen once per process (then numba's disk cache), so no per-example deadline.
settings.register_profile(
    "default", deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "default")

# The backends under test: the one list, imported by tests that compare all of them in one test;
# the others take the ``backend`` fixture.
BACKENDS = nnkernels.available_backends()
DTYPES = (np.float32, np.float64)


@pytest.fixture(scope="session", autouse=True)
def _warm() -> None:
    """Compile (or load) every numba kernel once, before any test measures or compares."""
    nnkernels.warmup()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> nnkernels.Backend:
    """Each available backend in turn (session-scoped: backends hold no state, and hypothesis
    tests may take it)."""
    return nnkernels.get_backend(request.param)


@pytest.fixture(scope="session")
def reference() -> nnkernels.Backend:
    """The numpy reference backend."""
    return nnkernels.get_backend("numpy")


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request: pytest.FixtureRequest) -> type:
    """float32 and float64."""
    return request.param

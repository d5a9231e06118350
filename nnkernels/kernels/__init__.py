"""Kernels behind one interface: pick a backend with :func:`get_backend`.

>>> from nnkernels.kernels import get_backend
>>> be = get_backend("numpy")
>>> be.linear_forward([[1.0, 2.0]], [[1.0], [1.0]], [0.5])
array([[3.5]])
"""

from __future__ import annotations

import importlib
import os
from functools import cache

from .api import Backend
from .protocol import KernelBackend

# name -> module implementing protocol.KernelBackend, in order of preference (fastest last).
_BACKEND_MODULES = {
    "numpy": "nnkernels.kernels.numpy_backend",
    "numba": "nnkernels.kernels.numba_backend",
}
_PREFERRED = "numba"
ENV_VAR = "NNKERNELS_BACKEND"


@cache
def _load(name: str) -> Backend | None:
    """Import a backend module once; None when its dependencies are missing."""
    try:
        module = importlib.import_module(_BACKEND_MODULES[name])
    except ImportError:
        return None
    return Backend(module)


def available_backends() -> tuple[str, ...]:
    """Names of the backends that import on this machine, e.g. ``("numpy", "numba")``."""
    return tuple(name for name in _BACKEND_MODULES if _load(name) is not None)


def get_backend(name: str | Backend | None = None) -> Backend:
    """Return the backend called ``name``.

    ``None`` means the ``NNKERNELS_BACKEND`` environment variable, else ``"numba"`` where it is
    available, else ``"numpy"``. A ``Backend`` instance is returned as it is.
    """
    if isinstance(name, Backend):
        return name
    if name is None:
        name = os.environ.get(ENV_VAR) or (
            _PREFERRED if _PREFERRED in available_backends() else "numpy"
        )
    backend = _load(name) if name in _BACKEND_MODULES else None
    if backend is None:
        raise ValueError(
            f"unknown or unavailable backend {name!r}; available: {', '.join(available_backends())}"
        )
    return backend


__all__ = ["Backend", "KernelBackend", "available_backends", "get_backend", "ENV_VAR"]

"""Thread pools and versions of the running process.

One process can hold three thread pools: numpy's OpenBLAS, scipy's OpenBLAS (which numba's
``np.dot`` calls) and numba's own. On a small machine, pools that compete for the same cores
turn microsecond calls into millisecond stalls, so :func:`set_num_threads` sets them together.
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import threadpoolctl

_state: dict[str, Any] = {"limits": None}


def _load_blas_libraries() -> None:
    """Import scipy's BLAS so that threadpoolctl sees (and can limit) numba's BLAS too."""
    try:
        import scipy.linalg  # noqa: F401
    except ImportError:  # scipy is a declared dependency; numpy alone still works.
        pass


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in numba's pool and in every BLAS pool of the process."""
    from .kernels.validation import check_positive_int

    n = check_positive_int("n", n)
    _load_blas_libraries()
    try:
        import numba
    except ImportError:
        numba = None
    if numba is not None:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    _state["limits"] = threadpoolctl.threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """numba's thread count (the count the numba backend's parallel loops use)."""
    try:
        import numba
    except ImportError:
        return 1
    return int(numba.get_num_threads())


def runtime_info() -> dict[str, Any]:
    """Versions (numpy, numba, llvmlite, scipy), numba's threading layer and thread count,
    and the thread pools (BLAS, OpenMP) loaded in this process (from threadpoolctl)."""
    _load_blas_libraries()
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "numpy": np.__version__,
    }
    for mod in ("numba", "llvmlite", "scipy", "threadpoolctl"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    try:
        import numba

        info["numba_threading_layer"] = _threading_layer(numba)
        info["numba_num_threads"] = int(numba.get_num_threads())
        from .kernels.numba_backend import scheduling

        info["numba_scheduling"] = scheduling.stats()
        info["numba_max_threads"] = int(numba.config.NUMBA_NUM_THREADS)
    except ImportError:
        info["numba_threading_layer"] = None
        info["numba_num_threads"] = None
    info["threadpools"] = [
        {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                               "threading_layer", "filepath")}
        for p in threadpoolctl.threadpool_info()
    ]
    return info


def _threading_layer(numba: Any) -> str:
    """The threading layer numba uses; it is chosen on the first parallel call, so make one."""
    try:
        return numba.threading_layer()
    except ValueError:
        from .kernels import get_backend

        get_backend("numba").module.warmup()
        return numba.threading_layer()


def warmup() -> None:
    """Compile (or load from numba's on-disk cache) every kernel of every available backend."""
    from .kernels import available_backends, get_backend

    for name in available_backends():
        get_backend(name).warmup()

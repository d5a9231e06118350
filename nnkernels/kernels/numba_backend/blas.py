"""Keep the BLAS that numba calls single-threaded while the numba backend runs.

numba's ``np.dot`` calls scipy's BLAS (a library apart from numpy's in the wheels). The numba
backend runs its BLAS calls inside its own parallel loops, one call per row block, so the
BLAS must not start threads of its own: two pools on the same cores were measured here to turn
microsecond calls into millisecond stalls. Scoping this per call, instead of pinning the library
for good, leaves ``scipy.linalg`` as the user set it.

The scope is entered on every call of a kernel that uses BLAS, so it must cost little: through
threadpoolctl's methods and a generator context manager it took 2.3 us a call here (the whole
arithmetic of a 64 x 16 x 16 layer is 0.8 us); calling OpenBLAS's own get/set functions from a
class-based context manager takes 0.3-0.5 us. Other BLAS libraries (MKL, BLIS, OpenBLAS built
on OpenMP) go through threadpoolctl as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from types import TracebackType

import threadpoolctl

# (get_num_threads, set_num_threads) of one library.
Counter = tuple[Callable[[], int], Callable[[int], object]]


@cache
def numba_blas_libraries() -> tuple:
    """threadpoolctl controllers of the BLAS libraries shipped with scipy (numba's BLAS)."""
    try:
        import scipy
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library numba binds to)
    except ImportError:
        return ()
    root = os.path.dirname(os.path.dirname(os.path.abspath(scipy.__file__)))
    homes = (os.path.join(root, "scipy"), os.path.join(root, "scipy.libs"))
    controller = threadpoolctl.ThreadpoolController().select(user_api="blas")
    return tuple(lib for lib in controller.lib_controllers
                 if os.path.abspath(lib.filepath).startswith(homes))


def _direct_counter(lib: object) -> Counter | None:
    """OpenBLAS's own (process-wide) get/set functions for a pthreads OpenBLAS, found by
    threadpoolctl's symbol lookup (the library's name prefix and suffix differ between
    builds); None for any other library, or when that lookup is not there."""
    if getattr(lib, "internal_api", None) != "openblas" \
            or getattr(lib, "threading_layer", None) == "openmp":
        return None
    try:
        get = lib._get_symbol("openblas_get_num_threads")  # type: ignore[attr-defined]
        put = lib._get_symbol("openblas_set_num_threads")  # type: ignore[attr-defined]
    except AttributeError:
        return None
    if get is None or put is None:
        return None
    return get, put


@cache
def blas_counters() -> tuple[Counter, ...]:
    """(get, set) thread-count functions of each numba BLAS library, the fastest available."""
    counters = []
    for lib in numba_blas_libraries():
        counters.append(_direct_counter(lib) or (lib.get_num_threads, lib.set_num_threads))
    return tuple(counters)


class single_threaded_blas:  # noqa: N801  (used like a function: ``with single_threaded_blas():``)
    """Run the body with numba's BLAS limited to one thread (when ``active``: the body calls
    BLAS), then restore the count it had."""

    __slots__ = ("_active", "_saved")

    def __init__(self, active: bool = True) -> None:
        self._active = active
        self._saved: list[tuple[Callable[[int], object], int]] = []

    def __enter__(self) -> None:
        if self._active:
            for get, put in blas_counters():
                n = get()
                if n != 1:
                    put(1)
                    self._saved.append((put, n))

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        for put, n in self._saved:
            put(n)
        self._saved.clear()

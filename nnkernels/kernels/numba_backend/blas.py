"""Keep the BLAS that numba calls single-threaded while the numba backend runs.

numba's ``np.dot`` calls scipy's BLAS (a library apart from numpy's in the wheels). The numba
backend runs its BLAS calls inside its own parallel loops, one call per row block, so the
BLAS must not start threads of its own: two pools on the same cores were measured here to turn
microsecond calls into millisecond stalls. Scoping this per call, instead of pinning the library
for good, leaves ``scipy.linalg`` as the user set it.

The scope is entered on every call of a kernel that uses BLAS, so it must cost little: through
threadpoolctl's methods and a generator context manager it took 2.3 us a call here (the whole
arithmetic of a 64 x 16 x 16 layer is 0.8 us); OpenBLAS's own get/set functions from a
class-based context manager, with the process-wide count below, take 1.15 us. Other BLAS
libraries (MKL, BLIS, OpenBLAS built on OpenMP) go through threadpoolctl as before.
"""

from __future__ import annotations

import os
import threading
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


# Process-wide state of the scope: how many kernels (in any thread) are inside it, and the
# counts to restore when the last one leaves; the lock's methods bound once (a ``with lock``
# costs 0.17 us here).
_lock = threading.Lock()
_acquire, _release = _lock.acquire, _lock.release
_depth = 0
_saved: list[tuple[Callable[[int], object], int]] = []


def _after_fork_in_child() -> None:
    """A child forked while another thread was inside the scope: a fresh lock (the parent's
    may be held), and the user's counts back, for nothing of the child runs in the scope."""
    global _lock, _acquire, _release, _depth, _saved
    _lock = threading.Lock()
    _acquire, _release = _lock.acquire, _lock.release
    _depth = 0
    for put, n in _saved:
        put(n)
    _saved = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class single_threaded_blas:  # noqa: N801  (used like a function: ``with single_threaded_blas():``)
    """Run the body with numba's BLAS limited to one thread (when ``active``: the body calls
    BLAS), then restore the count it had.

    The limit is process-wide (OpenBLAS has one pool), so the scope is too: the first kernel to
    enter sets one thread, the last to leave restores the user's count. Per-call set/restore
    let one Python thread restore two threads while another was still inside its BLAS calls,
    and OpenBLAS's results then changed in the last bits (4 threads training at once)."""

    __slots__ = ("_active",)

    def __init__(self, active: bool = True) -> None:
        self._active = active

    def __enter__(self) -> None:
        global _depth
        if self._active:
            _acquire()
            try:
                if _depth == 0:
                    for get, put in blas_counters():
                        n = get()
                        if n != 1:
                            put(1)
                            _saved.append((put, n))
                _depth += 1
            finally:
                _release()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        global _depth
        if self._active:
            _acquire()
            try:
                _depth -= 1
                if _depth == 0:
                    for put, n in _saved:
                        put(n)
                    _saved.clear()
            finally:
                _release()

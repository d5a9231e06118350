"""Keep the BLAS that numba calls single-threaded while the numba backend runs.

numba's ``np.dot`` calls scipy's BLAS (a library apart from numpy's in the wheels). The numba
backend runs its BLAS calls inside its own parallel loops, one call per row block, so the
BLAS must not start threads of its own: two pools on the same cores were measured here to turn
microsecond calls into millisecond stalls. Scoping this per call, instead of pinning the library
for good, leaves ``scipy.linalg`` as the user set it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import threadpoolctl


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


@contextmanager
def single_threaded_blas(active: bool = True) -> Iterator[None]:
    """Run the body with numba's BLAS limited to one thread (when ``active``: the body calls
    BLAS), then restore its count."""
    saved = []
    for lib in numba_blas_libraries() if active else ():
        n = lib.get_num_threads()
        if n != 1:
            lib.set_num_threads(1)
            saved.append((lib, n))
    try:
        yield
    finally:
        for lib, n in saved:
            lib.set_num_threads(n)

"""Helpers shared by the sub-commands: output folders, load, progress bars, thread pools, and
the compile notice with a warm-up of only the kernels a command needs."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# A machine is "busy" when the 1-minute load average is at least this share of its cores:
# timings (and speed-ups) then swing with the other work (2.2x to 9.7x seen for demo-conv).
BUSY_LOAD_SHARE = 0.5

# Cold compile time per kernel and dtype on this project's 2-core machine (seconds): the
# notice's "about N s". From the cold first-call column of docs/benchmarks/report.md, with
# mlp_train raised to what the demo's cold warm-up measured on 2026-12-01 (24 s in all at a
# load average of 0.9, against 12 s from that column).
COMPILE_S = {"linear_forward": 0.6, "linear_relu_forward": 0.1, "linear_backward": 0.4,
             "relu_forward": 0.1, "relu_backward": 0.2, "mse_loss": 0.2, "sgd_update": 0.1,
             "mlp_train": 22.0, "conv2d_forward": 2.4, "conv2d_backward": 4.3}


def check_minimums(args: Any, **minimums: int) -> None:
    """Raise CommandError for the first option (``--name``) below its minimum; None passes."""
    from . import CommandError

    for name, minimum in minimums.items():
        value = getattr(args, name)
        if value is not None and value < minimum:
            flag = "--" + name.replace("_", "-")
            raise CommandError(f"{flag} must be >= {minimum}, got {value}")


def out_dir(path: str) -> Path:
    """The output folder, created if needed; it must be a writable folder."""
    from . import CommandError

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CommandError(f"--out {path!r} exists and is not a folder") from None
    except OSError as exc:
        raise CommandError(f"cannot create --out {path!r}: {exc.strerror or exc}") from None
    if not out.is_dir() or not os.access(out, os.W_OK | os.X_OK):
        raise CommandError(f"--out {path!r} is not a writable folder")
    return out


def show_progress(quiet: bool) -> bool:
    """Progress bars only on a terminal: in a redirected log their carriage returns are noise."""
    return not quiet and sys.stderr.isatty()


def load_average() -> tuple[float, int] | None:
    """(1-minute load average, cores), or None where the OS has no load average."""
    if not hasattr(os, "getloadavg"):
        return None
    return os.getloadavg()[0], os.cpu_count() or 1


def load_line() -> str:
    """``'load average 0.42 (1 min) on 2 cores'`` for the demos' output."""
    la = load_average()
    return "load average: unknown" if la is None else (
        f"load average {la[0]:.2f} (1 min) on {la[1]} cores")


def load_warning() -> str | None:
    """A warning line when other work keeps the machine busy, else None."""
    la = load_average()
    if la is None or la[0] < BUSY_LOAD_SHARE * la[1]:
        return None
    return (f"warning: the machine is busy ({load_line()}): timings and speed-ups vary "
            "with the other work; rerun on an idle machine to quote them")


def thread_pools_by_role() -> list[str]:
    """One line per thread pool by its role: numpy's BLAS, numba's BLAS (scipy's OpenBLAS,
    which numba's np.dot calls), numba's threading layer, and any other pool."""
    import nnkernels

    info = nnkernels.runtime_info()
    layer = info.get("numba_threading_layer")
    lines = []
    for p in info.get("threadpools", []):
        path = (p.get("filepath") or "").replace("\\", "/").lower()
        api = p.get("internal_api") or "?"
        desc = f"{api} {p.get('version') or ''}".strip() + f", {p.get('num_threads')} threads"
        if "/numpy" in path:
            role = "numpy's BLAS"
        elif "/scipy" in path:
            role = "numba's BLAS (scipy's)"
        elif api == "openmp" and layer == "omp":
            role = "OpenMP runtime (under numba's omp layer)"
        else:
            role = f"other pool ({api})"
        lines.append(f"{role}: {desc}")
    if layer:
        lines.append(f"numba's threading layer: {layer}, {info.get('numba_num_threads')} threads")
    order = ("numpy's", "numba's BLAS", "numba's threading", "OpenMP")
    return sorted(lines, key=lambda ln: next((i for i, o in enumerate(order)
                                              if ln.startswith(o)), len(order)))


def numba_cache_is_cold() -> bool:
    """True when numba has no cached kernels of this install (no ``*.nbi`` index files where
    numba's cache locator puts them: NUMBA_CACHE_DIR, else ``__pycache__`` beside the source)."""
    try:
        import nnkernels.kernels as kernels_pkg
    except ImportError:
        return False
    src = Path(kernels_pkg.__file__).resolve().parent / "numba_backend"
    cache_dir = os.environ.get("NUMBA_CACHE_DIR")
    if cache_dir:
        roots = [Path(cache_dir)]
    else:
        roots = [src / "__pycache__"] + [d / "__pycache__" for d in src.iterdir() if d.is_dir()
                                         and d.name != "__pycache__"]
    for root in roots:
        if root.is_dir() and next(root.rglob("*.nbi"), None) is not None:
            return False
    return True


def warm_up(kernel_calls: Sequence[tuple[str, Callable[[], Any]]], quiet: bool = False,
            kernels: Sequence[str] = ()) -> float:
    """Run each (kernel name, call) once so that it compiles (or loads) before any timing; on
    a cold numba cache print the one-line notice first (its estimate sums the kernels named
    in the calls, or ``kernels``). Returns the seconds it took."""
    names = list(dict.fromkeys(kernels or [k for k, _ in kernel_calls]))
    if numba_cache_is_cold() and not quiet:
        est = sum(COMPILE_S.get(k, 0.5) for k in names)
        print(f"compiling kernels for this machine, once: about {est:.0f} s "
              f"({', '.join(names)})", flush=True)
    t0 = time.perf_counter()
    for _, call in kernel_calls:
        call()
    return time.perf_counter() - t0

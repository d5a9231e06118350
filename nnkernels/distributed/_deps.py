"""The dask extra: one clear error when it is missing."""

from __future__ import annotations

INSTALL_HINT = 'pip install "nnkernels[dask]"'


def require() -> None:
    """Raise ImportError naming the extra unless dask.array and distributed import."""
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"nnkernels.distributed needs dask.array and dask.distributed "
                          f"(the 'dask' extra): {INSTALL_HINT} ({exc})") from exc


def is_dask_array(a: object) -> bool:
    """True for a dask array, without importing dask."""
    return type(a).__module__.split(".")[0] == "dask" and hasattr(a, "chunks")

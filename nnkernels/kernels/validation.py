"""The one validation layer in front of every backend.

Each check raises an exception that names the argument and what was wrong with it. Backends
never validate: they receive arrays that these functions have already checked and normalised
(float32 or float64, one dtype per call, C-contiguous, fitting shapes).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
REDUCTIONS = ("mean", "sum")


def as_float_array(name: str, a: object, ndim: int | None = None) -> np.ndarray:
    """Return ``a`` as an ndarray of float32/float64 with ``ndim`` dimensions, else raise."""
    arr = np.asarray(a)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a float32 or float64 array, got dtype {arr.dtype}"
        )
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {arr.ndim}-D array of shape {arr.shape}")
    return arr


def common_dtype(**arrays: np.ndarray | None) -> np.dtype:
    """Return the one dtype shared by all given arrays; mixing float32 and float64 is an error."""
    named = [(n, a) for n, a in arrays.items() if a is not None]
    first_name, first = named[0]
    for name, arr in named[1:]:
        if arr.dtype != first.dtype:
            raise TypeError(
                f"{first_name} has dtype {first.dtype} but {name} has dtype {arr.dtype}; "
                "all arrays of one call must share a dtype (float32 or float64)"
            )
    return first.dtype


def same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}")


def check_dim(name_a: str, size_a: int, what_a: str, name_b: str, size_b: int, what_b: str,
              a: np.ndarray, b: np.ndarray) -> None:
    """Raise ValueError when two dimensions that must agree differ (e.g. x columns vs w rows)."""
    if size_a != size_b:
        raise ValueError(
            f"{name_a} has {size_a} {what_a} but {name_b} has {size_b} {what_b} "
            f"({name_a}.shape={a.shape}, {name_b}.shape={b.shape})"
        )


def check_lr(lr: object) -> float:
    """Return ``lr`` as a float if it is a positive finite real number, else raise ValueError."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    value = float(lr)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    return value


def check_reduction(reduction: object) -> str:
    """Return ``reduction`` if it is one of REDUCTIONS, else raise ValueError."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction  # type: ignore[return-value]


def check_out(name: str, out: object, shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """Check a caller-supplied output buffer: an ndarray of exactly ``shape`` and ``dtype``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape} but the result has shape {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype} but the result has dtype {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


def check_param(param: object) -> np.ndarray:
    """A parameter updated in place must already be a writeable float ndarray."""
    if not isinstance(param, np.ndarray):
        raise TypeError(
            f"param must be a numpy.ndarray (it is updated in place), got {type(param).__name__}"
        )
    as_float_array("param", param)
    if not param.flags.writeable:
        raise ValueError("param is read-only")
    return param


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def contiguous(a: np.ndarray | None) -> np.ndarray | None:
    """C-contiguous view or copy, so that each dtype compiles one numba specialisation only."""
    return None if a is None else np.ascontiguousarray(a)


MLP_PARAM_NAMES = ("w1", "b1", "w2", "b2")


def check_mlp_params(params: object, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Check ``params`` = [w1 (D, H), b1 (H,), w2 (H, O), b2 (O,)] against x (N, D), y (N, O).

    Each must be a writeable float ndarray (they are updated in place), all of x's dtype,
    sharing no memory with one another.
    """
    if isinstance(params, np.ndarray) or not isinstance(params, Sequence) or len(params) != 4:
        raise ValueError("params must be a sequence of 4 arrays [w1 (D, H), b1 (H,), w2 (H, O), "
                         f"b2 (O,)], got {type(params).__name__}"
                         + (f" of length {len(params)}" if isinstance(params, Sequence) else ""))
    checked = []
    for i, (name, p, ndim) in enumerate(zip(MLP_PARAM_NAMES, params, (2, 1, 2, 1), strict=True)):
        label = f"params[{i}] ({name})"
        if not isinstance(p, np.ndarray):
            raise TypeError(f"{label} must be a numpy.ndarray (it is updated in place), "
                            f"got {type(p).__name__}")
        as_float_array(label, p, ndim)
        if not p.flags.writeable:
            raise ValueError(f"{label} is read-only")
        checked.append(p)
    w1, b1, w2, b2 = checked
    common_dtype(x=x, y=y, w1=w1, b1=b1, w2=w2, b2=b2)
    check_dim("x", x.shape[1], "columns", "w1", w1.shape[0], "rows", x, w1)
    check_dim("b1", b1.shape[0], "entries", "w1", w1.shape[1], "columns", b1, w1)
    check_dim("w2", w2.shape[0], "rows", "w1", w1.shape[1], "columns", w2, w1)
    check_dim("b2", b2.shape[0], "entries", "w2", w2.shape[1], "columns", b2, w2)
    check_dim("y", y.shape[0], "rows", "x", x.shape[0], "rows", y, x)
    check_dim("y", y.shape[1], "columns", "w2", w2.shape[1], "columns", y, w2)
    for i in range(4):
        for j in range(i + 1, 4):
            if checked[i].size and checked[j].size and np.may_share_memory(checked[i],
                                                                           checked[j]):
                raise ValueError(f"params[{i}] ({MLP_PARAM_NAMES[i]}) and params[{j}] "
                                 f"({MLP_PARAM_NAMES[j]}) share memory")
    return checked

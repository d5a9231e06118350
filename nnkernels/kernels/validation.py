"""The one validation layer in front of every backend.

Each check raises an exception that names the argument and what was wrong with it. Backends
never validate: they receive arrays that these functions have already checked and normalised
(float32 or float64, one dtype per call, C-contiguous, fitting shapes).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
FLOAT32, FLOAT64 = FLOAT_DTYPES
REDUCTIONS = ("mean", "sum")


# Integer arguments (stride, padding, pool, n_iter, ...) are at most this: far beyond any
# useful value, and small enough that no index arithmetic on them overflows int64 in any backend.
MAX_INT_ARG = 2**31 - 1


def _reject_masked(name: str, a: object) -> None:
    """Masked arrays are refused: every kernel would silently drop the mask."""
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array; kernels ignore masks, so pass "
                        f"{name}.filled(value) or the unmasked data explicitly")


def as_array(name: str, a: object) -> np.ndarray:
    """``a`` as a base-class ndarray (subclasses such as np.matrix are viewed as ndarray);
    masked arrays and values numpy cannot turn into an array raise, naming ``name``."""
    _reject_masked(name, a)
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as exc:  # e.g. ragged nested lists
        raise ValueError(f"{name} cannot be converted to an array: {exc}") from None


def as_float_array(name: str, a: object, ndim: int | None = None) -> np.ndarray:
    """Return ``a`` as an ndarray of float32/float64 with ``ndim`` dimensions, else raise."""
    arr = as_array(name, a)
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


def check_positive_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a positive finite real number, else raise
    ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    result = float(value)
    if not (math.isfinite(result) and result > 0.0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return result


def check_linear_backward(x: object, w: object, dy: object
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (N, D), w (D, H), dy (N, H) of linear_backward: float arrays of one dtype whose shapes
    fit (also applied to stand-ins of chunked arrays, so that every caller gets one message)."""
    x = as_float_array("x", x, 2)
    w = as_float_array("w", w, 2)
    common_dtype(x=x, w=w)
    check_dim("x", x.shape[1], "columns", "w", w.shape[0], "rows", x, w)
    dy = as_float_array("dy", dy, 2)
    common_dtype(x=x, dy=dy)
    check_dim("dy", dy.shape[0], "rows", "x", x.shape[0], "rows", dy, x)
    check_dim("dy", dy.shape[1], "columns", "w", w.shape[1], "columns", dy, w)
    return x, w, dy


def check_lr(lr: object) -> float:
    """Return ``lr`` as a float if it is a positive finite real number, else raise ValueError."""
    return check_positive_float("lr", lr)


def check_reduction(reduction: object) -> str:
    """Return ``reduction`` if it is one of REDUCTIONS, else raise ValueError."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction  # type: ignore[return-value]


def base_view(a: np.ndarray) -> np.ndarray:
    """``a`` itself, or for an ndarray subclass (np.matrix, np.memmap, ...) a base-class view
    of the same memory: writes through it land in the caller's object, and jitted code never
    sees the subclass (np.matrix keeps 2 dimensions when flattened)."""
    return a if type(a) is np.ndarray else a.view(np.ndarray)


def check_out(name: str, out: object, shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """Check a caller-supplied output buffer: an ndarray of exactly ``shape`` and ``dtype``;
    returns it as a base-class ndarray sharing its memory."""
    _reject_masked(name, out)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape} but the result has shape {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype} but the result has dtype {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return base_view(out)


def check_param(param: object, name: str = "param", ndim: int | None = None) -> np.ndarray:
    """An array updated in place (a parameter, a velocity) must already be a writeable float
    ndarray (with ``ndim`` dimensions when given); returned as a base-class view."""
    _reject_masked(name, param)
    if not isinstance(param, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray (it is updated in place), got {type(param).__name__}"
        )
    as_float_array(name, param, ndim)
    if not param.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return base_view(param)


def check_positive_int(name: str, value: object, minimum: int = 1,
                       maximum: int = MAX_INT_ARG) -> int:
    """Return ``value`` as an int if it is an integer in [minimum, maximum], else raise."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not minimum <= value <= maximum):
        raise ValueError(f"{name} must be an integer >= {minimum} and <= {maximum}, "
                         f"got {value!r}")
    return int(value)


def contiguous(a: np.ndarray | None) -> np.ndarray | None:
    """The array a kernel reads: C-contiguous and writeable (a view when it already is, else a
    copy), so that each dtype compiles one numba specialisation only. numba compiles read-only
    arrays separately; copying them costs one pass over the data but never a compilation after
    ``warmup()``. Kernels never write their inputs (tested)."""
    if a is None:
        return None
    if a.flags.writeable:
        return np.ascontiguousarray(a)
    return np.array(a, order="C")


# -- fast path: arguments that need no conversion -----------------------------------------------
#
# A kernel called on small arrays must cost little more than its work (issue 9: one mlp_train
# step at N = 700, H = 10 cost 30-42 us through the interface for 9-11 us of work). The general
# checks above convert and copy as needed and build messages; the predicates below only say
# whether the arguments are already what a kernel receives after them, in a few attribute reads
# each. A call whose arguments pass runs the kernel on them directly; every other call (and so
# every error, with its message) takes the general path, unchanged. They never raise.


def _flag_bits() -> tuple[int, int]:
    """numpy's ``flags.num`` bits of (C-contiguous + aligned + writeable, the same + owns its
    data), read off arrays made to have exactly these flags (numpy gives the bits no Python
    names); one integer test then replaces three or four flag attributes (40 ns each)."""
    owned = np.empty((2, 2))
    view = owned[:]
    if not (view.flags.carray and not view.flags.owndata and not view.flags.f_contiguous
            and owned.flags.owndata):
        raise RuntimeError("numpy's array flags are not what the validation fast path expects")
    return view.flags.num, owned.flags.num


CARRAY_BITS, OWNED_CARRAY_BITS = _flag_bits()
OWNDATA_BIT = OWNED_CARRAY_BITS & ~CARRAY_BITS


def ready(a: Any, ndim: int) -> bool:
    """True when ``a`` is what :func:`contiguous` returns unchanged and numba compiles once for:
    a base-class float32/float64 ndarray with ``ndim`` dimensions, C-contiguous, aligned and
    writeable (``flags.carray``). Read-only arrays are not ready: the general path copies them."""
    return (type(a) is np.ndarray and a.ndim == ndim and a.dtype in FLOAT_DTYPES
            and a.flags.num & CARRAY_BITS == CARRAY_BITS)


def ready_any(a: Any) -> bool:
    """:func:`ready` for kernels of any shape (at least 1-D: ``contiguous`` makes 0-D 1-D)."""
    return (type(a) is np.ndarray and a.ndim >= 1 and a.dtype in FLOAT_DTYPES
            and a.flags.num & CARRAY_BITS == CARRAY_BITS)


def disjoint(arrays: Sequence[np.ndarray]) -> bool:
    """True when no two of these ndarrays can share memory, known without np.may_share_memory:
    distinct objects that each own their data (numpy allocated each one separately)."""
    if len({id(a) for a in arrays}) != len(arrays):
        return False
    return all(a.flags.owndata for a in arrays)


def ready_out(out: Any, shape: tuple[int, ...], dtype: np.dtype,
              inputs: Sequence[np.ndarray | None]) -> bool:
    """True when the kernel may write ``out`` directly: None (a new array), or a ready ndarray of
    exactly ``shape`` and ``dtype`` sharing no memory with ``inputs``."""
    if out is None:
        return True
    if type(out) is not np.ndarray or out.dtype != dtype or out.shape != shape:
        return False
    bits = out.flags.num
    if bits & CARRAY_BITS != CARRAY_BITS:
        return False
    owned = bits & OWNDATA_BIT
    for a in inputs:
        if a is None:
            continue
        if a is out:
            return False
        # Memory that out owns is shared only by views of it: an input owning its own memory
        # cannot overlap out (no may_share_memory call, 0.2 us each).
        if not (owned and a.flags.num & OWNDATA_BIT) and np.may_share_memory(out, a):
            return False
    return True


def ready_lr(lr: object) -> bool:
    """True when ``lr`` is a Python float that :func:`check_lr` returns unchanged."""
    return type(lr) is float and 0.0 < lr < math.inf


def ready_dense(x: Any, w: Any, b: Any) -> bool:
    """True when x (N, D), w (D, H) and b (H,) or None of a dense layer are ready, of one
    dtype, and fit."""
    if type(x) is not np.ndarray or type(w) is not np.ndarray:
        return False
    dt = x.dtype
    if (dt not in FLOAT_DTYPES or w.dtype is not dt or x.ndim != 2 or w.ndim != 2
            or x.shape[1] != w.shape[0] or x.flags.num & CARRAY_BITS != CARRAY_BITS
            or w.flags.num & CARRAY_BITS != CARRAY_BITS):
        return False
    return b is None or (type(b) is np.ndarray and b.dtype is dt and b.shape == (w.shape[1],)
                         and b.flags.num & CARRAY_BITS == CARRAY_BITS)


def ready_pair(a: Any, b: Any) -> bool:
    """True when two inputs of an elementwise kernel are ready, of one dtype and one shape."""
    return ready_any(a) and ready_any(b) and a.dtype == b.dtype and a.shape == b.shape


def ready_linear_backward(x: Any, w: Any, dy: Any) -> bool:
    """True when x (N, D), w (D, H) and dy (N, H) of linear_backward are ready, of one dtype,
    and fit."""
    return (ready(x, 2) and ready(w, 2) and ready(dy, 2) and x.dtype == w.dtype == dy.dtype
            and x.shape[1] == w.shape[0] and dy.shape == (x.shape[0], w.shape[1]))


def ready_mlp_train(x: Any, y: Any, params: Any, lr: object, n_iter: object) -> bool:
    """True when mlp_train's arguments pass :func:`check_mlp_params` and friends unchanged and
    its parameters can be updated in place: x (N, D), y (N, O), [w1 (D, H), b1 (H,), w2 (H, O),
    b2 (O,)] ready, of one dtype, fitting, and the six arrays disjoint (so no scratch copy).

    Written out test by test: this is the whole per-call cost of a fused step's checks, about
    1.1 us here (the same tests through ready() and disjoint() in a loop took 2-3 us; one flags
    test per array and a set of ids, 1.35 us)."""
    if type(params) is not list and type(params) is not tuple or len(params) != 4:
        return False
    w1, b1, w2, b2 = params
    nd = np.ndarray
    if not (type(x) is nd and type(y) is nd and type(w1) is nd and type(b1) is nd
            and type(w2) is nd and type(b2) is nd):
        return False
    dt = x.dtype
    # numpy's float32/float64 dtypes (native byte order) are singletons: `is` is enough.
    if not ((dt is FLOAT64 or dt is FLOAT32) and y.dtype is dt and w1.dtype is dt
            and b1.dtype is dt and w2.dtype is dt and b2.dtype is dt):
        return False
    bits = OWNED_CARRAY_BITS
    if (x.flags.num & y.flags.num & w1.flags.num & b1.flags.num & w2.flags.num & b2.flags.num
            & bits) != bits:
        return False
    x_shape, w2_shape = x.shape, w2.shape
    if len(x_shape) != 2 or len(w2_shape) != 2:
        return False
    (n, d), (h, o) = x_shape, w2_shape
    # Each owns its memory, so distinct objects never overlap; arrays of different ndim are
    # distinct objects anyway, so only pairs of one ndim need a test (x may be y: both read).
    return (w1.shape == (d, h) and b1.shape == (h,) and b2.shape == (o,) and y.shape == (n, o)
            and w1 is not w2 and w1 is not x and w1 is not y and w2 is not x
            and w2 is not y and b1 is not b2
            and type(lr) is float and 0.0 < lr < math.inf and type(n_iter) is int
            and 0 <= n_iter <= MAX_INT_ARG)


# -- convolution, pooling, classification -------------------------------------------------------

def check_pair(name: str, value: object, minimum: int) -> tuple[int, int]:
    """Return an int or a pair of ints (rows, cols), each in [minimum, MAX_INT_ARG], as a pair."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(isinstance(i, bool) or not isinstance(i, numbers.Integral)
                              for i in items):
        raise ValueError(f"{name} must be an int or a pair of ints (rows, cols), got {value!r}")
    if not all(minimum <= i <= MAX_INT_ARG for i in items):
        raise ValueError(f"{name} must be >= {minimum} and <= {MAX_INT_ARG} in each direction, "
                         f"got {value!r}")
    return int(items[0]), int(items[1])


def conv_output_size(x_name: str, x_shape: tuple[int, ...], k_name: str, kernel: tuple[int, int],
                     stride: tuple[int, int], padding: tuple[int, int]) -> tuple[int, int]:
    """(OH, OW) of a window (KH, KW) slid over x (.., H, W) padded by (ph, pw) with stride
    (sh, sw); raise ValueError when the window does not fit even once (no output pixel)."""
    h, w = x_shape[2] + 2 * padding[0], x_shape[3] + 2 * padding[1]
    if kernel[0] > h or kernel[1] > w:
        raise ValueError(
            f"{k_name} of size {kernel} is larger than the padded input ({h}, {w}) of "
            f"{x_name} (shape {tuple(x_shape)}, padding {padding}): there is no output pixel"
        )
    return (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1


def check_conv_weights(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> None:
    """x (N, C, H, W), w (F, C, KH, KW) and b (F,) must agree; every kernel dim >= 1."""
    if min(w.shape) < 1:
        raise ValueError(f"w must have F, C, KH, KW >= 1, got shape {w.shape}")
    check_dim("x", x.shape[1], "channels", "w", w.shape[1], "channels", x, w)
    if b is not None:
        check_dim("b", b.shape[0], "entries", "w", w.shape[0], "filters", b, w)


def check_logits(logits: object) -> np.ndarray:
    """Logits (N, K) of a classifier: a 2-D float array with at least one class column."""
    arr = as_float_array("logits", logits, 2)
    if arr.shape[1] < 1:
        raise ValueError(f"logits must have at least one column, got shape {arr.shape}")
    return arr


def check_labels(labels: object, n: int, k: int) -> np.ndarray:
    """Class labels: a 1-D integer array of length N with values in [0, K); returned as int64."""
    arr = as_array("labels", labels)
    if arr.size == 0 and arr.dtype.kind in "iuf":
        arr = arr.astype(np.int64)  # an empty list has numpy's default dtype, float64
    if arr.dtype.kind not in "iu":
        raise TypeError(f"labels must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got {arr.ndim}-D array of shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"labels has {arr.shape[0]} entries but logits has {n} rows")
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        raise ValueError(f"labels must lie in [0, {k}) (logits has {k} columns), "
                         f"got values in [{arr.min()}, {arr.max()}]")
    return contiguous(arr.astype(np.int64, copy=False))


def check_fraction(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a real number in [0, 1), else raise ValueError
    naming ``name`` (momentum, Adam's beta1 and beta2)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    result = float(value)
    if not 0.0 <= result < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return result


def check_momentum(momentum: object) -> float:
    """Return ``momentum`` as a float if it is a real number in [0, 1), else raise ValueError."""
    return check_fraction("momentum", momentum)


def check_param_group(name: str, arrays: object) -> list[np.ndarray]:
    """One array or a sequence of arrays updated together (an optimizer's params or state):
    returned as a list (each array checked by the caller)."""
    if isinstance(arrays, np.ndarray):
        return [arrays]
    if isinstance(arrays, (str, bytes)) or not isinstance(arrays, Sequence):
        raise TypeError(f"{name} must be an ndarray or a sequence of ndarrays, "
                        f"got {type(arrays).__name__}")
    return list(arrays)


def no_shared_memory(named: list[tuple[str, np.ndarray]]) -> None:
    """Raise ValueError when two arrays updated in place share memory (the result would
    depend on the order of the writes)."""
    for i, (name_a, a) in enumerate(named):
        for name_b, b in named[i + 1:]:
            if a.size and b.size and np.may_share_memory(a, b):
                raise ValueError(f"{name_a} and {name_b} must not share memory")


def check_shape4(name: str, shape: object) -> tuple[int, int, int, int]:
    """A shape (N, C, H, W) of four non-negative ints."""
    try:
        dims = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        dims = ()
    if len(dims) != 4 or any(isinstance(d, bool) or not isinstance(d, numbers.Integral)
                             or not 0 <= d <= MAX_INT_ARG for d in dims):
        raise ValueError(f"{name} must be a shape (N, C, H, W) of 4 non-negative ints "
                         f"<= {MAX_INT_ARG}, got {shape!r}")
    return tuple(int(d) for d in dims)  # type: ignore[return-value]


def check_argmax(argmax: object, dy: np.ndarray, plane_size: int) -> np.ndarray:
    """Pooling indices from maxpool2d_forward: int64, shaped like dy, in [0, H*W)."""
    arr = as_array("argmax", argmax)
    if arr.dtype != np.int64:
        raise TypeError(f"argmax must be the int64 array returned by maxpool2d_forward, "
                        f"got dtype {arr.dtype}")
    same_shape("argmax", arr, "dy", dy)
    if arr.size and (arr.min() < 0 or arr.max() >= plane_size):
        raise ValueError(f"argmax holds indices outside the (H, W) plane of x_shape "
                         f"(range [{arr.min()}, {arr.max()}], plane size {plane_size})")
    return contiguous(arr)


MLP_PARAM_NAMES = ("w1", "b1", "w2", "b2")


def check_mlp_params(params: object, x: np.ndarray, y: np.ndarray,
                     in_place: bool = True) -> list[np.ndarray]:
    """Check ``params`` = [w1 (D, H), b1 (H,), w2 (H, O), b2 (O,)] against x (N, D), y (N, O).

    Each must be a writeable float ndarray (they are updated in place), all of x's dtype,
    sharing no memory with one another. ``in_place=False`` (the parameters are only read, as in
    ``mlp_grad``): any float array-like, read-only included.
    """
    if isinstance(params, np.ndarray) or not isinstance(params, Sequence) or len(params) != 4:
        raise ValueError("params must be a sequence of 4 arrays [w1 (D, H), b1 (H,), w2 (H, O), "
                         f"b2 (O,)], got {type(params).__name__}"
                         + (f" of length {len(params)}" if isinstance(params, Sequence) else ""))
    checked = []
    for i, (name, p, ndim) in enumerate(zip(MLP_PARAM_NAMES, params, (2, 1, 2, 1), strict=True)):
        label = f"params[{i}] ({name})"
        checked.append(check_param(p, label, ndim) if in_place
                       else as_float_array(label, p, ndim))
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
            if in_place and checked[i].size and checked[j].size and np.may_share_memory(
                    checked[i], checked[j]):
                raise ValueError(f"params[{i}] ({MLP_PARAM_NAMES[i]}) and params[{j}] "
                                 f"({MLP_PARAM_NAMES[j]}) share memory")
    return checked


def check_mlp_grads(grads: object, params: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Check ``grads_out`` = [gw1, gb1, gw2, gb2]: writeable ndarrays of the shapes and dtype of
    ``params`` (checked), sharing no memory with one another (each is accumulated into)."""
    names = [f"grads_out[{i}] (g{n})" for i, n in enumerate(MLP_PARAM_NAMES)]
    if isinstance(grads, np.ndarray) or not isinstance(grads, Sequence) or len(grads) != 4:
        raise ValueError("grads_out must be a sequence of 4 arrays [gw1, gb1, gw2, gb2] shaped "
                         f"like params, got {type(grads).__name__}"
                         + (f" of length {len(grads)}" if isinstance(grads, Sequence) else ""))
    checked = [check_out(n, g, p.shape, p.dtype) for n, g, p in zip(names, grads, params,
                                                                    strict=True)]
    for i in range(4):
        for j in range(i + 1, 4):
            if checked[i].size and checked[j].size and np.may_share_memory(checked[i],
                                                                           checked[j]):
                raise ValueError(f"{names[i]} and {names[j]} share memory")
    return checked


def _layer_name(i: int) -> str:
    """``w3`` / ``b3``: the name of params[i] in a flat [w1, b1, w2, b2, ...] list."""
    return f"{'wb'[i % 2]}{i // 2 + 1}"


def check_mlp_layers(params: object, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Check ``params`` = [w1 (D, H1), b1 (H1,), ..., wL (H_{L-1}, O), bL (O,)] (L >= 1) against
    x (N, D), y (N, O): writeable float ndarrays of x's dtype that chain and share no memory."""
    if (isinstance(params, np.ndarray) or not isinstance(params, Sequence) or len(params) < 2
            or len(params) % 2):
        raise ValueError("params must be a sequence of 2L arrays [w1 (D, H1), b1 (H1,), ..., "
                         f"wL (H, O), bL (O,)], got {type(params).__name__}"
                         + (f" of length {len(params)}" if isinstance(params, Sequence) else ""))
    checked = [check_param(p, f"params[{i}] ({_layer_name(i)})", 2 - i % 2)
               for i, p in enumerate(params)]
    common_dtype(x=x, y=y, **{_layer_name(i): p for i, p in enumerate(checked)})
    check_dim("x", x.shape[1], "columns", "w1", checked[0].shape[0], "rows", x, checked[0])
    for i in range(0, len(checked), 2):
        w, b, wn, bn = checked[i], checked[i + 1], _layer_name(i), _layer_name(i + 1)
        check_dim(bn, b.shape[0], "entries", wn, w.shape[1], "columns", b, w)
        if i + 2 < len(checked):
            nxt = checked[i + 2]
            check_dim(_layer_name(i + 2), nxt.shape[0], "rows", wn, w.shape[1], "columns",
                      nxt, w)
    check_dim("y", y.shape[0], "rows", "x", x.shape[0], "rows", y, x)
    check_dim("y", y.shape[1], "columns", _layer_name(len(checked) - 2), checked[-2].shape[1],
              "columns", y, checked[-2])
    _no_shared_memory("params", checked)
    return checked


def _no_shared_memory(what: str, arrays: list[np.ndarray]) -> None:
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            if arrays[i].size and arrays[j].size and np.may_share_memory(arrays[i], arrays[j]):
                raise ValueError(f"{what}[{i}] and {what}[{j}] share memory")


def check_velocities(velocities: object, params: list[np.ndarray]) -> list[np.ndarray]:
    """Momentum state: one writeable array per parameter, of its shape and dtype, sharing no
    memory with the parameters or one another."""
    if (isinstance(velocities, np.ndarray) or not isinstance(velocities, Sequence)
            or len(velocities) != len(params)):
        raise ValueError(f"velocities must be a sequence of {len(params)} arrays, one per "
                         f"parameter, got {type(velocities).__name__}")
    checked = []
    for i, (vel, p) in enumerate(zip(velocities, params, strict=True)):
        v = check_param(vel, f"velocities[{i}]")
        common_dtype(**{f"params[{i}]": p, f"velocities[{i}]": v})
        same_shape(f"params[{i}]", p, f"velocities[{i}]", v)
        checked.append(v)
    _no_shared_memory("params + velocities", params + checked)
    return checked


def check_order(order: object, n: int) -> np.ndarray:
    """Record order of each epoch: an integer array (M,) (one epoch) or (E, M), values in
    [0, N); returned as C-contiguous int64 (E, M)."""
    arr = as_array("order", order)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)  # an empty list has numpy's default dtype, float64
    if arr.dtype.kind not in "iu":
        raise TypeError(f"order must be an integer array, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"order must be 1-D (one epoch) or 2-D (epochs, records), got "
                         f"{arr.ndim}-D array of shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"order must hold record indices in [0, {n}) (x has {n} rows), "
                         f"got values in [{arr.min()}, {arr.max()}]")
    arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
    return np.array(arr, dtype=np.int64, order="C")

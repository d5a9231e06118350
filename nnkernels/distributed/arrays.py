"""Chunked arrays: checks before any work, the fixed-order tree sum, ``linear_backward``.

Checks run on *stand-ins*: zero-strided numpy arrays with the shape and dtype of a dask array
(no memory, no computation), passed through ``nnkernels.kernels.validation``, so that a bad
argument gets the in-memory kernels' own message. Then the checks that only chunked arrays
need: known chunk sizes, the same row blocks in arrays that are read together, one block
along the columns (merged when there are several: a cheap graph rewrite).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np

from ..kernels import get_backend
from ..kernels import validation as v

_STANDIN_CACHE: dict[tuple[tuple[int, ...], str], np.ndarray] = {}


def standin(a: Any) -> Any:
    """A zero-strided numpy array with a dask array's shape and dtype (others pass through)."""
    if not isinstance(a, da.Array):
        return a
    check_known_chunks("array", a)
    return np.broadcast_to(np.zeros((), a.dtype), a.shape)


def check_known_chunks(name: str, a: da.Array) -> None:
    """Unknown (NaN) chunk sizes (e.g. after boolean indexing, from dataframes) raise."""
    if any(math.isnan(c) for dim in a.chunks for c in dim):
        raise ValueError(f"{name} has unknown chunk sizes (NaN in {name}.chunks); call "
                         f"{name}.compute_chunk_sizes() or pass lengths=... when building it, "
                         "so that blocks can be matched before any work")


def as_dask(name: str, a: Any, like: da.Array | None = None) -> da.Array:
    """``a`` as a dask array; a numpy-like one is cut into the row blocks of ``like``."""
    if isinstance(a, da.Array):
        check_known_chunks(name, a)
        return a
    arr = v.as_array(name, a)
    if like is not None and arr.ndim >= 1 and arr.shape[0] == like.shape[0]:
        return da.from_array(arr, chunks=(like.chunks[0],) + tuple((s,) for s in arr.shape[1:]))
    return da.from_array(arr, chunks=arr.shape or ())


def check_row_blocks(name_a: str, a: da.Array, name_b: str, b: da.Array) -> None:
    """Arrays read block by block together must be cut at the same rows."""
    if a.chunks[0] != b.chunks[0]:
        raise ValueError(
            f"{name_a} and {name_b} are chunked differently along the rows: {name_a} has row "
            f"blocks {_short(a.chunks[0])} and {name_b} has {_short(b.chunks[0])}; rechunk "
            f"one like the other, e.g. {name_b}.rechunk({{0: {name_a}.chunks[0]}})")


def one_column_block(a: da.Array) -> da.Array:
    """``a`` with a single block along every axis but the first (a no-op when it has one)."""
    if a.ndim > 1 and any(len(c) > 1 for c in a.chunks[1:]):
        return a.rechunk({i: -1 for i in range(1, a.ndim)})
    return a


def _short(chunks: Sequence[int]) -> str:
    shown = ", ".join(str(c) for c in chunks[:6])
    return f"({shown}{', ...' if len(chunks) > 6 else ''}; {len(chunks)} blocks)"


def tree_order(n: int) -> list[list[tuple[int, int]]]:
    """The pairwise tree over ``n`` items: per level, the (left, right) positions added."""
    levels, width = [], n
    while width > 1:
        levels.append([(i, i + 1) for i in range(0, width - 1, 2)])
        width = (width + 1) // 2
    return levels


def tree_sum(items: Sequence[Any], add: Callable[[Any, Any], Any]) -> Any:
    """Sum ``items`` along the fixed pairwise tree: level by level, neighbours in order
    ((0+1), (2+3), ...; an odd last item moves up unchanged). ``add`` may build graph nodes
    (delayed, futures) or add values: the order is the same either way."""
    if not items:
        raise ValueError("tree_sum needs at least one item")
    level = list(items)
    while len(level) > 1:
        nxt = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def add_arrays(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Elementwise sum of two tuples of arrays (a tree node)."""
    return tuple(x + y for x, y in zip(a, b, strict=True))


def _block_grads(xb: np.ndarray, w: np.ndarray, dyb: np.ndarray, need_dx: bool, backend: str
                 ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """One row block's (dx, dw, db) from the in-memory kernel: one pass over the block."""
    return get_backend(backend).linear_backward(xb, w, dyb, need_dx=need_dx)


def linear_backward(x: Any, w: Any, dy: Any, *, need_dx: bool = True,
                    backend: str | None = None) -> tuple[da.Array | None, da.Array, da.Array]:
    """Gradients of y = x @ w + b for chunked x (N, D) and dy (N, H): (dx, dw, db), lazily.

    ``dx`` (N, D) is a dask array with x's row blocks; ``dw`` (D, H) and ``db`` (H,) are
    0-block dask arrays: each row block's partial comes from the in-memory kernel of
    ``backend``, and the partials are added along the fixed pairwise tree in block order, so
    their bits depend on the row blocks only (not on workers or scheduling). ``w`` is an
    in-memory array. Bad shapes, dtypes, unknown chunk sizes and differently chunked x and dy
    raise before any work, with the in-memory kernel's message where there is one.
    """
    x = as_dask("x", x)
    dy = as_dask("dy", dy, like=x)
    _, w, _ = v.check_linear_backward(standin(x), w, standin(dy))
    w = v.contiguous(w)
    check_row_blocks("x", x, "dy", dy)
    x, dy = one_column_block(x), one_column_block(dy)
    name = get_backend(backend).name
    (d, h), dt = w.shape, w.dtype
    if x.numblocks[0] == 0 or x.shape[0] == 0:
        zeros = da.zeros((x.shape[0], d), dt, chunks=(x.chunks[0] or (0,), (d,)))
        return (zeros if need_dx else None, da.zeros((d, h), dt, chunks=(d, h)),
                da.zeros((h,), dt, chunks=(h,)))
    xs, dys = x.to_delayed().ravel(), dy.to_delayed().ravel()
    block = dask.delayed(_block_grads, pure=True, nout=3)
    parts = [block(xb, w, dyb, need_dx, name) for xb, dyb in zip(xs, dys, strict=True)]
    node = dask.delayed(add_arrays, pure=True, nout=2)
    total = tree_sum([(p[1], p[2]) for p in parts], lambda a, b: node(a, b))
    dw = da.from_delayed(total[0], (d, h), dt)
    db = da.from_delayed(total[1], (h,), dt)
    dx = None
    if need_dx:
        dx = da.concatenate([da.from_delayed(p[0], (rows, d), dt)
                             for p, rows in zip(parts, x.chunks[0], strict=True)], axis=0)
    return dx, dw, db

"""Chunked data sets generated where they are used: the seed's cubic, block by block."""

from __future__ import annotations

import dask.array as da
import numpy as np

LOW, HIGH, NOISE = 0.0, 5.0, 10.0  # the seed's data: x on [0, 5], y = x**3 + 4 + N(0, 10)


def _x_block(n: int, block: int, block_id: tuple[int, ...]) -> np.ndarray:
    """Block ``block_id[0]`` of x: N points evenly spaced on [LOW, HIGH], as make_cubic."""
    lo = block_id[0] * block
    idx = np.arange(lo, min(lo + block, n), dtype=np.float64)
    return (LOW + (HIGH - LOW) * idx / max(n - 1, 1)).reshape(-1, 1)


def _y_block(n: int, block: int, seed: int, noise: float, block_id: tuple[int, ...]
             ) -> np.ndarray:
    """Block ``block_id[0]`` of y = x**3 + 4 + noise; the noise seeded per block, so that a
    recomputed block (a lost worker, a streamed step) is the same."""
    x = _x_block(n, block, block_id)
    rng = np.random.default_rng([seed, block_id[0]])
    return x**3 + 4.0 + rng.normal(0.0, noise, x.shape)


def make_cubic_blocks(n: int, block: int, seed: int = 0, noise: float = NOISE
                      ) -> tuple[da.Array, da.Array]:
    """(X, Y) dask arrays (N, 1) float64 of the seed's noisy cubic (``nnkernels.data
    .make_cubic``'s x grid, noise drawn per block), each block generated where it is used:
    nothing is materialised on the client."""
    chunks = (tuple(min(block, n - i) for i in range(0, n, block)), (1,))
    meta = np.empty((0, 0))
    X = da.map_blocks(_x_block, n, block, chunks=chunks, dtype=np.float64, meta=meta,
                      name=f"cubic-x-{n}-{block}")
    Y = da.map_blocks(_y_block, n, block, seed, noise, chunks=chunks, dtype=np.float64,
                      meta=meta, name=f"cubic-y-{n}-{block}-{seed}-{noise}")
    return X, Y

"""How work is cut into blocks and record chunks: functions of the shape only, never of the
thread count, so that every reduction adds its partials in the same order on any machine."""

from __future__ import annotations

from numba import njit

from .config import JIT, MAX_CHUNKS, MIN_CHUNK_WORK, PARALLEL_MIN_WORK


def n_chunks(n: int, work_per_item: int = 1, max_chunks: int = MAX_CHUNKS) -> int:
    """Number of chunks for ``n`` items of ``work_per_item`` each: 1 to ``max_chunks``, with at
    least MIN_CHUNK_WORK of work per chunk."""
    by_work = n * max(work_per_item, 1) // MIN_CHUNK_WORK
    return max(1, min(max_chunks, n, by_work))


def use_parallel(work: int) -> bool:
    """True when ``work`` is large enough to pay for starting a parallel region."""
    return work >= PARALLEL_MIN_WORK


@njit(inline="always", **JIT)
def bounds(c, n, nchunks):
    """[lo, hi) of chunk ``c`` when ``n`` items are cut into ``nchunks`` near-equal chunks."""
    return c * n // nchunks, (c + 1) * n // nchunks
